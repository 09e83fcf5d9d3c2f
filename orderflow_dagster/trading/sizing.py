"""Position size: fractional Kelly for a binary share, then the caps.

A share bought at price p pays 1 if its outcome wins (net odds b = (1 - p) / p). With win
probability q the Kelly fraction of the bankroll is

    f* = (b q - (1 - q)) / b = (q - p) / (1 - p)          (0 when q <= p: no edge, no bet)

and we stake  KELLY_FRACTION * f* * BANKROLL_USD, capped by MAX_POSITION_USD, by the
bankroll not already at risk, and by what the per-market exposure cap leaves.

q comes from the wallet's calibrated skill. s = (score - 5) / 5 in [-1, 1] is how far the
(shrunk) reputation sits from an average wallet. The side we take is priced at p_ref by the
trigger trade (for a fade, 1 - the price the wallet paid), and we move it toward 1 by a share
|s| * EDGE_AT_PERFECT_SCORE of the room left:

    q = p_ref + |s| * EDGE_AT_PERFECT_SCORE * (1 - p_ref)

So a perfect score (10, or 0 when fading) claims a fifth of the remaining room, a 7 claims
8 %. At our own entry price p = p_ref, f* = |s| * 0.2 whatever the price; paying more than
p_ref (slippage) shrinks f* and eventually to nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EDGE_AT_PERFECT_SCORE = 0.20
MIN_ORDER_USD = 1.0  # Polymarket's minimum marketable order


def skill_from_score(score: float) -> float:
    return max(-1.0, min(1.0, (score - 5.0) / 5.0))


def win_probability(reference_price: float, score: float) -> float:
    """q for the outcome we buy, priced at `reference_price` by the trigger trade."""
    edge_share = abs(skill_from_score(score)) * EDGE_AT_PERFECT_SCORE
    return reference_price + edge_share * (1.0 - reference_price)


def kelly_fraction_of_bankroll(price: float, q: float) -> float:
    """f* = (q - p) / (1 - p) for a share bought at `price` paying 1 with probability q."""
    if not 0.0 < price < 1.0 or q <= price:
        return 0.0
    return min(1.0, (q - price) / (1.0 - price))


@dataclass(frozen=True)
class Stake:
    usd: float
    kelly_usd: float  # before caps
    q: float
    f_star: float
    capped_by: str | None  # which cap bound the stake, if any


def stake(price: float, q: float, *, kelly_fraction: float, bankroll_usd: float, max_position_usd: float,
          bankroll_free_usd: float, market_room_usd: float) -> Stake:
    """Dollars to spend on shares at `price`, after every cap."""
    f = kelly_fraction_of_bankroll(price, q)
    kelly_usd = kelly_fraction * f * bankroll_usd
    caps = {
        "MAX_POSITION_USD": max_position_usd,
        "BANKROLL_USD": max(0.0, bankroll_free_usd),
        "MAX_MARKET_EXPOSURE_USD": max(0.0, market_room_usd),
    }
    usd, capped_by = kelly_usd, None
    for name, cap in caps.items():
        if cap < usd:
            usd, capped_by = cap, name
    # Whole cents, rounded down so a cap is never exceeded (after rounding away float noise like 349.99999).
    return Stake(usd=math.floor(round(usd * 100, 6)) / 100 if usd > 0 else 0.0, kelly_usd=kelly_usd, q=q, f_star=f, capped_by=capped_by)
