"""Brokers: paper fills from the CLOB's order book, live orders through py-clob-client-v2.

Both take the same `OrderRequest` (side, token, dollars to spend or shares to sell, a worst
price) and answer a `Fill`, an `OrderFailed` with the reason, or (live only) `OrderUnknown`
when the CLOB may have the order but did not answer: the executor then leaves the signal
PENDING and reconciles it with `lookup` on a later run instead of posting twice.

- PaperBroker walks the book from GET {CLOB_API_URL}/book (the public endpoint's shape), level
  by level up to the worst price, with ORDER_TYPE semantics: FOK fills all or nothing, FAK
  fills what the book has within the worst price. Fee = shares * PAPER_FEE_RATE * p * (1 - p)
  per level (Polymarket's taker-fee shape); slippage = average price against the best level.
- LiveBroker (ENABLE_PAPER_TRADING=false, ENABLE_LIVE_TRADING=true, a key; refused otherwise)
  signs a V2 market order (FOK or FAK) whose price is the worst level the walk needs, never
  past the cap, with the market's tick size and neg-risk flag (the neg-risk exchange signs
  for neg-risk markets), and posts it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Protocol

import httpx

from orderflow_dagster.trading.config import TradingSettings

log = logging.getLogger(__name__)

SHARE_QUANTUM = Decimal("0.000001")  # outcome tokens have 6 decimals
USD_QUANTUM = Decimal("0.000001")
VALID_TICKS = ("0.1", "0.01", "0.001", "0.0001")


class BookUnavailable(Exception):
    """No usable order book for the token (the reason is the message)."""


class LiveTradingRefused(RuntimeError):
    """Live trading was asked for without its switches and key."""


@dataclass(frozen=True)
class Level:
    price: Decimal
    size: Decimal  # shares


@dataclass(frozen=True)
class Book:
    token_id: int
    bids: tuple[Level, ...]  # best (highest) first
    asks: tuple[Level, ...]  # best (lowest) first
    tick_size: Decimal
    neg_risk: bool
    min_order_size: Decimal = Decimal(0)

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None


def parse_book(payload: dict, token_id: int) -> Book:
    """The CLOB /book response: price/size strings; bids ascending, asks descending (best last)."""
    try:
        bids = sorted((Level(Decimal(b["price"]), Decimal(b["size"])) for b in payload.get("bids") or []),
                      key=lambda lv: lv.price, reverse=True)
        asks = sorted((Level(Decimal(a["price"]), Decimal(a["size"])) for a in payload.get("asks") or []),
                      key=lambda lv: lv.price)
        tick = Decimal(str(payload.get("tick_size") or "0.01"))
        return Book(token_id=token_id, bids=tuple(lv for lv in bids if lv.size > 0),
                    asks=tuple(lv for lv in asks if lv.size > 0), tick_size=tick,
                    neg_risk=bool(payload.get("neg_risk", False)),
                    min_order_size=Decimal(str(payload.get("min_order_size") or 0)))
    except (KeyError, TypeError, ArithmeticError) as e:
        raise BookUnavailable(f"malformed order book: {e!r}") from None


def floor_to_tick(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).to_integral_value(rounding=ROUND_FLOOR) * tick


def ceil_to_tick(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).to_integral_value(rounding=ROUND_CEILING) * tick


def buy_price_cap(reference_price: float, max_slippage: float, tick: Decimal) -> Decimal:
    """Worst price we pay: the trigger's price plus the slippage allowance, on the tick grid, below 1 - tick."""
    cap = floor_to_tick(Decimal(str(reference_price)) + Decimal(str(max_slippage)), tick)
    return min(cap, 1 - tick)


def sell_price_floor(reference_price: float, max_slippage: float, tick: Decimal) -> Decimal:
    floor = ceil_to_tick(Decimal(str(reference_price)) - Decimal(str(max_slippage)), tick)
    return max(floor, tick)


@dataclass(frozen=True)
class Walk:
    shares: Decimal
    notional: Decimal  # USDC paid (buy) or received (sell), before fees
    last_price: Decimal | None  # the worst level touched
    fee: Decimal
    complete: bool  # the whole budget / all shares found a level within the worst price


def _level_fee(shares: Decimal, price: Decimal, fee_rate: Decimal) -> Decimal:
    return shares * fee_rate * price * (1 - price)


def walk_buy(asks: tuple[Level, ...], budget_usd: Decimal, worst: Decimal, fee_rate: Decimal = Decimal(0)) -> Walk:
    """Spend up to `budget_usd` on the asks, best first, never above `worst`."""
    left, shares, notional, fee, last = budget_usd, Decimal(0), Decimal(0), Decimal(0), None
    for lv in asks:
        if lv.price > worst or left <= 0:
            break
        take = min(lv.size, (left / lv.price).quantize(SHARE_QUANTUM, rounding=ROUND_FLOOR))
        if take <= 0:
            break
        cost = take * lv.price
        shares, notional, left, last = shares + take, notional + cost, left - cost, lv.price
        fee += _level_fee(take, lv.price, fee_rate)
    # Complete when what is left cannot buy one more micro-share at the last level.
    complete = left <= 0 or (last is not None and left < last * SHARE_QUANTUM)
    return Walk(shares, notional.quantize(USD_QUANTUM), last, fee.quantize(USD_QUANTUM), complete=complete)


def walk_sell(bids: tuple[Level, ...], shares_to_sell: Decimal, worst: Decimal, fee_rate: Decimal = Decimal(0)) -> Walk:
    """Sell up to `shares_to_sell` into the bids, best first, never below `worst`."""
    left, sold, proceeds, fee, last = shares_to_sell, Decimal(0), Decimal(0), Decimal(0), None
    for lv in bids:
        if lv.price < worst or left <= 0:
            break
        take = min(lv.size, left)
        sold, proceeds, left, last = sold + take, proceeds + take * lv.price, left - take, lv.price
        fee += _level_fee(take, lv.price, fee_rate)
    return Walk(sold, proceeds.quantize(USD_QUANTUM), last, fee.quantize(USD_QUANTUM), complete=left <= 0)


@dataclass(frozen=True)
class OrderRequest:
    side: str  # BUY | SELL
    token_id: int
    condition_id: str
    amount: Decimal  # BUY: dollars to spend; SELL: shares to sell
    worst_price: Decimal
    order_type: str  # FOK | FAK
    neg_risk: bool


@dataclass(frozen=True)
class Fill:
    shares: Decimal
    avg_price: Decimal
    notional_usd: Decimal
    fee_usd: Decimal
    slippage_bps: Decimal  # average price against the best level at decision time
    order_id: str | None = None
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OrderFailed:
    reason: str


@dataclass(frozen=True)
class OrderUnknown:
    """The order may or may not be on the CLOB (no answer after posting): reconcile later."""
    reason: str


Outcome = Fill | OrderFailed | OrderUnknown


class Broker(Protocol):
    name: str
    synchronous: bool  # True: fills inside the deciding transaction (paper)

    def book(self, token_id: int) -> Book: ...
    def execute(self, order: OrderRequest, book: Book, on_order_id: Callable[[str], None] | None = None) -> Outcome: ...
    def lookup(self, order_id: str) -> Outcome: ...
    def close(self) -> None: ...


def _slippage_bps(side: str, avg: Decimal, best: Decimal | None) -> Decimal:
    if not best:
        return Decimal(0)
    diff = (avg - best) if side == "BUY" else (best - avg)
    return (diff / best * 10_000).quantize(Decimal("0.01"))


def fill_from_walk(order: OrderRequest, book: Book, walk: Walk) -> Outcome:
    """Apply ORDER_TYPE semantics to a book walk: FOK all or nothing, FAK whatever fits."""
    side_word = "asks" if order.side == "BUY" else "bids"
    if walk.shares <= 0:
        return OrderFailed(f"unfillable: no {side_word} within worst price {order.worst_price}")
    if order.order_type == "FOK" and not walk.complete:
        want = f"${order.amount}" if order.side == "BUY" else f"{order.amount} shares"
        return OrderFailed(f"unfillable: the book holds only {walk.shares} shares within worst price "
                           f"{order.worst_price}, FOK needs {want}")
    avg = (walk.notional / walk.shares).quantize(Decimal("0.000001"))
    best = book.best_ask if order.side == "BUY" else book.best_bid
    return Fill(shares=walk.shares, avg_price=avg, notional_usd=walk.notional, fee_usd=walk.fee,
                slippage_bps=_slippage_bps(order.side, avg, best),
                details={"levels_worst_price": str(walk.last_price), "best_price": str(best)})


class PaperBroker:
    """Simulated fills against the real (or stand-in) CLOB book; nothing is sent anywhere."""
    name = "paper"
    synchronous = True

    def __init__(self, cfg: TradingSettings, http: httpx.Client | None = None):
        self.cfg = cfg
        self.http = http or httpx.Client(timeout=cfg.clob_timeout_seconds)
        self._owns_http = http is None
        self.fee_rate = Decimal(str(cfg.paper_fee_rate))

    def book(self, token_id: int) -> Book:
        try:
            r = self.http.get(f"{self.cfg.clob_api_url}/book", params={"token_id": str(token_id)})
        except httpx.HTTPError as e:
            raise BookUnavailable(f"order book request failed: {type(e).__name__}") from None
        if r.status_code != 200:
            raise BookUnavailable(f"no order book (HTTP {r.status_code}: {_error_text(r)})")
        return parse_book(r.json(), token_id)

    def execute(self, order: OrderRequest, book: Book, on_order_id=None) -> Outcome:
        if order.side == "BUY":
            walk = walk_buy(book.asks, order.amount, order.worst_price, self.fee_rate)
        else:
            walk = walk_sell(book.bids, order.amount, order.worst_price, self.fee_rate)
        return fill_from_walk(order, book, walk)

    def lookup(self, order_id: str) -> Outcome:
        return OrderFailed("interrupted: paper orders are never in flight")

    def close(self) -> None:
        if self._owns_http:
            self.http.close()


def _error_text(r: httpx.Response) -> str:
    try:
        body = r.json()
        if isinstance(body, dict) and "error" in body:
            return str(body["error"])
    except ValueError:
        pass
    return r.text[:200]




def _poly_error_text(exc: Exception) -> str:
    """The CLOB's own words from a py-clob-client-v2 exception ({"error": ...} bodies unwrapped)."""
    msg = getattr(exc, "error_msg", None)
    if msg is None:
        msg = getattr(exc, "msg", None) or str(exc)
    if isinstance(msg, dict):
        msg = msg.get("error") or msg.get("errorMsg") or msg
    status = getattr(exc, "status_code", None)
    return f"{msg} (HTTP {status})" if status else str(msg)


class LiveBroker:
    """Real orders on Polymarket's CLOB through py-clob-client-v2 (V2 orders, EIP-712 signed).

    The key is read from the environment by TradingSettings and handed to the client only; it
    is never logged, stored or put in an alert. API credentials come from CLOB_API_KEY/SECRET/
    PASSPHRASE or are derived from the key (L1-signed `create_or_derive_api_key`).
    """
    name = "live"
    synchronous = False  # the order is posted after the deciding transaction commits

    def __init__(self, cfg: TradingSettings):
        if not cfg.live or not cfg.enable_live_trading or cfg.polymarket_private_key is None:
            raise LiveTradingRefused("live trading needs ENABLE_PAPER_TRADING=false, ENABLE_LIVE_TRADING=true "
                                     "and POLYMARKET_PRIVATE_KEY")
        from py_clob_client_v2 import ApiCreds, ClobClient

        self.cfg = cfg
        self.client = ClobClient(cfg.clob_api_url, chain_id=cfg.chain_id, key=cfg.polymarket_private_key.get_secret_value(),
                                 signature_type=cfg.clob_signature_type, funder=cfg.clob_funder)
        if cfg.clob_api_key is not None:
            creds = ApiCreds(cfg.clob_api_key.get_secret_value(), cfg.clob_api_secret.get_secret_value(),
                             cfg.clob_api_passphrase.get_secret_value())
        else:
            creds = self.client.create_or_derive_api_key()
        self.client.set_api_creds(creds)

    @property
    def addresses(self) -> frozenset[str]:
        """Our signer and funder: trades by these are our own."""
        return frozenset(a.lower() for a in (self.client.get_address(), self.client.builder.funder) if a)

    def book(self, token_id: int) -> Book:
        from py_clob_client_v2.exceptions import PolyException

        tid = str(token_id)
        try:
            payload = self.client.get_order_book(tid)
            tick = str(self.client.get_tick_size(tid))
            neg_risk = bool(self.client.get_neg_risk(tid))
        except PolyException as e:
            raise BookUnavailable(f"no order book: {_poly_error_text(e)}") from None
        if tick not in VALID_TICKS:
            raise BookUnavailable(f"unsupported tick size {tick}")
        book = parse_book(payload, token_id)
        # The market's own tick and neg-risk endpoints win over the book's copy.
        return Book(token_id, book.bids, book.asks, Decimal(tick), neg_risk, book.min_order_size)

    def _worst_price(self, order: OrderRequest, book: Book) -> Decimal | OrderFailed:
        """The worst level the walk needs, never past the cap (FAK posts at the cap when the book is thin)."""
        walk = (walk_buy(book.asks, order.amount, order.worst_price) if order.side == "BUY"
                else walk_sell(book.bids, order.amount, order.worst_price))
        if walk.shares <= 0:
            return OrderFailed(f"unfillable: no {'asks' if order.side == 'BUY' else 'bids'} within worst price {order.worst_price}")
        if not walk.complete:
            if order.order_type == "FOK":
                return fill_from_walk(order, book, walk)  # the FOK failure, with the book's numbers
            return order.worst_price
        return walk.last_price

    def _sign(self, order: OrderRequest, price: Decimal, book: Book):
        from py_clob_client_v2 import MarketOrderArgsV2, PartialCreateOrderOptions

        args = MarketOrderArgsV2(token_id=str(order.token_id), amount=float(order.amount), side=order.side,
                                 price=float(price), order_type=order.order_type)
        # V2 exchange (V1 orders are refused on production since 2026-04-28); the market's tick and neg-risk flag.
        opts = PartialCreateOrderOptions(tick_size=str(book.tick_size.normalize()), neg_risk=book.neg_risk, version=2)
        return self.client.create_market_order(args, opts)

    def _order_hash(self, signed, neg_risk: bool) -> str:
        """The EIP-712 hash of the signed order: the CLOB's orderID, known before posting."""
        from py_clob_client_v2.config import get_contract_config
        from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2

        contracts = get_contract_config(self.cfg.chain_id)
        exchange = contracts.neg_risk_exchange_v2 if neg_risk else contracts.exchange_v2
        builder = ExchangeOrderBuilderV2(exchange, self.cfg.chain_id, self.client.signer)
        return builder.build_order_hash(builder.build_order_typed_data(signed))

    def execute(self, order: OrderRequest, book: Book, on_order_id: Callable[[str], None] | None = None) -> Outcome:
        from py_clob_client_v2.exceptions import PolyApiException, PolyException

        price = self._worst_price(order, book)
        if not isinstance(price, Decimal):
            return price
        if not book.tick_size <= price <= 1 - book.tick_size:
            return OrderFailed(f"invalid_price: {price} outside [{book.tick_size}, {1 - book.tick_size}] for tick {book.tick_size}")
        try:
            signed = self._sign(order, price, book)
        except (PolyException, ValueError) as e:
            return OrderFailed(f"order_not_signed: {_poly_error_text(e)}")
        order_id = self._order_hash(signed, book.neg_risk)
        if on_order_id:
            on_order_id(order_id)
        try:
            resp = self.client.post_order(signed, order.order_type)
        except PolyApiException as e:
            if e.status_code is None:  # no answer: the CLOB may have it
                return OrderUnknown(f"no answer from the CLOB for order {order_id}")
            return OrderFailed(f"clob_rejected: {_poly_error_text(e)}")
        return self._fill_from_response(order, book, resp, order_id)

    def _fill_from_response(self, order: OrderRequest, book: Book, resp, order_id: str) -> Outcome:
        if not isinstance(resp, dict) or not resp.get("success", False) or resp.get("errorMsg"):
            err = resp.get("errorMsg") if isinstance(resp, dict) else resp
            return OrderFailed(f"clob_rejected: {err or 'no success flag'}")
        making, taking = Decimal(str(resp.get("makingAmount") or 0)), Decimal(str(resp.get("takingAmount") or 0))
        shares, notional = (taking, making) if order.side == "BUY" else (making, taking)
        if shares <= 0:
            return OrderFailed(f"unfillable: the CLOB matched nothing (status {resp.get('status')})")
        avg = (notional / shares).quantize(Decimal("0.000001"))
        best = book.best_ask if order.side == "BUY" else book.best_bid
        return Fill(shares=shares, avg_price=avg, notional_usd=notional, fee_usd=self._fee_estimate(order, shares, avg),
                    slippage_bps=_slippage_bps(order.side, avg, best), order_id=resp.get("orderID") or order_id,
                    details={"status": resp.get("status"), "transactions": resp.get("transactionsHashes") or []})

    def _fee_estimate(self, order: OrderRequest, shares: Decimal, price: Decimal) -> Decimal:
        """Polymarket's taker fee, shares * r * (p (1 - p))^e with the market's fee parameters."""
        try:
            info = self.client.get_clob_market_info(order.condition_id).get("fd") or {}
        except Exception:  # the fill stands; an unknown fee is recorded as 0
            return Decimal(0)
        rate, exponent = Decimal(str(info.get("r") or 0)), Decimal(str(info.get("e") or 1))
        return (shares * rate * (price * (1 - price)) ** exponent).quantize(USD_QUANTUM)

    def lookup(self, order_id: str) -> Outcome:
        """An in-flight order's fate, for reconciling a PENDING signal after a crash."""
        from py_clob_client_v2.exceptions import PolyApiException

        try:
            o = self.client.get_order(order_id)
        except PolyApiException as e:
            if e.status_code is None:
                return OrderUnknown("CLOB unreachable")
            return OrderFailed(f"interrupted: the CLOB has no such order ({_poly_error_text(e)})")
        matched = Decimal(str((o or {}).get("size_matched") or 0))
        if not o or matched <= 0:
            return OrderFailed(f"interrupted: the CLOB reports the order {(o or {}).get('status', 'unknown')}")
        price = Decimal(str(o.get("price") or 0))
        return Fill(shares=matched, avg_price=price, notional_usd=(matched * price).quantize(USD_QUANTUM),
                    fee_usd=Decimal(0), slippage_bps=Decimal(0), order_id=order_id, details={"status": o.get("status")})

    def close(self) -> None:
        pass


def make_broker(cfg: TradingSettings) -> Broker:
    """The broker the settings ask for: paper by default, live only with both switches and a key."""
    return LiveBroker(cfg) if cfg.live else PaperBroker(cfg)
