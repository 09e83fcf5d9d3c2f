"""The confidence formula and fractional Kelly sizing for a binary share."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow_dagster.trading.confidence import (
    ConfidenceInputs, confidence, conviction_term, history_term, price_term, skill_term,
)
from orderflow_dagster.trading.sizing import kelly_fraction_of_bankroll, stake, win_probability

scores = st.floats(0, 10)
prices = st.floats(0.01, 0.99)


def test_documented_examples():
    assert confidence(ConfidenceInputs(8.5, 50, 2000, 1000, 0.55)) == 0.8171
    assert confidence(ConfidenceInputs(7.0, 20, 1000, 1000, 0.5)) == 0.675


def test_terms():
    assert skill_term(8, fade=False) == 0.8 and skill_term(2, fade=True) == 0.8
    assert history_term(20) == 0.5 and history_term(None) == 0 and history_term(100) == pytest.approx(100 / 120)
    assert conviction_term(500, 500) == 0.5 and conviction_term(1500, 500) == 0.75 and conviction_term(5, None) == 0.5
    assert price_term(0.5) == 1.0 and price_term(0.9) == pytest.approx(0.6) and price_term(0.0) == 0.0


@given(scores, st.integers(0, 10_000), st.floats(0, 1e7), st.floats(0.01, 1e6), prices, st.booleans())
def test_confidence_is_in_unit_interval(score, n, usdc, avg, p, fade):
    assert 0.0 <= confidence(ConfidenceInputs(score, n, usdc, avg, p, fade)) <= 1.0


@given(scores, scores, st.integers(0, 500), prices)
def test_confidence_rises_with_score_when_following_and_falls_when_fading(a, b, n, p):
    lo, hi = sorted((a, b))
    follow = [confidence(ConfidenceInputs(s, n, 100, 100, p)) for s in (lo, hi)]
    fade = [confidence(ConfidenceInputs(s, n, 100, 100, p, fade=True)) for s in (lo, hi)]
    assert follow[0] <= follow[1] and fade[0] >= fade[1]


@given(st.integers(0, 500), st.integers(0, 500))
def test_more_history_never_lowers_confidence(a, b):
    lo, hi = sorted((a, b))
    assert confidence(ConfidenceInputs(8, lo, 100, 100, 0.5)) <= confidence(ConfidenceInputs(8, hi, 100, 100, 0.5))


def test_kelly_for_a_binary_share():
    assert kelly_fraction_of_bankroll(0.5, 0.6) == pytest.approx(0.2)
    assert kelly_fraction_of_bankroll(0.5, 0.5) == 0.0 and kelly_fraction_of_bankroll(0.6, 0.5) == 0.0
    assert kelly_fraction_of_bankroll(0.0, 0.5) == 0.0 and kelly_fraction_of_bankroll(1.0, 1.0) == 0.0


@settings(max_examples=60)
@given(prices, st.floats(0.01, 0.99))
def test_kelly_maximises_expected_log_growth(p, q):
    """f* = (q - p) / (1 - p) is the argmax of q log(1 + f (1-p)/p) + (1-q) log(1 - f) over f in [0, 1)."""
    f_star = kelly_fraction_of_bankroll(p, q)
    growth = lambda f: q * math.log1p(f * (1 - p) / p) + (1 - q) * math.log1p(-f)  # noqa: E731
    grid = [i / 2000 for i in range(1999)]
    best = max(grid, key=growth)
    assert abs(f_star - best) <= 1 / 1000 + 1e-9 or growth(f_star) >= growth(best) - 1e-9


@given(prices, scores)
def test_win_probability_edge_is_proportional_to_skill(p, score):
    q = win_probability(p, score)
    assert p <= q <= 1
    assert kelly_fraction_of_bankroll(p, q) == pytest.approx(abs(score - 5) / 5 * 0.2, abs=1e-9) or q == p


def test_stake_is_capped_by_every_limit():
    common = dict(kelly_fraction=0.25, bankroll_usd=10_000)
    free = stake(0.5, 0.57, max_position_usd=1000, bankroll_free_usd=10_000, market_room_usd=1000, **common)
    assert free.usd == 350.0 and free.capped_by is None
    assert stake(0.5, 0.57, max_position_usd=100, bankroll_free_usd=10_000, market_room_usd=1000, **common).capped_by == "MAX_POSITION_USD"
    assert stake(0.5, 0.57, max_position_usd=1000, bankroll_free_usd=42.5, market_room_usd=1000, **common).usd == 42.5
    s = stake(0.5, 0.57, max_position_usd=1000, bankroll_free_usd=10_000, market_room_usd=10.005, **common)
    assert s.usd == 10.0 and s.capped_by == "MAX_MARKET_EXPOSURE_USD"
    assert stake(0.6, 0.57, max_position_usd=1000, bankroll_free_usd=10_000, market_room_usd=1000, **common).usd == 0.0


@given(prices, st.floats(0, 1), st.floats(0.01, 1), st.floats(1, 1e6), st.floats(0, 1e6), st.floats(0, 1e6), st.floats(1, 1e6))
def test_stake_never_exceeds_a_cap(p, q, frac, bankroll, free, room, max_pos):
    s = stake(p, q, kelly_fraction=frac, bankroll_usd=bankroll, max_position_usd=max_pos, bankroll_free_usd=free,
              market_room_usd=room)
    assert 0 <= s.usd <= min(max_pos, max(free, 0), max(room, 0), frac * bankroll) + 1e-9
