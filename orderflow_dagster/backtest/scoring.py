"""The reputation formula of dbt (macros/reputation.sql, docs `reputation_formula`) as of a time.

`score_as_of(states, markets, t)` scores every wallet from its fills strictly before `t` and the
markets resolved strictly before `t`, with the knobs read from dbt_project.yml's vars: the same
numbers dbt writes to orderflow_wallet_stats when its scored_at is `t` and it has the same data
(tests/integration/test_backtest.py checks that, so the two cannot drift apart silently).

Positions are kept by average cost exactly as `orderflow_position_step` does (`position_accounting`);
`position_states` runs every fill through it once and records the state after each fill, so a
score as of any time is the last state per (wallet, token) before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import yaml

DBT_PROJECT_YML = Path(__file__).resolve().parents[2] / "dbt_project" / "dbt_project.yml"
TIERS = ("MARKET_MAKER", "UNRATED", "WHALE", "SMART", "DEGEN", "NEUTRAL")


@dataclass(frozen=True)
class ReputationParams:
    """The dbt vars of the reputation formula (names as in dbt_project.yml)."""
    min_resolved_markets: int
    evidence_half_life_days: float
    edge_hurdle: float
    edge_clip: float
    prior_min_markets: int
    prior_min_skill_sd: float
    min_market_edge_sd: float
    smart_min_score: float
    whale_min_score: float
    whale_min_capital_usd: float
    degen_max_score: float
    mm_min_trades: int
    mm_min_trades_per_day: float
    mm_min_two_sided_ratio: float
    mm_max_inventory_ratio: float
    mm_max_taker_share: float


def load_params(path: Path = DBT_PROJECT_YML, **overrides) -> ReputationParams:
    """The formula's vars from dbt_project.yml (overrides as `dbt --vars` would give them)."""
    values = {**yaml.safe_load(path.read_text())["vars"], **overrides}
    return ReputationParams(**{f.name: (int if f.type == "int" else float)(values[f.name])
                               for f in fields(ReputationParams)})


def _position_step(s, c, r, k, o, delta, cash):
    """orderflow_position_step: state (shares, cost basis, realised, capital, shares opened) after a fill."""
    if delta == 0:
        return s, c - cash, r, k - min(cash, 0.0), o
    if s == 0 or (s > 0) == (delta > 0):
        return s + delta, c - cash, r, k + (-cash if delta > 0 else -delta - cash), o + abs(delta)
    if abs(delta) <= abs(s):
        part = c * abs(delta) / abs(s)
        return s + delta, c - part, r + cash - part, k, o
    closing = cash * abs(s) / abs(delta)
    left, opening = s + delta, cash - closing
    return left, -opening, r + closing - c, k + (-opening if left > 0 else -left - opening), o + abs(left)


def position_states(trades: pl.DataFrame) -> pl.DataFrame:
    """Every fill (orderflow_trades columns) with its (wallet, token) position and running totals after it."""
    t = trades.sort("chain_id", "block_number", "log_index").with_columns(
        delta=pl.when(pl.col("side") == "BUY")
        .then(pl.col("shares") - pl.when(pl.col("fee_unit") == "SHARES").then(pl.col("fee")).otherwise(0.0))
        .otherwise(-pl.col("shares")),
        cash=pl.when(pl.col("side") == "BUY").then(-pl.col("usdc_amount")).otherwise(pl.col("usdc_amount"))
        - pl.when(pl.col("fee_unit") == "USDC").then(pl.col("fee")).otherwise(0.0),
    )
    state: dict[tuple, tuple] = {}
    out = np.empty((t.height, 5))
    keys = zip(t["wallet_address"].to_list(), t["token_id"].to_list())
    for i, (key, delta, cash) in enumerate(zip(keys, t["delta"].to_numpy(), t["cash"].to_numpy())):
        state[key] = _position_step(*state.get(key, (0.0, 0.0, 0.0, 0.0, 0.0)), float(delta), float(cash))
        out[i] = state[key]
    key = ["wallet_address", "token_id"]
    buy = pl.col("side") == "BUY"
    return t.with_columns(
        pl.Series("pos_shares", out[:, 0]), pl.Series("pos_cost", out[:, 1]), pl.Series("pos_realised", out[:, 2]),
        pl.Series("pos_capital", out[:, 3]), pl.Series("pos_opened", out[:, 4]),
        cum_trades=pl.int_range(1, pl.len() + 1).over(key),
        cum_taker=pl.col("is_taker").cast(pl.Int64).cum_sum().over(key),
        cum_bought=pl.when(buy).then(pl.col("shares")).otherwise(0.0).cum_sum().over(key),
        cum_sold=pl.when(buy).then(0.0).otherwise(pl.col("shares")).cum_sum().over(key),
        cum_volume=pl.col("usdc_amount").cum_sum().over(key),
        first_at=pl.col("timestamp").first().over(key),
    ).drop("delta", "cash")


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """orderflow_normal_cdf: Abramowitz & Stegun 7.1.26, the same approximation dbt uses."""
    x = np.asarray(x, dtype=float)
    t = 1 / (1 + 0.3275911 * np.abs(x) / math.sqrt(2.0))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return 0.5 * (1 + np.sign(x) * (1 - poly * np.exp(-x * x / 2)))


def _wallet_markets(states: pl.DataFrame, markets: pl.DataFrame, t: datetime, p: ReputationParams) -> pl.DataFrame:
    """int_wallet_markets_accumulated as of t: one row per wallet per market, with its evidence."""
    resolved = markets.filter(pl.col("resolved_at") < t).select("condition_id", "resolved_at", "payout_fractions")
    pos = (states.filter(pl.col("timestamp") < t).group_by("wallet_address", "token_id", maintain_order=True).last()
           .join(resolved, on="condition_id", how="left")
           .with_columns(settlement=pl.when(pl.col("resolved_at").is_not_null()).then(
               pl.col("pos_shares") * pl.col("payout_fractions").list.get(pl.col("outcome_index"), null_on_oob=True)
               - pl.col("pos_cost")),
               market_key=pl.coalesce("condition_id", pl.lit("token:") + pl.col("token_id"))))
    wm = pos.group_by("wallet_address", "market_key").agg(
        pl.col("resolved_at").max(), pl.col("cum_trades").sum().alias("trades"), pl.col("cum_taker").sum().alias("taker"),
        pl.col("cum_volume").sum().alias("volume"), pl.col("pos_capital").sum().alias("capital"),
        pl.col("cum_bought").sum().alias("bought"), pl.col("cum_sold").sum().alias("sold"),
        pl.col("pos_shares").abs().sum().alias("inventory"), pl.col("pos_opened").sum().alias("opened"),
        (pl.col("pos_realised").sum() + pl.col("settlement").fill_null(0.0).sum()).alias("settled"),
        pl.col("first_at").min(), pl.col("timestamp").max().alias("last_at"))
    evidence = pl.col("resolved_at").is_not_null() & (pl.col("opened") > 0)
    days_old = (pl.lit(t) - pl.col("resolved_at")).dt.total_microseconds() / 86_400e6
    return wm.with_columns(
        is_evidence=evidence,
        edge=pl.when(evidence).then((pl.col("settled") / pl.col("opened")).clip(-p.edge_clip, p.edge_clip)),
        weight=pl.when(evidence).then(0.5 ** (days_old / p.evidence_half_life_days)),
    )


def score_as_of(states: pl.DataFrame, markets: pl.DataFrame, t: datetime, p: ReputationParams) -> pl.DataFrame:
    """Every wallet with a fill before t: its score and tier as dbt computes them with scored_at = t.

    `states` from position_states; `markets` has condition_id, resolved_at, payout_fractions (list of floats).
    """
    wm = _wallet_markets(states, markets, t, p)
    w = wm.group_by("wallet_address").agg(
        pl.col("trades").sum(), pl.col("taker").sum(), pl.col("volume").sum(), pl.col("capital").sum(),
        pl.col("bought").sum(), pl.col("sold").sum(), pl.col("inventory").sum(), pl.len().alias("markets_traded"),
        pl.col("is_evidence").sum().alias("resolved_markets"),
        (pl.col("is_evidence") & (pl.col("settled") > 0)).sum().alias("wins"),
        (pl.col("is_evidence") & (pl.col("settled") < 0)).sum().alias("losses"),
        pl.col("weight").sum().alias("ew"), (pl.col("weight") * pl.col("edge")).sum().alias("wes"),
        (pl.col("weight") * pl.col("edge") ** 2).sum().alias("wes2"),
        pl.col("first_at").min(), pl.col("last_at").max(),
    ).sort("wallet_address")
    ew, wes, wes2 = (w[c].fill_null(0.0).to_numpy().astype(float) for c in ("ew", "wes", "wes2"))
    n = w["resolved_markets"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_edge = np.where(ew > 0, wes / ew, np.nan)
        prior = (n >= p.prior_min_markets) & (ew > 0)
        total_w = ew[prior].sum()
        mu = wes[prior].sum() / total_w if total_w > 0 else 0.0
        sigma2 = max((wes2[prior] - wes[prior] ** 2 / ew[prior]).sum() / total_w if total_w > 0 else 0.0,
                     p.min_market_edge_sd ** 2)
        tau2 = max(float(np.var(mean_edge[prior]) - np.mean(sigma2 / ew[prior])) if prior.any() else 0.0,
                   p.prior_min_skill_sd ** 2)
        prior_var = tau2 + (sigma2 / total_w + tau2 * (ew[prior] ** 2).sum() / total_w ** 2 if total_w > 0 else tau2)
        shrink = sigma2 / (sigma2 + ew * prior_var)
        post = np.where(ew > 0, shrink * mu + (1 - shrink) * mean_edge, mu)
        post_var = 1.0 / (1.0 / prior_var + ew / sigma2)
        raw = 10 * normal_cdf((post - p.edge_hurdle) / np.sqrt(post_var))
    score = np.where(n >= p.min_resolved_markets, np.floor(raw * 1000 + 0.5) / 1000, np.nan)
    most = pl.max_horizontal("bought", "sold")
    out = w.with_columns(
        pl.Series("reputation_score", score, nan_to_null=True), pl.Series("mean_edge", mean_edge, nan_to_null=True),
        pl.Series("posterior_edge", post), pl.Series("posterior_edge_sd", np.sqrt(post_var)),
        trades_per_day=pl.col("trades") / pl.max_horizontal(
            pl.lit(1.0), (pl.col("last_at") - pl.col("first_at")).dt.total_microseconds() / 86_400e6),
        two_sided=pl.when(most > 0).then(pl.min_horizontal("bought", "sold") / most),
        inventory_ratio=pl.when(most > 0).then(pl.col("inventory") / most),
        capital_at_risk_usd=pl.col("capital") / pl.col("markets_traded"),
        avg_trade_usdc=pl.col("volume") / pl.col("trades"),
        win_rate=pl.when(pl.col("wins") + pl.col("losses") > 0).then(pl.col("wins") / (pl.col("wins") + pl.col("losses"))),
    ).with_columns(is_market_maker=(
        (pl.col("trades") >= p.mm_min_trades) & (pl.col("trades_per_day") >= p.mm_min_trades_per_day)
        & (pl.col("two_sided") >= p.mm_min_two_sided_ratio) & (pl.col("inventory_ratio") <= p.mm_max_inventory_ratio)
        & (pl.col("taker") <= p.mm_max_taker_share * pl.col("trades"))
    ).fill_null(False))
    score_col = pl.col("reputation_score")
    return out.with_columns(trader_tier=pl.when(pl.col("is_market_maker")).then(pl.lit("MARKET_MAKER"))
                            .when(score_col.is_null()).then(pl.lit("UNRATED"))
                            .when((score_col >= p.whale_min_score)
                                  & (pl.col("capital_at_risk_usd") >= p.whale_min_capital_usd)).then(pl.lit("WHALE"))
                            .when(score_col >= p.smart_min_score).then(pl.lit("SMART"))
                            .when(score_col <= p.degen_max_score).then(pl.lit("DEGEN"))
                            .otherwise(pl.lit("NEUTRAL")))
