"""Backtest metrics and the bootstrap over markets, on hand-made fills with known answers."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from orderflow_dagster.backtest.metrics import Settled, bootstrap_over_markets, max_drawdown, metrics, sharpe


def settled(market, day, notional, fee, value) -> Settled:
    return Settled(*(np.asarray(x) for x in (market, day, notional, fee, value)))


# three fills: +60 (won), -61 (lost, $1 fee), 0 (won back its cost); the first two settle on day 0, the third on day 2
HAND = settled([0, 1, 2], [0, 0, 2], [40.0, 60.0, 50.0], [0.0, 1.0, 0.0], [100.0, 0.0, 50.0])


def test_metrics_of_hand_made_fills():
    m = metrics(HAND)
    assert m["trades"] == 3
    assert m["win_rate"] == pytest.approx(1 / 3)  # P&L 0 is not a win
    assert m["edge_per_dollar"] == pytest.approx(0.0)  # paid 150 for 150 of payout
    assert m["pnl"] == pytest.approx(-1.0)
    assert m["roi"] == pytest.approx(-1 / 151)
    assert m["max_drawdown"] == pytest.approx(61.0)  # from +60 down to -1
    # daily P&L -1, 0, 0: mean -1/3, sd sqrt(1/3)
    assert m["sharpe"] == pytest.approx((-1 / 3) / math.sqrt(1 / 3) * math.sqrt(365))


def test_drawdown_counts_from_zero_and_sharpe_needs_two_days_and_spread():
    assert max_drawdown(np.array([-5.0, 2.0, -4.0])) == pytest.approx(7.0)  # peak 0, trough -7
    assert max_drawdown(np.array([1.0, 2.0])) == 0.0
    assert sharpe(np.array([3, 3]), np.array([1.0, 2.0])) is None  # one day
    assert sharpe(np.array([0, 1]), np.array([1.0, 1.0])) is None  # no spread
    assert metrics(settled([], [], [], [], []))["win_rate"] is None


def test_bootstrap_keeps_a_market_s_fills_together():
    # market 0: three fills of +1; market 1: one fill of -1. Resampling two markets gives P&L
    # 6 (0, 0), 2 (0, 1) or -2 (1, 1), and 6, 4 or 2 trades: the tails are those extremes.
    s = settled([0, 0, 0, 1], [0, 0, 0, 1], [1.0] * 4, [0.0] * 4, [2.0, 2.0, 2.0, 0.0])
    ci = bootstrap_over_markets(s, n_resamples=400, seed=3)
    assert ci["pnl"] == (pytest.approx(-2.0), pytest.approx(6.0))
    assert ci["trades"] == (pytest.approx(2.0), pytest.approx(6.0))
    # resampling fills instead would give 4 trades every time
    assert ci["win_rate"] == (pytest.approx(0.0), pytest.approx(1.0))


def test_bootstrap_of_one_market_is_the_point_value_and_seeded():
    s = settled([5, 5], [0, 1], [10.0, 10.0], [0.0, 0.0], [20.0, 0.0])
    ci = bootstrap_over_markets(s, n_resamples=50)
    point = metrics(s)
    for k in ("trades", "win_rate", "edge_per_dollar", "pnl", "roi", "max_drawdown"):
        assert ci[k] == (pytest.approx(point[k]), pytest.approx(point[k]))
    assert bootstrap_over_markets(HAND, 200, seed=9) == bootstrap_over_markets(HAND, 200, seed=9)
    assert bootstrap_over_markets(settled([], [], [], [], []))["pnl"] is None


def test_interval_covers_zero_for_a_fair_coin_and_not_for_a_sure_thing():
    rng = np.random.default_rng(0)
    n = 200
    coin = settled(np.arange(n), np.arange(n) // 5, np.full(n, 50.0), np.zeros(n), np.where(rng.random(n) < 0.5, 100.0, 0.0))
    lo, hi = bootstrap_over_markets(coin, 500)["edge_per_dollar"]
    assert lo < 0 < hi
    sure = settled(np.arange(n), np.arange(n) // 5, np.full(n, 50.0), np.zeros(n), np.where(rng.random(n) < 0.7, 100.0, 0.0))
    lo, hi = bootstrap_over_markets(sure, 500)["edge_per_dollar"]
    assert 0 < lo < 0.4 < hi


def test_settled_from_frame_drops_open_positions_and_orders_by_closing():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    f = pl.DataFrame({"condition_id": ["b", "a", "c"], "closed_at": [t0 + timedelta(days=2), t0, None],
                      "filled_at": [t0, t0, t0], "notional": [1.0, 2.0, 3.0], "fees": [0.0, 0.0, 0.0],
                      "value": [0.0, 4.0, 9.0]})
    s = Settled.from_frame(f)
    assert s.notional.tolist() == [2.0, 1.0] and s.day[1] - s.day[0] == 2 and len(set(s.market)) == 2
