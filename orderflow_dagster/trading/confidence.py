"""How sure we are that a trigger trade is worth copying (or fading): a number in [0, 1].

    confidence = 0.50 * skill + 0.20 * history + 0.15 * conviction + 0.15 * price_room

    skill       the wallet's shrunk skill on the side we take: score / 10 when following,
                (10 - score) / 10 when fading. `reputation_score` is already shrunk toward the
                population by the dbt model, so a short lucky record does not score high.
    history     n / (n + 20), n = the wallet's resolved markets: 0.5 at the rating minimum of
                20, 0.83 at 100. More evidence, more trust.
    conviction  r / (r + 1), r = trade USDC / the wallet's average trade USDC: 0.5 at its usual
                size, 0.75 at three times it. A wallet betting big believes more.
    price_room  2 * sqrt(p * (1 - p)), p = the trigger price: 1 at 0.5, 0.6 at 0.1 or 0.9.
                Near 0 or 1 little is left to win and the price says little about skill.

Weights sum to 1 and every term is in [0, 1], so confidence is too. With the defaults a
follow passes MIN_SIGNAL_CONFIDENCE=0.7 when, e.g., score 8.5, 50 resolved markets, twice the
usual size at 0.55 (0.82); a borderline score-7 wallet with 20 markets at its usual size and
price 0.5 does not (0.675).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SKILL_WEIGHT = 0.50
HISTORY_WEIGHT = 0.20
CONVICTION_WEIGHT = 0.15
PRICE_WEIGHT = 0.15
HISTORY_HALF_POINT = 20  # resolved markets at which history counts one half


@dataclass(frozen=True)
class ConfidenceInputs:
    score: float  # reputation_score, 0..10
    resolved_markets: int | None
    trade_usdc: float
    avg_trade_usdc: float | None
    price: float  # trigger price of the outcome the wallet bought, 0..1
    fade: bool = False  # True when we bet against the wallet


def _clamp01(x: float) -> float:
    return min(1.0, max(0.0, x))


def skill_term(score: float, fade: bool) -> float:
    s = _clamp01(score / 10.0)
    return 1.0 - s if fade else s


def history_term(resolved_markets: int | None) -> float:
    n = max(0, resolved_markets or 0)
    return n / (n + HISTORY_HALF_POINT)


def conviction_term(trade_usdc: float, avg_trade_usdc: float | None) -> float:
    if not avg_trade_usdc or avg_trade_usdc <= 0:
        return 0.5  # no usual size known: neutral
    r = max(0.0, trade_usdc) / avg_trade_usdc
    return r / (r + 1.0)


def price_term(price: float) -> float:
    p = _clamp01(price)
    return 2.0 * math.sqrt(p * (1.0 - p))


def confidence(x: ConfidenceInputs) -> float:
    value = (SKILL_WEIGHT * skill_term(x.score, x.fade)
             + HISTORY_WEIGHT * history_term(x.resolved_markets)
             + CONVICTION_WEIGHT * conviction_term(x.trade_usdc, x.avg_trade_usdc)
             + PRICE_WEIGHT * price_term(x.price))
    return round(_clamp01(value), 4)
