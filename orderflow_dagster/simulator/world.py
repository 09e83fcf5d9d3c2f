"""A simulated prediction-market world with known ground truth. Pure and deterministic: no I/O.

`World(config).run(until)` advances simulated time and yields chain events in time order
(MarketOpened, Trade, Resolution) that simulator/driver.py turns into real-shaped logs.

The model, in one paragraph. Each market has an outcome Y drawn from its opening probability p0
and a true probability path: news arrives at random times, each item z ~ N(+s^2/2, s^2) if Y = 1
and N(-s^2/2, s^2) if Y = 0, so z is exactly its own log-likelihood ratio and
q = sigmoid(logit(p0) + sum of published z) is the Bayesian probability of YES (a martingale that
ends near 0 or 1). The price is q after the last published news, moved by taker flow (impact,
mostly undone when the next news reveals the truth). Informed traders see a signal correlated
(informed_edge x their skill) with the NEXT news item before it is published, buy the side it
favours and mostly sell after the news; degens see the same kind of signal with the wrong sign
and buy long shots; noise traders buy at random; favourite buyers buy the favourite and hold
(a high win rate and no edge: the trap of raw win rate); market makers quote both sides, are
the makers of almost every match and flatten their inventory against resting orders of noise
wallets; a wash-trading pair trades back and forth with itself.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from orderflow_dagster.simulator.replayer import Market, Side, make_market

TICK = Decimal("0.01")
HOUR = 3600.0
DAY = 86_400.0
INFORMED_KINDS = ("whale", "skilled")
# Fills that one opening taker order brings, measured on default worlds: its own match (a taker
# fill and ~1.9 maker fills), its later close, and the market makers' flattening trades.
FILLS_PER_TAKER_ORDER = 4.8
DEFAULT_START = 1_767_225_600.0  # 2026-01-01 UTC


@dataclass(frozen=True)
class WorldConfig:
    seed: int = 0
    start: float | None = None  # unix seconds of simulated time zero; None = DEFAULT_START (driver: the chain's time)
    fills_per_hour: float = 1000.0  # OrderFilled logs (maker fills + taker fills) per simulated hour
    # populations (wallet counts)
    whales: int = 12
    skilled: int = 40
    noise: int = 300
    favourite: int = 40
    degens: int = 60
    market_makers: int = 8
    wash_pairs: int = 1
    # share of taker orders each trading population sends
    taker_shares: tuple[tuple[str, float], ...] = (
        ("whale", 0.07), ("skilled", 0.18), ("noise", 0.45), ("favourite", 0.12), ("degen", 0.18))
    # informed traders' signal correlates informed_edge x skill (skill in [0.5, 1]) with the next
    # news; 0 = a world with no informed traders (they trade, but on nothing)
    informed_edge: float = 1.0
    # informed traders lose their information this many days after the start (None: never), so
    # from then on the world has no informed traders, only wallets with a record earned before
    informed_days: float | None = None
    degen_edge: float = 0.6  # the same for degens, with the wrong sign
    # markets
    open_markets: int = 40
    market_hours: tuple[float, float] = (12.0, 96.0)
    news_minutes: float = 240.0  # mean time between news items of one market
    total_information: float = 12.0  # variance of the summed news (logit): ends near certainty
    neg_risk_share: float = 0.3
    v1_share: float = 0.5
    fifty_fifty_rate: float = 0.02  # standard markets only: the NegRiskAdapter reports [1,0] / [0,1]
    taker_fee_bps: int = 100
    impact_depth_usd: float = 50_000.0  # notional that moves the price by 1 in logit space
    mm_inventory_cap_usd: float = 300.0  # a market maker flattens past this much inventory per token
    wash_trades_per_hour: float = 3.0  # per pair

    def scaled(self, factor: float, **changes) -> WorldConfig:
        """The same world with `factor` times the wallets and the rate (tests run small worlds)."""
        counts = {k: max(1, round(getattr(self, k) * factor)) for k in
                  ("whales", "skilled", "noise", "favourite", "degens", "market_makers")}
        counts.update(fills_per_hour=self.fills_per_hour * factor,
                      open_markets=max(4, round(self.open_markets * math.sqrt(factor))))
        counts.update(changes)
        return WorldConfig(**{**self.__dict__, **counts})


@dataclass(frozen=True)
class WalletTruth:
    kind: str  # whale | skilled | noise | favourite | degen | market_maker | wash
    skill: float  # correlation of the wallet's signal with the next news; < 0 for degens

    @property
    def is_skilled(self) -> bool:
        return self.kind in INFORMED_KINDS and self.skill > 0


@dataclass(frozen=True)
class MarketOpened:
    t: float
    market: Market
    question: str
    end_t: float


@dataclass(frozen=True)
class Trade:
    t: float
    market: Market
    taker: str
    side: Side
    outcome_index: int
    makers: tuple[tuple[str, Decimal, Decimal], ...]  # (wallet, shares, price), Replayer.match's shape
    fee_rate_bps: int
    purpose: str  # open | close | flatten | wash

    @property
    def fills(self) -> int:
        return len(self.makers) + 1


@dataclass(frozen=True)
class Resolution:
    t: float
    market: Market
    payouts: tuple[int, int]


Event = MarketOpened | Trade | Resolution


@dataclass
class SimMarket:
    market: Market
    index: int
    opened_t: float
    end_t: float
    p0: float
    outcome: int  # 1 = YES (outcome 0) wins
    news_sd: float
    logit_q: float  # public: after the published news
    next_news_t: float
    next_z: float
    impact: float = 0.0
    resolved: tuple[int, int] | None = None

    @property
    def q(self) -> float:
        return _sigmoid(self.logit_q)

    @property
    def mid(self) -> float:  # price of outcome 0
        return min(0.98, max(0.02, _sigmoid(self.logit_q + self.impact)))


@dataclass(frozen=True)
class LedgerEntry:
    """One wallet's side of a trade, for checks on the world itself (tests)."""
    t: float
    wallet: str
    condition_id: str
    outcome_index: int
    shares: float  # signed: + bought
    price: float
    purpose: str
    taker: bool


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, x))))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _tick(price: float) -> Decimal:
    return min(Decimal("0.99"), max(TICK, Decimal(round(price * 100)) * TICK))


def _shares(x: float) -> Decimal:
    return max(Decimal("0.01"), Decimal(round(x * 100)) / 100)


class World:
    """The world's state and its event loop; `run(until)` yields the chain events up to `until`."""

    def __init__(self, config: WorldConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.now = self.start = DEFAULT_START if config.start is None else float(config.start)
        self.truth: dict[str, WalletTruth] = {}
        self.wallets: dict[str, list[str]] = defaultdict(list)
        self._populate()
        self.markets: dict[str, SimMarket] = {}  # condition id -> every market ever opened
        self.open: list[SimMarket] = []
        self.positions: dict[tuple[str, int], float] = defaultdict(float)  # (wallet, token) -> shares
        self.ledger: list[LedgerEntry] = []
        self.record_ledger = False
        self._queue: list[tuple[float, int, str, object]] = []
        self._seq = 0
        self._wash_open: dict[int, tuple[SimMarket, Decimal] | None] = {}
        self._pending: list[Event] = []
        taker_rate = config.fills_per_hour / FILLS_PER_TAKER_ORDER / HOUR
        self._kind_weights = [(k, w) for k, w in config.taker_shares if self.wallets[k]]
        self._taker_rate = taker_rate
        for _ in range(config.open_markets):
            self._open_market(first=True)
        if taker_rate > 0:
            self._push(self.now + self.rng.expovariate(taker_rate), "arrival", None)
        for pair in range(config.wash_pairs):
            self._wash_open[pair] = None
            self._push(self.now + self.rng.expovariate(config.wash_trades_per_hour / HOUR), "wash", pair)

    # --- ground truth ------------------------------------------------------------------

    def _populate(self) -> None:
        c = self.config
        for kind, count in (("whale", c.whales), ("skilled", c.skilled), ("noise", c.noise),
                            ("favourite", c.favourite), ("degen", c.degens), ("market_maker", c.market_makers),
                            ("wash", 2 * c.wash_pairs)):
            for _ in range(count):
                skill = 0.0
                if kind == "whale":
                    skill = c.informed_edge * self.rng.uniform(0.8, 1.0)
                elif kind == "skilled":
                    skill = c.informed_edge * self.rng.uniform(0.5, 0.9)
                elif kind == "degen":
                    skill = -c.degen_edge * self.rng.uniform(0.6, 1.0)
                address = "0x" + self.rng.randbytes(20).hex()
                self.truth[address] = WalletTruth(kind, skill)
                self.wallets[kind].append(address)

    def skilled_wallets(self) -> set[str]:
        return {w for w, t in self.truth.items() if t.is_skilled}

    # --- the event loop ----------------------------------------------------------------

    def _push(self, t: float, kind: str, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (t, self._seq, kind, payload))

    def run(self, until: float) -> Iterator[Event]:
        """Advance to `until` (unix seconds of simulated time), yielding chain events in time order."""
        while True:
            while self._pending:
                yield self._pending.pop(0)
            if not self._queue or self._queue[0][0] > until:
                break
            t, _, kind, payload = heapq.heappop(self._queue)
            self.now = t
            getattr(self, f"_on_{kind}")(payload)
        self.now = max(self.now, until)

    def _emit(self, event: Event) -> None:
        self._pending.append(event)

    # --- markets -----------------------------------------------------------------------

    def _open_market(self, first: bool = False) -> None:
        c, rng = self.config, self.rng
        neg_risk = rng.random() < c.neg_risk_share
        generation = 1 if rng.random() < c.v1_share else 2
        market = make_market(rng, generation, neg_risk)
        lifetime = rng.uniform(*c.market_hours) * HOUR
        if first:  # stagger the first markets' ends so resolutions start early
            lifetime *= rng.uniform(0.1, 1.0)
        p0 = rng.uniform(0.08, 0.92)
        news_sd = math.sqrt(c.total_information * c.news_minutes * 60 / lifetime)
        sim = SimMarket(market, len(self.markets), self.now, self.now + lifetime, p0,
                        1 if rng.random() < p0 else 0, news_sd, _logit(p0), 0.0, 0.0)
        self._draw_next_news(sim)
        self.markets[market.condition_id] = sim
        self.open.append(sim)
        self._push(sim.end_t, "resolve", sim)
        self._emit(MarketOpened(self.now, market, f"Simulated market #{sim.index}: will event {sim.index} happen?",
                                sim.end_t))

    def _draw_next_news(self, m: SimMarket) -> None:
        var = m.news_sd ** 2
        m.next_z = self.rng.gauss(var / 2 if m.outcome else -var / 2, m.news_sd)
        m.next_news_t = self.now + self.rng.expovariate(1 / (self.config.news_minutes * 60))
        if m.next_news_t < m.end_t:
            self._push(m.next_news_t, "news", m)

    def _on_news(self, m: SimMarket) -> None:
        if m.resolved is not None or self.now != m.next_news_t:
            return
        m.logit_q += m.next_z
        m.impact *= 0.3  # the news reveals what informed flow knew
        self._draw_next_news(m)

    def _on_resolve(self, m: SimMarket) -> None:
        c = self.config
        payouts = (1, 0) if m.outcome else (0, 1)
        if not m.market.neg_risk and self.rng.random() < c.fifty_fifty_rate:
            payouts = (1, 1)
        m.resolved = payouts
        self.open.remove(m)
        self._emit(Resolution(self.now, m.market, payouts))
        self._open_market()

    # --- prices and books --------------------------------------------------------------

    def price(self, m: SimMarket, outcome_index: int) -> float:
        return m.mid if outcome_index == 0 else 1 - m.mid

    def quotes(self, m: SimMarket, outcome_index: int) -> tuple[Decimal, Decimal]:
        """Best bid and ask of outcome `outcome_index`: one tick either side of the mid."""
        p = self.price(m, outcome_index)
        bid = min(Decimal("0.98"), _tick(p - 0.01))
        ask = max(bid + TICK, _tick(p + 0.01))
        return bid, ask

    def book(self, token_id: int) -> dict | None:
        """The market makers' resting orders on a token: 5 levels a side, sizes growing with depth."""
        found = self.token_market(token_id)
        if found is None:
            return None
        m, outcome = found
        if m.resolved is not None:
            return {"bids": [], "asks": [], "market": m.market.condition_id}
        bid, ask = self.quotes(m, outcome)
        depth = self.config.mm_inventory_cap_usd * max(1, len(self.wallets["market_maker"]))
        bids = [(bid - i * TICK, _shares(depth * (1 + i) / float(bid - i * TICK))) for i in range(5) if bid - i * TICK >= TICK]
        asks = [(ask + i * TICK, _shares(depth * (1 + i) / float(ask + i * TICK))) for i in range(5) if ask + i * TICK <= Decimal("0.99")]
        return {"bids": bids, "asks": asks, "market": m.market.condition_id}

    def token_market(self, token_id: int) -> tuple[SimMarket, int] | None:
        if not hasattr(self, "_tokens") or len(self._tokens) != 2 * len(self.markets):
            self._tokens = {t: (m, i) for m in self.markets.values() for i, t in enumerate(m.market.token_ids)}
        return self._tokens.get(token_id)

    # --- trading -----------------------------------------------------------------------

    def _on_arrival(self, _: object) -> None:
        self._push(self.now + self.rng.expovariate(self._taker_rate), "arrival", None)
        if not self.open or not self._kind_weights:
            return
        kinds, weights = zip(*self._kind_weights)
        kind = self.rng.choices(kinds, weights)[0]
        wallet = self.rng.choice(self.wallets[kind])
        getattr(self, f"_trade_{kind}")(wallet)

    def _signal(self, wallet: str, m: SimMarket) -> float:
        """The wallet's standardised view of the next news: corr(signal, next news) = its skill."""
        k = self.truth[wallet].skill
        if self.config.informed_days is not None and self.now >= self.start + self.config.informed_days * DAY:
            k = min(k, 0.0)  # the informed know nothing any more (degens stay wrong)
        return k * (m.next_z / m.news_sd) + math.sqrt(max(0.0, 1 - k * k)) * self.rng.gauss(0, 1)

    def _sample_markets(self, n: int = 8) -> list[SimMarket]:
        return self.rng.sample(self.open, min(n, len(self.open)))

    def _trade_whale(self, wallet: str) -> None:
        self._trade_informed(wallet, notional=self.rng.lognormvariate(math.log(8000), 0.4))

    def _trade_skilled(self, wallet: str) -> None:
        self._trade_informed(wallet, notional=self.rng.lognormvariate(math.log(150), 0.6))

    def _trade_informed(self, wallet: str, notional: float) -> None:
        # scan a few markets whose next news is soon; buy the side the signal favours, sell after the news
        soon = [m for m in self.open if m.next_news_t - self.now < 3 * HOUR and m.next_news_t < m.end_t]
        candidates = self.rng.sample(soon, min(8, len(soon))) if soon else self._sample_markets()
        m, signal = max(((m, self._signal(wallet, m)) for m in candidates), key=lambda ms: abs(ms[1]))
        outcome = 0 if signal > 0 else 1
        shares = self._buy(wallet, m, outcome, notional, "open")
        if shares and self.rng.random() < 0.85:
            self._push(max(m.next_news_t, self.now) + self.rng.uniform(60, 1800), "close", (wallet, m, outcome, shares))

    def _trade_noise(self, wallet: str) -> None:
        m = self.rng.choice(self.open)
        outcome = self.rng.randrange(2)
        shares = self._buy(wallet, m, outcome, self.rng.lognormvariate(math.log(50), 0.8), "open")
        if shares and self.rng.random() < 0.5:
            self._push(self.now + self.rng.expovariate(1 / (6 * HOUR)), "close", (wallet, m, outcome, shares))

    def _trade_favourite(self, wallet: str) -> None:
        favourites = [(m, i) for m in self._sample_markets(12) for i in (0, 1) if self.price(m, i) >= 0.7]
        if favourites:
            m, outcome = self.rng.choice(favourites)
            self._buy(wallet, m, outcome, self.rng.lognormvariate(math.log(200), 0.6), "open")

    def _trade_degen(self, wallet: str) -> None:
        # buys a long shot, in the market where its (wrong-signed) signal most favours the long shot
        def view(m: SimMarket) -> tuple[float, int]:
            longshot = 0 if m.mid < 0.5 else 1
            return self._signal(wallet, m) * (1 if longshot == 0 else -1), longshot
        scored = [(view(m), m) for m in self._sample_markets()]
        (_, longshot), m = max(scored, key=lambda s: s[0][0])
        self._buy(wallet, m, longshot, self.rng.lognormvariate(math.log(40), 0.7), "open")

    def _on_close(self, payload: tuple[str, SimMarket, int, Decimal]) -> None:
        wallet, m, outcome, shares = payload
        if m.resolved is None:
            self._take(wallet, m, Side.SELL, outcome, shares, "close")

    def _buy(self, wallet: str, m: SimMarket, outcome: int, notional: float, purpose: str) -> Decimal | None:
        _, ask = self.quotes(m, outcome)
        shares = _shares(notional / float(ask))
        return shares if self._take(wallet, m, Side.BUY, outcome, shares, purpose) else None

    def _take(self, wallet: str, m: SimMarket, side: Side, outcome: int, shares: Decimal, purpose: str) -> bool:
        """A taker order against 1-3 market makers, walking one tick per extra maker."""
        mms = self.wallets["market_maker"]
        if not mms:
            return False
        n = min(len(mms), 1 + (self.rng.random() < 0.6) + (self.rng.random() < 0.25))
        makers_wallets = self.rng.sample(mms, n)
        parts = self._split(shares, n)
        bid, ask = self.quotes(m, outcome)
        makers = []
        for i, (maker, part) in enumerate(zip(makers_wallets, parts)):
            price = min(Decimal("0.99"), ask + i * TICK) if side is Side.BUY else max(TICK, bid - i * TICK)
            makers.append((maker, part, price))
        self._match(m, wallet, side, outcome, tuple(makers), purpose)
        # the price moves with the flow: buying outcome 0 (or selling outcome 1) pushes its price up
        direction = (1 if side is Side.BUY else -1) * (1 if outcome == 0 else -1)
        notional = float(shares) * float(ask)
        m.impact = max(-1.5, min(1.5, m.impact * 0.98 + direction * notional / self.config.impact_depth_usd))
        for maker, _, _ in makers:
            self._flatten(maker, m, outcome)
        return True

    def _split(self, shares: Decimal, n: int) -> list[Decimal]:
        if n == 1 or shares < Decimal("0.01") * n * 10:
            return [shares]
        cuts = sorted(self.rng.uniform(0.15, 0.85) for _ in range(n - 1))
        parts, done = [], Decimal(0)
        for cut in cuts:
            part = max(Decimal("0.01"), (shares * Decimal(str(round(cut, 4)))).quantize(TICK) - done)
            parts.append(part)
            done += part
        parts.append(shares - done)
        return [p for p in parts if p > 0]

    def _flatten(self, mm: str, m: SimMarket, outcome: int) -> None:
        """Past its cap, a market maker trades its inventory away against noise wallets' resting orders."""
        token = m.market.token_ids[outcome]
        inventory = self.positions[(mm, token)]
        price = self.price(m, outcome)
        if abs(inventory) * price <= self.config.mm_inventory_cap_usd or not self.wallets["noise"]:
            return
        side = Side.SELL if inventory > 0 else Side.BUY
        shares = _shares(abs(inventory))
        n = min(len(self.wallets["noise"]), 1 + (self.rng.random() < 0.5))
        bid, ask = self.quotes(m, outcome)
        limit_price = ask if side is Side.SELL else bid  # resting orders inside the market makers' quotes
        limit_price = bid + TICK if side is Side.SELL and ask - bid > TICK else limit_price
        makers = tuple((w, part, limit_price) for w, part in zip(self.rng.sample(self.wallets["noise"], n),
                                                                 self._split(shares, n)))
        self._match(m, mm, side, outcome, makers, "flatten")

    def _on_wash(self, pair: int) -> None:
        self._push(self.now + self.rng.expovariate(self.config.wash_trades_per_hour / HOUR), "wash", pair)
        a, b = self.wallets["wash"][2 * pair: 2 * pair + 2]
        held = self._wash_open[pair]
        if held is not None and held[0].resolved is None:  # b buys back what it sold to a
            m, shares = held
            bid, ask = self.quotes(m, 0)
            self._match(m, b, Side.BUY, 0, ((a, shares, ask),), "wash")
            self._wash_open[pair] = None
        elif self.open:
            m = self.rng.choice(self.open)
            bid, ask = self.quotes(m, 0)
            shares = _shares(self.rng.uniform(500, 2000))
            self._match(m, a, Side.BUY, 0, ((b, shares, ask),), "wash")
            self._wash_open[pair] = (m, shares)

    def _match(self, m: SimMarket, taker: str, side: Side, outcome: int,
               makers: tuple[tuple[str, Decimal, Decimal], ...], purpose: str) -> None:
        token = m.market.token_ids[outcome]
        sign = 1 if side is Side.BUY else -1
        for maker, shares, price in makers:
            self.positions[(maker, token)] -= sign * float(shares)
            self.positions[(taker, token)] += sign * float(shares)
            if self.record_ledger:
                self.ledger.append(LedgerEntry(self.now, maker, m.market.condition_id, outcome, -sign * float(shares),
                                               float(price), purpose, False))
                self.ledger.append(LedgerEntry(self.now, taker, m.market.condition_id, outcome, sign * float(shares),
                                               float(price), purpose, True))
        self._emit(Trade(self.now, m.market, taker, side, outcome, makers, self.config.taker_fee_bps, purpose))

    # --- metadata for the HTTP API -----------------------------------------------------

    def market_metadata(self, m: SimMarket) -> dict:
        """Gamma-shaped fields of one market (sim_api serialises them)."""
        return {
            "condition_id": m.market.condition_id,
            "question": f"Simulated market #{m.index}: will event {m.index} happen?",
            "slug": f"simulated-market-{m.index}",
            "end_t": m.end_t,
            "closed": m.resolved is not None,
            "neg_risk": m.market.neg_risk,
            "token_ids": [str(t) for t in m.market.token_ids],
            "prices": [round(m.mid, 4), round(1 - m.mid, 4)] if m.resolved is None else list(m.resolved),
            "question_id": m.market.question_id,
            "generation": m.market.generation,
        }


def token_payout(payouts: tuple[int, int], outcome_index: int) -> float:
    return payouts[outcome_index] / sum(payouts)
