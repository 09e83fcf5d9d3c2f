"""The walk forward: day by day, every strategy's decisions from trigger trades, fills, settlement.

Each UTC day D of [start, end), wallets are scored as of D's first instant (scoring.score_as_of:
only fills before it, only markets resolved before it). A BUY by a scored wallet during D is a
trigger; each strategy decides on it with the live signal rules (trading/signals.py `classify`:
market makers, resolved markets, prices outside [MIN, MAX]_SIGNAL_PRICE, a second entry for the
same wallet and market are skipped) and, for whale-follow and degen-fade, the live confidence
gate (MIN_SIGNAL_CONFIDENCE). Strategies:

- whale_follow: WHALE/SMART wallets with score >= MIN_WHALE_SCORE; buy what they bought.
- whale_follow_opposite: the control, buy the other outcome of every whale_follow entry.
- degen_fade: rated wallets with score <= MAX_FADE_SCORE; buy the other outcome.
- random_rated: each day k rated wallets drawn at random (seeded by the day); follow them.
- top_win_rate: each day the k wallets with the best raw win rate among those with at least
  min_resolved_markets resolved markets; follow them.
  k = max(baseline_wallets, the number of wallets whale_follow follows that day).

Every entry stakes `stake_usd` (flat: strategies compare per dollar; no portfolio caps, no
Kelly, whose stake is zero for wallets of average score). The following strategies (all but
degen_fade, as live) leave when the copied wallet sells that token (the live EXIT rule; the
control sells its opposite position then); otherwise a position settles at the payout per share.
Positions in markets unresolved when the data ends stay open and are excluded from the metrics
(counted). The calibration's predicted win probability is the sizing model's q (trading/sizing.py),
checked against whether the outcome bought won.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import polars as pl

from orderflow_dagster.backtest.fills import FillModel, Tape, paper_buy, paper_sell
from orderflow_dagster.backtest.scoring import ReputationParams, load_params, position_states, score_as_of
from orderflow_dagster.trading.brokers import OrderFailed
from orderflow_dagster.trading.config import TradingSettings
from orderflow_dagster.trading.signals import FOLLOWED_TIERS, Proposal, RuleContext, Skip, classify
from orderflow_dagster.trading.sizing import win_probability
from orderflow_dagster.trading.sources import Candidate, MarketView, TriggerTrade, WalletView

STRATEGIES = ("whale_follow", "whale_follow_opposite", "degen_fade", "random_rated", "top_win_rate")
BASELINES = ("random_rated", "top_win_rate")
FOLLOWERS = ("whale_follow", "whale_follow_opposite", *BASELINES)  # leave when the copied wallet sells


@dataclass(frozen=True)
class BacktestConfig:
    start: datetime
    end: datetime  # decisions in [start, end)
    trading: TradingSettings
    params: ReputationParams = field(default_factory=load_params)
    fill: FillModel = FillModel()
    stake_usd: float = 100.0
    baseline_wallets: int = 10
    seed: int = 0


@dataclass
class WalkResult:
    decisions: pl.DataFrame  # one row per strategy per decision, ENTRY or EXIT (FILLED, SKIPPED, REJECTED, FAILED)
    fills: pl.DataFrame  # the filled entries, closed by their exit or their market's resolution
    wallets_per_day: pl.DataFrame  # day, strategy, wallets followed


def utc_days(start: datetime, end: datetime) -> list[datetime]:
    day = datetime.combine(start.astimezone(timezone.utc).date(), datetime.min.time(), tzinfo=timezone.utc)
    out = []
    while day < end:
        out.append(day)
        day += timedelta(days=1)
    return out


def _views(scores: pl.DataFrame) -> dict[str, WalletView]:
    return {r["wallet_address"]: WalletView(score=r["reputation_score"], tier=r["trader_tier"],
                                            resolved_markets=r["resolved_markets"], avg_trade_usdc=r["avg_trade_usdc"],
                                            is_market_maker=r["is_market_maker"])
            for r in scores.iter_rows(named=True)}


def _baseline_sets(scores: pl.DataFrame, day: datetime, cfg: BacktestConfig) -> tuple[dict[str, set[str]], int]:
    rated = scores.filter(pl.col("reputation_score").is_not_null() & ~pl.col("is_market_maker"))
    followed = rated.filter(pl.col("trader_tier").is_in(list(FOLLOWED_TIERS))
                            & (pl.col("reputation_score") >= cfg.trading.min_whale_score)).height
    k = max(cfg.baseline_wallets, followed)
    pool = sorted(rated["wallet_address"].to_list())
    rng = random.Random(f"{cfg.seed}:{day.date().isoformat()}")  # the day's draw never depends on later data
    top = (rated.filter((pl.col("resolved_markets") >= cfg.params.min_resolved_markets) & pl.col("win_rate").is_not_null())
           .sort(["win_rate", "resolved_markets", "wallet_address"], descending=[True, True, False]).head(k))
    return {"random_rated": set(rng.sample(pool, min(k, len(pool)))), "top_win_rate": set(top["wallet_address"])}, followed


class _Walker:
    def __init__(self, frames, cfg: BacktestConfig):
        self.cfg = cfg
        self.frames_markets = frames.markets
        self.markets = {r["condition_id"]: r for r in frames.markets.iter_rows(named=True)}
        self.states = position_states(frames.trades)
        self.tape = Tape(frames.trades)
        t = cfg.trading
        self.rules = {
            "whale_follow": t.model_copy(update={"enable_whale_following": True, "enable_degen_fading": False}),
            "degen_fade": t.model_copy(update={"enable_whale_following": False, "enable_degen_fading": True}),
        }
        self.seen: dict[str, set] = {s: set() for s in STRATEGIES}
        self.open: dict[tuple[str, str, str], int] = {}  # (strategy, copied wallet, its token) -> entry row id
        self.rows: list[dict] = []

    def market_view(self, condition_id: str | None, outcome_index: int | None, at: datetime) -> MarketView:
        m = self.markets.get(condition_id) or {}
        resolved = m.get("resolved_at") is not None and m["resolved_at"] <= at
        other = {0: m.get("outcome_1_token_id"), 1: m.get("outcome_0_token_id")}.get(outcome_index)
        return MarketView(title=m.get("title") or str(condition_id), resolved=resolved, closed=False, disputed=False,
                          outcome_names=None, other_token_id=None if other is None else int(other))

    def run(self) -> WalkResult:
        per_day = []
        for day in utc_days(self.cfg.start, self.cfg.end):
            lo, hi = max(day, self.cfg.start), min(day + timedelta(days=1), self.cfg.end)
            scores = score_as_of(self.states, self.frames_markets, lo, self.cfg.params)
            views = _views(scores.filter(pl.col("reputation_score").is_not_null()))
            sets, followed = _baseline_sets(scores, day, self.cfg)
            per_day += [{"day": day, "strategy": "whale_follow", "wallets": followed},
                        *({"day": day, "strategy": s, "wallets": len(w)} for s, w in sets.items())]
            copied = list({w for _, w, _ in self.open})
            triggers = self.states.filter(
                (pl.col("timestamp") >= lo) & (pl.col("timestamp") < hi)
                & (((pl.col("side") == "BUY") & pl.col("wallet_address").is_in(list(views)))
                   | ((pl.col("side") == "SELL") & pl.col("wallet_address").is_in(copied))))
            for r in triggers.iter_rows(named=True):  # chain order: exits see the entries made before them
                if r["side"] == "BUY":
                    self.decide(r, views[r["wallet_address"]], sets)
                else:
                    self.exit(r)
        return self.result(pl.DataFrame(per_day))

    @staticmethod
    def trigger(r: dict) -> TriggerTrade:
        return TriggerTrade(tx_hash=str(r["block_number"]), log_index=r["log_index"], block_number=r["block_number"],
                            timestamp=r["timestamp"], wallet=r["wallet_address"], condition_id=r["condition_id"],
                            token_id=int(r["token_id"]), outcome_index=r["outcome_index"], outcome_name=None,
                            side=r["side"], price=r["price"], shares=r["shares"], usdc_amount=r["usdc_amount"],
                            neg_risk=False)

    def base(self, r: dict, strategy: str, kind: str, now: datetime, score: float | None) -> dict:
        return dict(kind=kind, strategy=strategy, trigger_at=r["timestamp"], decided_at=now, wallet=r["wallet_address"],
                    condition_id=r["condition_id"], block_number=r["block_number"], log_index=r["log_index"],
                    trigger_price=r["price"], score=score)

    def decide(self, r: dict, view: WalletView, sets: dict[str, set[str]]) -> None:
        trade = self.trigger(r)
        now = r["timestamp"] + timedelta(seconds=self.cfg.fill.latency_seconds)
        market = self.market_view(r["condition_id"], r["outcome_index"], now)
        for strategy in ("whale_follow", "degen_fade", *BASELINES):
            if strategy in BASELINES:
                if r["wallet_address"] not in sets[strategy]:
                    continue
                # a baseline follows its chosen wallets through the same rules, as a wallet the rule follows
                wallet = WalletView(10.0, "WHALE", view.resolved_markets, view.avg_trade_usdc, False)
                rules = self.rules["whale_follow"]
            else:
                wallet, rules = view, self.rules[strategy]
            key = (r["wallet_address"], r["condition_id"])
            ctx = RuleContext(now=now, our_wallets=frozenset(), has_entry_signal=key in self.seen[strategy],
                              copied_open_position=False)
            out = classify(Candidate(trade, wallet, market), rules, ctx)
            if out is None:
                continue
            base = self.base(r, strategy, "ENTRY", now, view.score)
            if isinstance(out, Skip):
                self.rows.append({**base, "status": "SKIPPED", "reason": out.code})
                continue
            self.seen[strategy].add(key)
            q = win_probability(out.reference_price, view.score)
            if strategy not in BASELINES and out.confidence < self.cfg.trading.min_signal_confidence:
                self.rows.append({**base, "status": "REJECTED", "reason": "low_confidence", "confidence": out.confidence})
                continue
            self.enter(base, r["token_id"], out.outcome_index, out.reference_price, q, out.confidence)
            if strategy == "whale_follow":
                opposite = {**base, "strategy": "whale_follow_opposite"}
                if market.other_token_id is None:
                    self.rows.append({**opposite, "status": "SKIPPED", "reason": "unknown_complement"})
                else:
                    self.enter(opposite, r["token_id"], 1 - out.outcome_index, 1.0 - out.reference_price, 1.0 - q,
                               out.confidence)

    def fill(self, row: dict, outcome_index: int, order) -> dict:
        """The row with its fill: at the next trade after the decision, through `order(market_price)`."""
        m = self.cfg.fill
        at_us = int(row["decided_at"].timestamp() * 1_000_000)
        nxt = self.tape.next_price(row["condition_id"], outcome_index, at_us, int(m.max_wait_seconds * 1_000_000))
        if nxt is None:
            return {**row, "status": "FAILED", "reason": "no_trade_after_latency"}
        filled_at = datetime.fromtimestamp(nxt[0] / 1_000_000, tz=timezone.utc)
        if self.market_view(row["condition_id"], outcome_index, filled_at).resolved:
            return {**row, "status": "FAILED", "reason": "market_resolved"}
        fill = order(nxt[1])
        if isinstance(fill, OrderFailed):
            return {**row, "status": "FAILED", "reason": "unfillable", "market_price": nxt[1]}
        return {**row, "status": "FILLED", "reason": None, "market_price": nxt[1], "filled_at": filled_at,
                "fill_price": float(fill.avg_price), "shares": float(fill.shares),
                "notional": float(fill.notional_usd), "fee": float(fill.fee_usd)}

    def enter(self, base: dict, trigger_token: str, outcome_index: int, reference_price: float, q: float,
              conf: float) -> None:
        row = {**base, "id": len(self.rows), "outcome_index": outcome_index, "reference_price": reference_price,
               "predicted_q": q, "confidence": conf}
        row = self.fill(row, outcome_index,
                        lambda price: paper_buy(reference_price, price, self.cfg.stake_usd, self.cfg.fill))
        self.rows.append(row)
        if row["status"] == "FILLED" and row["strategy"] in FOLLOWERS:
            self.open[(row["strategy"], row["wallet"], trigger_token)] = row["id"]

    def exit(self, r: dict) -> None:
        """The copied wallet sells the token it bought: followers sell their position too (live EXIT rule)."""
        now = r["timestamp"] + timedelta(seconds=self.cfg.fill.latency_seconds)
        for strategy in FOLLOWERS:
            entry_id = self.open.get((strategy, r["wallet_address"], r["token_id"]))
            if entry_id is None:
                continue
            entry = self.rows[entry_id]
            if entry["filled_at"] > now:  # the copied wallet sold before our entry filled: nothing to sell yet
                continue
            ctx = RuleContext(now=now, our_wallets=frozenset(), has_entry_signal=True, copied_open_position=True)
            market = self.market_view(r["condition_id"], r["outcome_index"], now)
            out = classify(Candidate(self.trigger(r), WalletView(None, None, None, None, False), market),
                           self.rules["whale_follow"], ctx)
            base = {**self.base(r, strategy, "EXIT", now, entry["score"]), "entry_id": entry_id,
                    "outcome_index": entry["outcome_index"]}
            if isinstance(out, Skip):
                self.rows.append({**base, "status": "SKIPPED", "reason": out.code})
                continue
            ours = entry["outcome_index"]
            reference = r["price"] if ours == r["outcome_index"] else 1.0 - r["price"]
            row = self.fill({**base, "id": len(self.rows), "reference_price": reference}, ours,
                            lambda price: paper_sell(reference, price, entry["shares"], self.cfg.fill))
            self.rows.append(row)
            if row["status"] == "FILLED":
                del self.open[(strategy, r["wallet_address"], r["token_id"])]

    def result(self, per_day: pl.DataFrame) -> WalkResult:
        decisions = pl.DataFrame([{k: row.get(k) for k in DECISION_SCHEMA} for row in self.rows], schema=DECISION_SCHEMA)
        return WalkResult(decisions, settle(decisions, self.frames_markets), per_day)


DECISION_SCHEMA = {
    "id": pl.Int64, "kind": pl.String, "entry_id": pl.Int64, "strategy": pl.String, "trigger_at": pl.Datetime("us", "UTC"),
    "decided_at": pl.Datetime("us", "UTC"), "wallet": pl.String, "condition_id": pl.String, "block_number": pl.Int64,
    "log_index": pl.Int64, "trigger_price": pl.Float64, "score": pl.Float64, "status": pl.String, "reason": pl.String,
    "outcome_index": pl.Int64, "reference_price": pl.Float64, "predicted_q": pl.Float64, "confidence": pl.Float64,
    "market_price": pl.Float64, "filled_at": pl.Datetime("us", "UTC"), "fill_price": pl.Float64, "shares": pl.Float64,
    "notional": pl.Float64, "fee": pl.Float64,
}


def settle(decisions: pl.DataFrame, markets: pl.DataFrame) -> pl.DataFrame:
    """Filled entries, closed by their filled exit or else at their market's payout per share.

    value = exit proceeds or shares x payout; fees = entry + exit fees; pnl = value - notional - fees;
    closed_at = the exit's fill or the resolution (null: still open when the data ends);
    outcome_won = the outcome bought won at resolution (for the calibration), whether or not we exited.
    """
    filled = pl.col("status") == "FILLED"
    exits = decisions.filter(filled & (pl.col("kind") == "EXIT")).select(
        pl.col("entry_id").alias("id"), pl.col("filled_at").alias("exit_at"), pl.col("fill_price").alias("exit_price"),
        pl.col("notional").alias("exit_value"), pl.col("fee").alias("exit_fee"))
    res = markets.select("condition_id", "resolved_at", "payout_fractions")
    return (decisions.filter(filled & (pl.col("kind") == "ENTRY")).rename({"fill_price": "entry_price"})
            .join(exits, on="id", how="left").join(res, on="condition_id", how="left")
            .with_columns(payout=pl.when(pl.col("resolved_at") >= pl.col("filled_at"))
                          .then(pl.col("payout_fractions").list.get(pl.col("outcome_index"), null_on_oob=True)))
            .with_columns(closed_at=pl.coalesce("exit_at", pl.when(pl.col("payout").is_not_null())
                                                .then(pl.col("resolved_at"))),
                          value=pl.coalesce("exit_value", pl.col("shares") * pl.col("payout")),
                          fees=pl.col("fee") + pl.col("exit_fee").fill_null(0.0),
                          outcome_won=pl.col("payout") > 0.5)
            .with_columns(pnl=pl.col("value") - pl.col("notional") - pl.col("fees"))
            .with_columns(won=pl.col("pnl") > 0)
            .drop("resolved_at", "payout_fractions", "kind", "entry_id"))


def walk_forward(frames, cfg: BacktestConfig) -> WalkResult:
    """Every strategy over [cfg.start, cfg.end) on `frames` (data.Frames)."""
    return _Walker(frames, cfg).run()
