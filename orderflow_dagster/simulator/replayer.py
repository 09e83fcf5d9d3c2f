"""A simulated Polymarket on anvil: markets, matches and resolutions as real-shaped logs.

Every log comes from the real contract address (emitters installed by emitter.py) with the
registry's event layouts (events.py), from transactions sent by anvil's first unlocked dev
account. The shapes follow Polymarket's contracts:

- create_market: CTF `ConditionPreparation` (oracle = the NegRiskAdapter for neg-risk markets,
  a stand-in address otherwise); for V1 also the exchange's two `TokenRegistered` logs
  (token, complement) and (complement, token), as Registry._registerToken emits them.
- match: one tx from the market's exchange with one `OrderFilled` per maker order
  (maker = that maker, taker = the taker's wallet), then the taker order's `OrderFilled`
  (taker = the exchange itself), then `OrdersMatched`, as Trading._matchOrders emits them.
  Only COMPLEMENTARY matches (makers on the other side of the same token) are simulated.
- resolve: CTF `ConditionResolution`; for neg-risk markets then the adapter's
  `OutcomeReported` (NegRiskAdapter.reportOutcome) in a second tx of the same block, since
  one emitter transaction carries logs of one address only.

Amounts have 6 decimals. Order hashes are random 32-byte values (not EIP-712 hashes).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from enum import IntEnum
from typing import Any

import httpx
from eth_utils import keccak

from orderflow_dagster.chain.contracts import CONTRACTS, Contract
from orderflow_dagster.simulator.anvil import AnvilError, rpc_call
from orderflow_dagster.simulator.emitter import encode_records, install_emitters
from orderflow_dagster.chain.ctf_ids import ZERO32, condition_id, outcome_token_id
from orderflow_dagster.simulator.events import encode_log

UNITS = 10**6  # collateral and outcome shares both have 6 decimals
ONE = 10**18  # CalculatorHelper's fixed-point one
BPS = 10_000
NEG_RISK_MARKET_MASK = ~0xFF  # NegRiskIdLib: the low byte of a question id is its index
# Not a real oracle: standard markets are prepared by UMA adapters we do not model.
SIM_ORACLE = "0x" + keccak(text="orderflow simulator oracle")[-20:].hex()

Log = tuple[list[str], bytes]


class Side(IntEnum):
    BUY = 0
    SELL = 1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


@dataclass(frozen=True)
class Market:
    condition_id: str
    question_id: str
    oracle: str
    token_ids: tuple[int, int]  # outcome 0 ("Yes", index set 1), outcome 1 ("No", index set 2)
    exchange: str
    generation: int
    neg_risk: bool
    neg_risk_market_id: str | None = None


@dataclass(frozen=True)
class Fill:
    """One order's side of a match, in 6-decimal units."""
    order_hash: bytes
    maker: str
    taker: str
    side: Side
    token_id: int
    shares: int
    collateral: int
    fee: int = 0

    @property
    def making(self) -> int:  # what the order's maker gives
        return self.collateral if self.side is Side.BUY else self.shares

    @property
    def taking(self) -> int:  # what the order's maker receives
        return self.shares if self.side is Side.BUY else self.collateral


def to_units(amount: float | Decimal | int) -> int:
    return int((Decimal(str(amount)) * UNITS).to_integral_value(rounding=ROUND_DOWN))


def exchange_for(generation: int, neg_risk: bool) -> Contract:
    return next(c for c in CONTRACTS if c.kind == "exchange" and c.generation == generation and c.neg_risk == neg_risk)


def contract_address(kind: str) -> str:
    return next(c.address for c in CONTRACTS if c.kind == kind)


def v1_fee(fee_rate_bps: int, fill: Fill) -> int:
    """CalculatorHelper.calculateFee: charged on what the order receives (shares on a BUY)."""
    if fee_rate_bps == 0 or fill.shares == 0 or fill.collateral == 0:
        return 0
    price = fill.collateral * ONE // fill.shares
    if fill.side is Side.BUY:
        return fee_rate_bps * min(price, ONE - price) * fill.shares // (price * BPS)
    return fee_rate_bps * min(price, ONE - price) * fill.shares // (BPS * ONE)


def v2_fee(fee_rate_bps: int, fill: Fill) -> int:
    """Collateral fee shares x rate x p x (1 - p), p = collateral / shares."""
    if fill.shares == 0:
        return 0
    return fee_rate_bps * fill.collateral * (fill.shares - fill.collateral) // (BPS * fill.shares)


def emitter_gas(calldata: bytes, logs: Sequence[Log]) -> int:
    """An upper bound of the gas an emitter tx uses: intrinsic + calldata + LOGn + a margin."""
    log_gas = sum(375 + 375 * len(topics) + 8 * len(data) for topics, data in logs)
    return 21_000 + 16 * len(calldata) + log_gas + 200 * len(logs) + 5_000


def make_market(rng: random.Random, generation: int, neg_risk: bool) -> Market:
    """A new binary market with real condition and token ids; its question id comes from `rng`."""
    neg_risk_market_id = None
    if neg_risk:
        # NegRiskAdapter: questionId = marketId + question index; here always question 0.
        neg_risk_market_id = "0x" + (int.from_bytes(rng.randbytes(32), "big") & NEG_RISK_MARKET_MASK).to_bytes(32, "big").hex()
        question_id, oracle = neg_risk_market_id, contract_address("negrisk_adapter")
    else:
        question_id, oracle = "0x" + rng.randbytes(32).hex(), SIM_ORACLE
    cid = condition_id(oracle, question_id, 2)
    tokens = (outcome_token_id(cid, 0, neg_risk), outcome_token_id(cid, 1, neg_risk))
    return Market(cid, question_id, oracle, tokens, exchange_for(generation, neg_risk).address,
                  generation, neg_risk, neg_risk_market_id)


def fill_log(generation: int, fill: Fill) -> Log:
    if generation == 1:
        maker_asset, taker_asset = (0, fill.token_id) if fill.side is Side.BUY else (fill.token_id, 0)
        return encode_log("order_filled_v1", orderHash=fill.order_hash, maker=fill.maker, taker=fill.taker,
                          makerAssetId=maker_asset, takerAssetId=taker_asset, makerAmountFilled=fill.making,
                          takerAmountFilled=fill.taking, fee=fill.fee)
    return encode_log("order_filled_v2", orderHash=fill.order_hash, maker=fill.maker, taker=fill.taker,
                      side=int(fill.side), tokenId=fill.token_id, makerAmountFilled=fill.making,
                      takerAmountFilled=fill.taking, fee=fill.fee, builder=ZERO32, metadata=ZERO32)


def matched_log(generation: int, taker_fill: Fill) -> Log:
    f = taker_fill
    if generation == 1:
        maker_asset, taker_asset = (0, f.token_id) if f.side is Side.BUY else (f.token_id, 0)
        return encode_log("orders_matched_v1", takerOrderHash=f.order_hash, takerOrderMaker=f.maker,
                          makerAssetId=maker_asset, takerAssetId=taker_asset, makerAmountFilled=f.making,
                          takerAmountFilled=f.taking)
    return encode_log("orders_matched_v2", takerOrderHash=f.order_hash, takerOrderMaker=f.maker, side=int(f.side),
                      tokenId=f.token_id, makerAmountFilled=f.making, takerAmountFilled=f.taking)


class LogMaker:
    """Polymarket-shaped logs for markets, matches and resolutions, made without a chain;
    deterministic for a given seed. Replayer sends them to anvil; simulator/offline.py lands them
    straight into the raw tables."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def random_address(self) -> str:
        return "0x" + self.rng.randbytes(20).hex()

    def random_hash(self) -> bytes:
        return self.rng.randbytes(32)

    def market_txs(self, market: Market) -> list[tuple[str, list[Log]]]:
        """The (address, logs) transactions that announce a market, to be mined in one block."""
        txs = [(contract_address("ctf"), [encode_log(
            "condition_preparation", conditionId=market.condition_id, oracle=market.oracle,
            questionId=market.question_id, outcomeSlotCount=2)])]
        if market.generation == 1:
            # Registration order is not "Yes first": pick it at random, both directions are logged.
            token, complement = self.rng.sample(market.token_ids, 2)
            txs.append((market.exchange, [encode_log("token_registered", token0=a, token1=b, conditionId=market.condition_id)
                                          for a, b in ((token, complement), (complement, token))]))
        return txs

    def match_logs(self, market: Market, taker: str, taker_side: Side | str, outcome_index: int,
                   makers: Sequence[tuple[str, float | Decimal, float | Decimal]], fee_rate_bps: int = 0) -> list[Log]:
        """The logs of `match`'s transaction (maker fills, taker fill, OrdersMatched), not sent."""
        side = Side[taker_side.upper()] if isinstance(taker_side, str) else Side(taker_side)
        token = market.token_ids[outcome_index]
        maker_fills = [self._maker_fill(wallet, taker, side.opposite, token, shares, price)
                       for wallet, shares, price in makers]
        taker_fill = self._taker_fill(market, taker, side, token, maker_fills, fee_rate_bps)
        logs = [fill_log(market.generation, f) for f in [*maker_fills, taker_fill]]
        logs.append(matched_log(market.generation, taker_fill))
        return logs

    def _maker_fill(self, wallet: str, taker: str, side: Side, token: int, shares: Any, price: Any) -> Fill:
        share_units = to_units(shares)
        # CalculatorHelper.calculateTakingAmount rounds down
        collateral = int((share_units * Decimal(str(price))).to_integral_value(rounding=ROUND_DOWN))
        return Fill(self.random_hash(), wallet, taker, side, token, share_units, collateral)

    def _taker_fill(self, market: Market, taker: str, side: Side, token: int, maker_fills: list[Fill],
                    fee_rate_bps: int) -> Fill:
        fill = Fill(self.random_hash(), taker, market.exchange, side, token,
                    sum(f.shares for f in maker_fills), sum(f.collateral for f in maker_fills))
        fee = v1_fee(fee_rate_bps, fill) if market.generation == 1 else v2_fee(fee_rate_bps, fill)
        return Fill(fill.order_hash, fill.maker, fill.taker, side, token, fill.shares, fill.collateral, fee)

    @staticmethod
    def resolution_txs(market: Market, payouts: Sequence[int]) -> list[tuple[str, list[Log]]]:
        """CTF's ConditionResolution, then (neg-risk) the adapter's OutcomeReported: one tx each."""
        if market.neg_risk and list(payouts) not in ([1, 0], [0, 1]):
            raise ValueError(f"the NegRiskAdapter reports [1, 0] or [0, 1], not {list(payouts)}")
        txs = [(contract_address("ctf"), [encode_log(
            "condition_resolution", conditionId=market.condition_id, oracle=market.oracle,
            questionId=market.question_id, outcomeSlotCount=len(payouts), payoutNumerators=list(payouts))])]
        if market.neg_risk:
            txs.append((contract_address("negrisk_adapter"), [encode_log(
                "outcome_reported", marketId=market.neg_risk_market_id, questionId=market.question_id,
                outcome=payouts[0] == 1)]))
        return txs


class Replayer(LogMaker):
    """Sends Polymarket-shaped logs to an anvil node; deterministic for a given seed."""

    def __init__(self, rpc_url: str, seed: int = 0, n_wallets: int = 25) -> None:
        super().__init__(seed)
        self.rpc_url = rpc_url
        self.client = httpx.Client(timeout=30.0)
        install_emitters(rpc_url)
        self.sender: str = self.rpc("eth_accounts")[0]
        # random_activity's wallets come from their own generator, so the logs of a World's events
        # (order hashes) are the same here and from a bare LogMaker of the same seed (offline.py)
        wallets = random.Random(f"replayer wallets {seed}")
        self.wallets = ["0x" + wallets.randbytes(20).hex() for _ in range(n_wallets)]
        self.open_markets: list[Market] = []
        self.fair_price: dict[str, Decimal] = {}  # condition id -> price of outcome 0
        self._batch_depth = 0
        self._next_nonce: int | None = None  # send_batch's own count, while only it sends

    # --- plumbing -----------------------------------------------------------------------

    def rpc(self, method: str, *params: Any) -> Any:
        return rpc_call(self.rpc_url, method, *params, client=self.client)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Replayer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send_logs(self, address: str, logs: Sequence[Log]) -> str:
        """One transaction to `address` whose logs are `logs`, in order; returns the tx hash."""
        tx = {"from": self.sender, "to": address, "data": "0x" + encode_records(logs).hex()}
        self._next_nonce = None  # the node picks this one's nonce
        return self.rpc("eth_sendTransaction", tx)

    def send_batch(self, txs: Sequence[tuple[str, Sequence[Log]]]) -> list[str]:
        """Several transactions in one JSON-RPC batch request; returns their hashes in order.

        Nonces are explicit and consecutive (anvil gives concurrent requests the same pending
        nonce) and gas is computed, not estimated (an eth_estimateGas per tx would halve the rate).
        """
        if not txs:
            return []
        if self._next_nonce is None:
            self._next_nonce = int(self.rpc("eth_getTransactionCount", self.sender, "pending"), 16)
        nonce, body = self._next_nonce, []
        for i, (address, logs) in enumerate(txs):
            data = encode_records(logs)
            body.append({"jsonrpc": "2.0", "id": i, "method": "eth_sendTransaction", "params": [
                {"from": self.sender, "to": address, "data": "0x" + data.hex(), "nonce": hex(nonce + i),
                 "gas": hex(emitter_gas(data, logs))}]})
        response = self.client.post(self.rpc_url, json=body)
        response.raise_for_status()
        answers = sorted(response.json(), key=lambda a: a["id"])
        errors = [a["error"] for a in answers if "error" in a]
        if errors:
            self._next_nonce = None
            raise AnvilError(f"eth_sendTransaction failed for {len(errors)} of {len(txs)} txs: {errors[0]}")
        self._next_nonce = nonce + len(txs)
        return [a["result"] for a in answers]

    def emit_raw(self, address: str, topics: Sequence[str | bytes], data: bytes = b"") -> str:
        """Any log (unknown topic0, wrong data length, ...) from any address."""
        return self.send_logs(address, [(list(topics), data)])

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Send several txs and mine them in one block (automine mode; interval mining is untouched)."""
        outermost = self._batch_depth == 0 and self.rpc("anvil_getAutomine")
        if outermost:
            self.rpc("evm_setAutomine", False)
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if outermost:
                self.rpc("evm_mine")
                self.rpc("evm_setAutomine", True)

    # --- markets ------------------------------------------------------------------------

    def create_market(self, generation: int, neg_risk: bool) -> Market:
        market = make_market(self.rng, generation, neg_risk)
        with self.batch():
            for address, logs in self.market_txs(market):
                self.send_logs(address, logs)
        self.open_markets.append(market)
        self.fair_price[market.condition_id] = Decimal(self.rng.randint(10, 90)) / 100
        return market

    # --- trading ------------------------------------------------------------------------

    def match(
        self,
        market: Market,
        taker: str,
        taker_side: Side | str,
        outcome_index: int,
        makers: Sequence[tuple[str, float | Decimal, float | Decimal]],
        fee_rate_bps: int = 0,
    ) -> str:
        """A taker order filled against maker orders (wallet, shares, price) of the opposite side."""
        return self.send_logs(market.exchange, self.match_logs(market, taker, taker_side, outcome_index, makers, fee_rate_bps))

    # --- resolution ---------------------------------------------------------------------

    def resolve(self, market: Market, payouts: Sequence[int]) -> list[str]:
        """Report payouts; returns the tx hashes (CTF, then the adapter's for neg-risk)."""
        with self.batch():
            hashes = [self.send_logs(address, logs) for address, logs in self.resolution_txs(market, payouts)]
        if market in self.open_markets:
            self.open_markets.remove(market)
        return hashes

    # --- a random world -----------------------------------------------------------------

    def random_activity(self, n_matches: int) -> list[str]:
        """n_matches random matches, creating markets as needed and now and then resolving one."""
        hashes: list[str] = []
        for _ in range(n_matches):
            if not self.open_markets or self.rng.random() < 0.1:
                self.create_market(self.rng.choice((1, 2)), neg_risk=self.rng.random() < 0.3)
            hashes.append(self.random_match(self.rng.choice(self.open_markets)))
            if self.rng.random() < 0.03:
                hashes += self.random_resolution(self.rng.choice(self.open_markets))
        return hashes

    def random_match(self, market: Market) -> str:
        outcome = self.rng.randrange(2)
        price = self._walk_price(market)
        outcome_price = price if outcome == 0 else 1 - price
        taker, *maker_wallets = self.rng.sample(self.wallets, 1 + self.rng.randint(1, 3))
        makers = [(w, Decimal(self.rng.randint(5, 50_000)) / 100, self._near(outcome_price)) for w in maker_wallets]
        return self.match(market, taker, self.rng.choice(list(Side)), outcome, makers)

    def random_resolution(self, market: Market) -> list[str]:
        won = 0 if self.rng.random() < self.fair_price[market.condition_id] else 1
        return self.resolve(market, [1, 0] if won == 0 else [0, 1])

    def _walk_price(self, market: Market) -> Decimal:
        step = Decimal(self.rng.randint(-3, 3)) / 100
        price = min(Decimal("0.97"), max(Decimal("0.03"), self.fair_price[market.condition_id] + step))
        self.fair_price[market.condition_id] = price
        return price

    def _near(self, price: Decimal) -> Decimal:
        """A maker's price one tick around `price`, kept inside [0.01, 0.99]."""
        return min(Decimal("0.99"), max(Decimal("0.01"), price + Decimal(self.rng.randint(-1, 1)) / 100))

    def run_forever(self, matches_per_block_time: int, stop_event: threading.Event,
                    block_time: float | None = 2.0) -> int:
        """Live demo: every block_time seconds, that many random matches; returns the tx count.

        On an automining node each round is mined as one block; on an interval-mining node
        the txs land in whatever block the node mines next. block_time None (an automining
        node has none) paces rounds one second apart.
        """
        sent = 0
        while not stop_event.is_set():
            with self.batch():
                sent += len(self.random_activity(matches_per_block_time))
            stop_event.wait(block_time if block_time is not None else 1.0)
        return sent
