"""As-of scoring: dbt's position accounting and reputation formula in Python, using only the past."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
import yaml

from orderflow_dagster.backtest.data import MARKET_SCHEMA, TRADE_SCHEMA
from orderflow_dagster.backtest.scoring import (DBT_PROJECT_YML, _position_step, load_params, normal_cdf,
                                                position_states, score_as_of)
from tests.unit.backtest_world import INFORMED, NOISE, T0, make_world

ALICE, BOB, CAROL, DAVE, ERIN = (f"0x{c * 40}" for c in "abcde")
A, B = "0x" + "a1" * 32, "0x" + "b1" * 32


def test_params_are_dbt_project_vars():
    dbt_vars = yaml.safe_load(DBT_PROJECT_YML.read_text())["vars"]
    p = load_params()
    assert p.min_resolved_markets == dbt_vars["min_resolved_markets"] and isinstance(p.min_resolved_markets, int)
    assert p.evidence_half_life_days == dbt_vars["evidence_half_life_days"]
    assert p.whale_min_capital_usd == dbt_vars["whale_min_capital_usd"]
    assert load_params(min_resolved_markets=3).min_resolved_markets == 3


def test_normal_cdf_is_dbt_s_approximation_of_the_normal():
    xs = np.linspace(-4, 4, 81)
    exact = np.array([0.5 * (1 + math.erf(x / math.sqrt(2))) for x in xs])
    assert np.max(np.abs(normal_cdf(xs) - exact)) < 1.5e-7


def test_position_step_cases():
    # open long 150 for 60, sell 60 for 30: realise 6 against the average cost 0.40
    s = _position_step(0, 0, 0, 0, 0, 150, -60)
    assert s == (150, 60, 0, 60, 150)
    s = _position_step(*s, -60, 30)
    assert s == pytest.approx((90, 36, 6, 60, 150))
    # sell 100 never held (a split's other leg): a short opened, capital 1 per share minus proceeds
    assert _position_step(0, 0, 0, 0, 0, -100, 40) == (-100, -40, 0, 60, 100)
    # flip from long 10 (cost 4) by selling 30 for 15: close 10 for 5 (+1), short 20 opened for 10
    assert _position_step(10, 4, 0, 4, 10, -30, 15) == pytest.approx((-20, -10, 1, 14, 30))
    # a fee eating the whole fill: a cost
    assert _position_step(5, 2, 0, 2, 5, 0, -0.5) == (5, 2.5, 0, 2.5, 5)


def rows(*fills):
    """(minute, wallet, market, outcome, side, shares, price, taker) -> orderflow_trades rows."""
    out = []
    for i, (minute, wallet, market, outcome, side, shares, price, taker) in enumerate(fills):
        out.append(dict(chain_id=137, block_number=i + 1, log_index=0, timestamp=T0 + timedelta(minutes=minute),
                        wallet_address=wallet, condition_id=market, token_id=f"{market}:{outcome}", outcome_index=outcome,
                        side=side, price=price, shares=shares, usdc_amount=shares * price, fee=0.0, fee_unit="USDC",
                        is_taker=taker))
    return pl.DataFrame(out, schema=TRADE_SCHEMA)


# The first market of tests/integration/test_dbt_models.py's hand-computed scenario (resolves [1, 0]),
# and one more (B, resolves [0, 1] two hours later) where carol sells short 200 NO @ 0.25 to bob.
TRADES = rows((0, BOB, A, 0, "SELL", 100, 0.40, False), (0, DAVE, A, 0, "SELL", 50, 0.40, False),
              (0, ALICE, A, 0, "BUY", 150, 0.40, True), (1, CAROL, A, 0, "BUY", 60, 0.50, False),
              (1, ALICE, A, 0, "SELL", 60, 0.50, True), (2, ALICE, A, 0, "BUY", 30, 0.30, False),
              (2, ERIN, A, 0, "SELL", 30, 0.30, True), (3, CAROL, B, 1, "SELL", 200, 0.25, False),
              (3, BOB, B, 1, "BUY", 200, 0.25, True))
MARKETS = pl.DataFrame([dict(condition_id=A, title="A", outcome_0_token_id=f"{A}:0", outcome_1_token_id=f"{A}:1",
                             resolved_at=T0 + timedelta(hours=1), payout_fractions=[1.0, 0.0]),
                        dict(condition_id=B, title="B", outcome_0_token_id=f"{B}:0", outcome_1_token_id=f"{B}:1",
                             resolved_at=T0 + timedelta(hours=3), payout_fractions=[0.0, 1.0])], schema=MARKET_SCHEMA)


def by_wallet(t: datetime) -> dict[str, dict]:
    s = score_as_of(position_states(TRADES), MARKETS, t, load_params())
    return {r["wallet_address"]: r for r in s.iter_rows(named=True)}


def test_evidence_matches_the_hand_computed_scenario():
    w = by_wallet(T0 + timedelta(days=1))
    # A: alice realises 6 and her 120 shares (cost 45) pay 120: +81 over 180 shares opened
    assert (w[ALICE]["resolved_markets"], w[ALICE]["wins"]) == (1, 1)
    assert w[ALICE]["mean_edge"] == pytest.approx(81 / 180)
    # bob: A short 100 @ 0.40 pays -60 (edge -0.6); B 200 NO for 50 pays 200 (+150, edge 0.75)
    assert (w[BOB]["resolved_markets"], w[BOB]["wins"], w[BOB]["losses"]) == (2, 1, 1)
    assert w[BOB]["win_rate"] == 0.5
    # carol: A +30 over 60 shares; B short 200 @ 0.25 = -150 over 200; dave: A short 50 = -30
    assert (w[CAROL]["wins"], w[CAROL]["losses"], w[DAVE]["losses"]) == (1, 1, 1)
    assert w[ERIN]["capital_at_risk_usd"] == pytest.approx(30 - 9)
    assert {r["trader_tier"] for r in w.values()} == {"UNRATED"}  # fewer than 20 resolved markets
    assert all(r["reputation_score"] is None for r in w.values())


def test_as_of_uses_only_fills_and_resolutions_before_the_time():
    w = by_wallet(T0 + timedelta(minutes=1))  # alice's buy only; A not yet resolved
    assert set(w) == {ALICE, BOB, DAVE} and w[ALICE]["trades"] == 1 and w[ALICE]["resolved_markets"] == 0
    w = by_wallet(T0 + timedelta(hours=2))  # A resolved, B traded but not resolved
    assert w[BOB]["resolved_markets"] == 1 and w[BOB]["wins"] == 0 and w[BOB]["trades"] == 2
    assert w[CAROL]["resolved_markets"] == 1 and w[CAROL]["wins"] == 1
    assert by_wallet(T0 + timedelta(hours=3))[BOB]["resolved_markets"] == 1  # resolved exactly then: not before


def test_skilled_wallets_score_high_and_ratings_need_twenty_markets():
    trades, markets = make_world(seed=2, days=18)
    states = position_states(trades)
    s = score_as_of(states, markets, T0 + timedelta(days=18), load_params())
    rated = s.filter(pl.col("reputation_score").is_not_null())
    assert rated["resolved_markets"].min() >= 20
    informed = s.filter(pl.col("wallet_address").is_in(INFORMED) & pl.col("reputation_score").is_not_null())
    assert informed.height >= 2 and informed["reputation_score"].min() > 9
    assert set(informed["trader_tier"]) == {"WHALE"}  # big, skilled
    noise = s.filter(pl.col("wallet_address").is_in(NOISE) & pl.col("reputation_score").is_not_null())
    assert noise["reputation_score"].median() < informed["reputation_score"].min()
    # five days in, few wallets have 20 resolved markets: a lower threshold (a dbt var) rates more
    early = [score_as_of(states, markets, T0 + timedelta(days=5), load_params(min_resolved_markets=n)) for n in (20, 5)]
    assert early[0]["reputation_score"].is_not_null().sum() < early[1]["reputation_score"].is_not_null().sum()
