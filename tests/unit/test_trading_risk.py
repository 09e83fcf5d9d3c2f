"""Every risk limit, the daily-loss arithmetic and the pause until the next UTC day."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderflow_dagster.trading.config import load_trading_settings
from orderflow_dagster.trading.risk import (
    Rejection, RiskSnapshot, Room, check_entry, daily_loss_reached, next_utc_midnight, utc_day_start,
)

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=timezone.utc)
CFG = load_trading_settings(max_open_positions=3, max_market_exposure_usd=800, bankroll_usd=2000, max_daily_loss=100)
CALM = RiskSnapshot(now=NOW, open_positions=0, open_exposure_usd=0, market_exposure_usd=0, realised_today_usd=0,
                    unrealised_now_usd=0, day_start_unrealised_usd=0, paused_until=None)


def code(result) -> str:
    return result.code if isinstance(result, Rejection) else "ok"


def test_a_calm_book_leaves_room():
    room = check_entry(CALM, 0.9, CFG)
    assert isinstance(room, Room) and room.bankroll_free_usd == 2000 and room.market_room_usd == 800


def test_min_signal_confidence():
    assert code(check_entry(CALM, 0.6999, CFG)) == "low_confidence"
    assert code(check_entry(CALM, 0.7, CFG)) == "ok"


def test_max_open_positions():
    assert code(check_entry(replace(CALM, open_positions=2), 0.9, CFG)) == "ok"
    assert code(check_entry(replace(CALM, open_positions=3), 0.9, CFG)) == "max_open_positions"


def test_per_market_exposure_cap():
    room = check_entry(replace(CALM, market_exposure_usd=700), 0.9, CFG)
    assert isinstance(room, Room) and room.market_room_usd == 100
    assert code(check_entry(replace(CALM, market_exposure_usd=799.5), 0.9, CFG)) == "market_exposure_cap"


def test_bankroll_at_risk():
    room = check_entry(replace(CALM, open_exposure_usd=1500), 0.9, CFG)
    assert isinstance(room, Room) and room.bankroll_free_usd == 500
    assert code(check_entry(replace(CALM, open_exposure_usd=2000), 0.9, CFG)) == "bankroll_at_risk"


def test_daily_pnl_counts_only_todays_move_of_open_positions():
    snap = replace(CALM, realised_today_usd=-30, unrealised_now_usd=-250, day_start_unrealised_usd=-200)
    assert snap.daily_pnl_usd == -80 and not daily_loss_reached(snap, CFG)
    assert daily_loss_reached(replace(snap, unrealised_now_usd=-270), CFG)  # exactly -100 reaches it
    assert code(check_entry(replace(snap, unrealised_now_usd=-270), 0.9, CFG)) == "daily_loss_limit"


def test_pause_holds_until_the_next_utc_midnight():
    until = next_utc_midnight(NOW)
    assert until == datetime(2026, 3, 15, tzinfo=timezone.utc)
    paused = replace(CALM, paused_until=until)
    assert paused.paused and code(check_entry(paused, 0.99, CFG)) == "paused_daily_loss"
    assert not replace(paused, now=until).paused
    assert code(check_entry(replace(paused, now=until + timedelta(seconds=1)), 0.99, CFG)) == "ok"


def test_utc_day_of_a_non_utc_time():
    tokyo = timezone(timedelta(hours=9))
    t = datetime(2026, 3, 15, 8, 0, tzinfo=tokyo)  # 23:00 UTC on the 14th
    assert utc_day_start(t) == datetime(2026, 3, 14, tzinfo=timezone.utc)
    assert next_utc_midnight(t) == datetime(2026, 3, 15, tzinfo=timezone.utc)


@given(st.integers(0, 10), st.floats(0, 5000), st.floats(0, 2000), st.floats(-1000, 1000), st.floats(0, 1))
def test_an_admitted_entry_is_within_every_limit(open_n, exposure, market, pnl, conf):
    snap = replace(CALM, open_positions=open_n, open_exposure_usd=exposure, market_exposure_usd=market,
                   realised_today_usd=pnl)
    result = check_entry(snap, conf, CFG)
    if isinstance(result, Room):
        assert conf >= CFG.min_signal_confidence and open_n < CFG.max_open_positions
        assert pnl > -CFG.max_daily_loss and market + result.market_room_usd == pytest.approx(CFG.max_market_exposure_usd)
        assert exposure + result.bankroll_free_usd == pytest.approx(CFG.bankroll_usd)
