"""The walk forward on a tiny hand-made world: strategies, the slippage model, and no look-ahead."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import polars as pl
import pytest

from orderflow_dagster.backtest.data import Frames
from orderflow_dagster.backtest.engine import STRATEGIES, BacktestConfig, walk_forward
from orderflow_dagster.backtest.fills import FillModel, Tape, paper_buy
from orderflow_dagster.backtest.scoring import load_params, position_states, score_as_of
from orderflow_dagster.trading.brokers import OrderFailed
from orderflow_dagster.trading.config import load_trading_settings
from tests.unit.backtest_world import DEGENS, INFORMED, T0, make_world

START, END = T0 + timedelta(days=8), T0 + timedelta(days=20)


def run(trades, markets, **kw):
    cfg = BacktestConfig(start=START, end=END, trading=load_trading_settings(), **kw)
    return walk_forward(Frames(trades, markets), cfg)


@pytest.fixture(scope="module")
def world():
    return make_world(seed=1, days=22)


@pytest.fixture(scope="module")
def result(world):
    return run(*world)


def pnl(result, strategy):
    f = result.fills.filter((pl.col("strategy") == strategy) & pl.col("closed_at").is_not_null())
    return f.height, f["pnl"].sum(), f["outcome_won"].mean()


def test_strategies_side_by_side(result):
    n, whale, win = pnl(result, "whale_follow")
    assert n > 20 and whale > 0 and win > 0.6
    copies = result.fills.filter((pl.col("strategy") == "whale_follow") & pl.col("wallet").is_in(INFORMED))
    assert copies.height > 10 and copies["outcome_won"].all()  # informed wallets buy what wins
    n_opp, opposite, win_opp = pnl(result, "whale_follow_opposite")
    assert n_opp > 20 and opposite < 0 and win_opp < 0.5
    assert pnl(result, "degen_fade")[1] > 0  # degens buy what loses
    assert set(result.decisions["strategy"]) == set(STRATEGIES)
    # degen-fade fades the degens (and unlucky noise wallets)
    faded = result.decisions.filter((pl.col("strategy") == "degen_fade") & (pl.col("status") == "FILLED"))
    assert set(DEGENS) & set(faded["wallet"])
    # the same seed, the same walk
    assert run(*make_world(seed=1, days=22)).decisions.equals(result.decisions)


def test_every_decision_used_the_score_as_of_its_day(world, result):
    trades, markets = world
    states, params = position_states(trades), load_params()
    follows = result.decisions.filter((pl.col("strategy") == "whale_follow") & (pl.col("status") == "FILLED")
                                      & (pl.col("kind") == "ENTRY"))
    for day, group in follows.group_by(pl.col("trigger_at").dt.truncate("1d")):
        scores = score_as_of(states, markets, day[0], params).filter(pl.col("wallet_address").is_in(group["wallet"].to_list()))
        assert scores["reputation_score"].min() >= 7 and set(scores["trader_tier"]) <= {"WHALE", "SMART"}
        assert group["score"].to_list() == [scores.filter(pl.col("wallet_address") == w)["reputation_score"].item()
                                            for w in group["wallet"]]
    # nobody is rated before 20 markets resolved: no follow in the first days of the world
    assert follows["trigger_at"].min() > T0 + timedelta(days=3)


def test_fills_pay_the_modelled_book_and_settle_at_the_payout(result):
    f = result.fills.filter(pl.col("closed_at").is_not_null())
    assert (f["entry_price"] >= f["market_price"] + 0.01 - 1e-9).all()  # half-spread of a tick at least
    assert (f["entry_price"] <= f["reference_price"] + 0.03 + 1e-9).all()  # never past MAX_SLIPPAGE
    assert (f["filled_at"] >= f["decided_at"]).all() and (f["decided_at"] > f["trigger_at"]).all()
    held = f.filter(pl.col("exit_at").is_null())
    assert held["value"].to_list() == pytest.approx((held["shares"] * held["payout"]).to_list())
    assert set(held["payout"].to_list()) <= {0.0, 1.0} and (held["closed_at"] >= held["filled_at"]).all()
    # the informed wallets' sells closed the copies early, at the modelled bid
    exited = f.filter(pl.col("exit_at").is_not_null())
    assert exited.filter(pl.col("strategy") == "whale_follow").height > 5
    assert (exited["exit_at"] == exited["closed_at"]).all() and (exited["exit_at"] > exited["filled_at"]).all()
    assert exited["value"].to_list() == pytest.approx((exited["shares"] * exited["exit_price"]).to_list(), rel=1e-5)
    exits = result.decisions.filter((pl.col("kind") == "EXIT") & (pl.col("status") == "FILLED"))
    assert (exits["fill_price"] <= exits["market_price"] - 0.01 + 1e-9).all()
    assert set(exits["strategy"]) <= {"whale_follow", "whale_follow_opposite", "random_rated", "top_win_rate"}


def test_poisoned_future_changes_nothing_before_it(world, result):
    """Flip every outcome resolved after D, rewrite later trades' prices and sizes, add absurd trades
    after D: the decisions and fills made before D must be exactly the same."""
    trades, markets = world
    d = T0 + timedelta(days=14)
    later = pl.col("timestamp") >= d
    poisoned_trades = trades.with_columns(
        price=pl.when(later).then(0.99).otherwise(pl.col("price")),
        shares=pl.when(later).then(pl.col("shares") * 1000).otherwise(pl.col("shares")))
    absurd = poisoned_trades.filter(later).with_columns(
        wallet_address=pl.lit(INFORMED[0]), block_number=pl.col("block_number") + 10**6, outcome_index=1 - pl.col("outcome_index"))
    poisoned_markets = markets.with_columns(
        payout_fractions=pl.when(pl.col("resolved_at") >= d).then(pl.col("payout_fractions").list.reverse())
        .otherwise(pl.col("payout_fractions")))
    poisoned = run(pl.concat([poisoned_trades, absurd]), poisoned_markets)

    wait = timedelta(seconds=FillModel().max_wait_seconds)
    def before(r):  # decided early enough that the fill, if any, was before D too
        return r.decisions.filter(pl.col("decided_at") + wait < d)
    def fills_before(r):
        return r.fills.filter(pl.col("filled_at") < d).select("strategy", "wallet", "condition_id", "filled_at",
                                                              "entry_price", "shares", "notional", "fee")
    assert before(result).height > 50 and fills_before(result).height > 30
    assert before(poisoned).equals(before(result))
    assert fills_before(poisoned).sort(pl.all()).equals(fills_before(result).sort(pl.all()))
    # and the poison did reach the evaluation after D
    assert not poisoned.fills.filter(pl.col("filled_at") >= d).equals(result.fills.filter(pl.col("filled_at") >= d))


def test_tape_next_price_and_complement():
    trades = pl.DataFrame({"chain_id": [137] * 3, "block_number": [1, 2, 3], "log_index": [0, 0, 0],
                           "timestamp": [T0, T0 + timedelta(seconds=60), T0 + timedelta(seconds=600)],
                           "condition_id": ["m"] * 3, "outcome_index": [0, 1, 0], "price": [0.40, 0.55, 0.50]},
                          schema_overrides={"timestamp": pl.Datetime("us", "UTC")})
    tape, us = Tape(trades), int(T0.timestamp() * 1e6)
    assert tape.next_price("m", 0, us + 1, 10**9) == (us + 60_000_000, pytest.approx(0.45))  # 1 - the NO price
    assert tape.next_price("m", 1, us + 1, 10**9)[1] == pytest.approx(0.55)
    assert tape.next_price("m", 0, us + 61_000_000, 100_000_000) is None  # next trade too late
    assert tape.next_price("unknown", 0, us, 10**9) is None


def test_paper_buy_spread_impact_fee_and_cap():
    m = FillModel(half_spread=0.01, depth_usd_per_tick=100.0, fee_rate=0.02, max_slippage=0.03)
    small = paper_buy(0.50, 0.50, 50.0, m)
    assert small.avg_price == Decimal("0.51")  # best ask = price + half-spread
    assert float(small.fee_usd) == pytest.approx(float(small.shares) * 0.02 * 0.51 * 0.49, abs=1e-6)
    big = paper_buy(0.50, 0.50, 250.0, m)  # walks three levels: 0.51, 0.52, 0.53
    assert Decimal("0.51") < big.avg_price < Decimal("0.53")
    assert isinstance(paper_buy(0.50, 0.50, 1000.0, m), OrderFailed)  # would need levels past 0.53
    assert isinstance(paper_buy(0.40, 0.45, 10.0, m), OrderFailed)  # the market ran away from the trigger
