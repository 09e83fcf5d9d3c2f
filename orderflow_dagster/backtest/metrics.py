"""Per-strategy metrics of settled fills, and their confidence intervals by bootstrap over markets.

For closed positions i (notional N_i paid for the shares, fees F_i of entry and exit, value V_i =
the exit's proceeds, or shares x payout at resolution):

    trades           number of closed positions
    win_rate         share of positions with P&L > 0
    edge_per_dollar  (sum V - sum N) / sum N: what the exit or payout beat the entry price by, per
                     dollar, before fees (0 = entry prices were fair on average)
    pnl              sum (V - N - F)
    roi              pnl / sum (N + F)
    max_drawdown     the deepest fall of cumulative P&L (in closing order) below its running peak, peak from 0
    sharpe           mean / sd of daily P&L over every calendar day from the first to the last
                     close (days without one count 0), times sqrt(365); None under 2 days or sd 0

Fills in one market are not independent (one outcome settles them all), so the bootstrap
resamples markets with replacement and keeps each drawn market's fills together; the interval
is the percentile interval of the resampled metric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

METRICS = ("trades", "win_rate", "edge_per_dollar", "pnl", "roi", "max_drawdown", "sharpe")


@dataclass(frozen=True)
class Settled:
    """Closed positions as arrays, in closing order."""
    market: np.ndarray  # int codes
    day: np.ndarray  # closing day number (days since the epoch)
    notional: np.ndarray
    fee: np.ndarray
    value: np.ndarray

    @classmethod
    def from_frame(cls, fills: pl.DataFrame) -> Settled:
        f = fills.filter(pl.col("closed_at").is_not_null()).sort("closed_at", "filled_at")
        return cls(market=f["condition_id"].rank("dense").to_numpy().astype(np.int64),
                   day=(f["closed_at"].dt.epoch("d")).to_numpy().astype(np.int64),
                   notional=f["notional"].to_numpy().astype(float), fee=f["fees"].to_numpy().astype(float),
                   value=f["value"].to_numpy().astype(float))

    def take(self, idx: np.ndarray) -> Settled:
        idx = np.sort(idx, kind="stable")  # keeps closing order (rows are in it)
        return Settled(self.market[idx], self.day[idx], self.notional[idx], self.fee[idx], self.value[idx])

    @property
    def pnl(self) -> np.ndarray:
        return self.value - self.notional - self.fee


def max_drawdown(pnl_in_order: np.ndarray) -> float:
    cum = np.concatenate([[0.0], np.cumsum(pnl_in_order)])
    return float(np.max(np.maximum.accumulate(cum) - cum))


def sharpe(day: np.ndarray, pnl: np.ndarray) -> float | None:
    if len(day) == 0:
        return None
    daily = np.bincount(day - day.min(), weights=pnl)
    if len(daily) < 2:
        return None
    sd = float(np.std(daily, ddof=1))
    return None if sd == 0 else float(np.mean(daily) / sd * math.sqrt(365))


def metrics(s: Settled) -> dict[str, float | None]:
    n, pnl = len(s.notional), s.pnl
    if n == 0:
        return {"trades": 0, **{k: None for k in METRICS[1:]}}
    cost = s.notional.sum()
    return {"trades": n, "win_rate": float(np.mean(pnl > 0)),
            "edge_per_dollar": float((s.value.sum() - cost) / cost) if cost > 0 else None,
            "pnl": float(pnl.sum()), "roi": float(pnl.sum() / (cost + s.fee.sum())) if cost + s.fee.sum() > 0 else None,
            "max_drawdown": max_drawdown(pnl), "sharpe": sharpe(s.day, pnl)}


def bootstrap_over_markets(s: Settled, n_resamples: int = 1000, level: float = 0.95,
                           seed: int = 0) -> dict[str, tuple[float, float] | None]:
    """Percentile intervals of every metric, resampling whole markets with replacement."""
    if len(s.market) == 0:
        return {k: None for k in METRICS}
    markets, inverse = np.unique(s.market, return_inverse=True)
    rows = [np.flatnonzero(inverse == i) for i in range(len(markets))]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in METRICS}
    for _ in range(n_resamples):
        pick = rng.integers(0, len(markets), len(markets))
        for k, v in metrics(s.take(np.concatenate([rows[i] for i in pick]))).items():
            if v is not None:
                draws[k].append(v)
    tail = (1 - level) / 2 * 100
    return {k: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))) if v else None
            for k, v in draws.items()}
