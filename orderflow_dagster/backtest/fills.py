"""Paper fills without historical order books: the slippage model.

There are no past order books, so the book we would have met is modelled:

1. Latency: we act `latency_seconds` after the trigger trade; the price we meet is the next
   trade in that market at or after then (either outcome token; the other token's price p gives
   1 - p), within `max_wait_seconds`, else no fill. The fill happens at that trade's time.
2. Spread and impact: the best ask is that price plus `half_spread`, rounded up to the tick (the
   best bid: minus it, rounded down), and each further tick holds `depth_usd_per_tick` dollars of
   shares; the order walks these levels with the paper broker's own code (trading/brokers.py
   `walk_buy` / `walk_sell`, FOK, fee = shares * rate * p * (1 - p) per level), never past the
   live worst price (trigger price +/- MAX_SLIPPAGE, `buy_price_cap` / `sell_price_floor`).
   A market that ran away from the trigger price leaves the order unfilled, as live.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import polars as pl

from orderflow_dagster.trading.brokers import (SHARE_QUANTUM, Book, Fill, Level, OrderFailed, OrderRequest,
                                               buy_price_cap, ceil_to_tick, fill_from_walk, floor_to_tick,
                                               sell_price_floor, walk_buy, walk_sell)


@dataclass(frozen=True)
class FillModel:
    latency_seconds: float = 30.0
    max_wait_seconds: float = 3600.0
    half_spread: float = 0.01
    depth_usd_per_tick: float = 250.0
    levels: int = 30
    tick: Decimal = Decimal("0.01")
    fee_rate: float = 0.0  # PAPER_FEE_RATE
    max_slippage: float = 0.03  # MAX_SLIPPAGE


class Tape:
    """Every market's trades in time order, as the price of outcome 0: where the next price comes from."""

    def __init__(self, trades: pl.DataFrame):
        t = (trades.filter(pl.col("condition_id").is_not_null() & pl.col("outcome_index").is_in([0, 1]))
             .sort("timestamp", "chain_id", "block_number", "log_index")
             .select("condition_id", pl.col("timestamp").dt.epoch("us").alias("ts"),
                     pl.when(pl.col("outcome_index") == 0).then(pl.col("price")).otherwise(1 - pl.col("price")).alias("p0")))
        self.by_market = {k[0]: (g["ts"].to_numpy(), g["p0"].to_numpy())
                          for k, g in t.partition_by("condition_id", as_dict=True, maintain_order=True).items()}

    def next_price(self, condition_id: str, outcome_index: int, at_us: int, max_wait_us: int) -> tuple[int, float] | None:
        """(time, price of `outcome_index`) of the first trade at or after `at_us`, within the wait."""
        ts, p0 = self.by_market.get(condition_id, (np.empty(0, np.int64), None))
        i = int(np.searchsorted(ts, at_us, side="left"))
        if i >= len(ts) or ts[i] > at_us + max_wait_us:
            return None
        return int(ts[i]), float(p0[i] if outcome_index == 0 else 1.0 - p0[i])


def _levels(prices: list[Decimal], m: FillModel) -> tuple[Level, ...]:
    return tuple(Level(p, (Decimal(str(m.depth_usd_per_tick)) / p).quantize(SHARE_QUANTUM)) for p in prices if 0 < p < 1)


def modelled_asks(price: float, m: FillModel) -> tuple[Level, ...]:
    best = ceil_to_tick(Decimal(str(price)) + Decimal(str(m.half_spread)), m.tick)
    return _levels([best + i * m.tick for i in range(m.levels)], m)


def modelled_bids(price: float, m: FillModel) -> tuple[Level, ...]:
    best = floor_to_tick(Decimal(str(price)) - Decimal(str(m.half_spread)), m.tick)
    return _levels([best - i * m.tick for i in range(m.levels)], m)


def paper_buy(reference_price: float, market_price: float, stake_usd: float, m: FillModel) -> Fill | OrderFailed:
    """Spend `stake_usd` on the modelled asks over `market_price`, FOK, never above the live worst price."""
    asks = modelled_asks(market_price, m)
    worst = buy_price_cap(reference_price, m.max_slippage, m.tick)
    amount = Decimal(str(stake_usd))
    order = OrderRequest("BUY", 0, "", amount, worst, "FOK", False)
    return fill_from_walk(order, Book(0, (), asks, m.tick, False), walk_buy(asks, amount, worst, Decimal(str(m.fee_rate))))


def paper_sell(reference_price: float, market_price: float, shares: float, m: FillModel) -> Fill | OrderFailed:
    """Sell `shares` into the modelled bids under `market_price`, FOK, never below the live worst price."""
    bids = modelled_bids(market_price, m)
    worst = sell_price_floor(reference_price, m.max_slippage, m.tick)
    amount = Decimal(str(shares)).quantize(SHARE_QUANTUM)
    order = OrderRequest("SELL", 0, "", amount, worst, "FOK", False)
    return fill_from_walk(order, Book(0, bids, (), m.tick, False), walk_sell(bids, amount, worst, Decimal(str(m.fee_rate))))
