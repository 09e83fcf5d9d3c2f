"""Settlement: close positions whose market resolved, at the payout vector's value per share.

payout per share of outcome i = payout_numerators[i] / sum(payout_numerators)   ([1,0] -> 1 or 0,
a [1,1] split -> 0.5). realised P&L = shares * payout - cost - fees; the entry signal's
outcome_status becomes WIN when that is positive, LOSS otherwise. Exits that close positions at
the book price (a copied wallet sold) live in executor.py, with the other orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg

from orderflow_dagster.trading import store
from orderflow_dagster.trading.sources import resolutions_for_open_positions


@dataclass(frozen=True)
class Settled:
    position_id: int
    signal_id: int
    title: str
    outcome: str
    payout_per_share: Decimal
    realised_usd: Decimal

    @property
    def won(self) -> bool:
        return self.realised_usd > 0


def outcome_status(realised: Decimal) -> str:
    return "WIN" if realised > 0 else "LOSS"


def settle_resolved(conn: psycopg.Connection, now: datetime) -> list[Settled]:
    """Close every open position in a resolved market. Call inside the locked transaction."""
    settled = []
    for res in resolutions_for_open_positions(conn):
        for p in store.open_positions(conn, res.condition_id):
            payout = res.payout_per_share(p.outcome_index or 0)
            realised = p.shares * payout - p.cost_usd - p.fees_usd
            store.close_position(conn, p.id, exit_price=payout, realised=realised, extra_fees=Decimal(0),
                                 reason="RESOLVED", exit_signal_id=None, now=now)
            store.set_outcome_status(conn, p.signal_id, outcome_status(realised))
            settled.append(Settled(p.id, p.signal_id, p.market_title or p.condition_id, p.outcome or "", payout, realised))
    return settled
