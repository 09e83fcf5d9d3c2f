"""The simulated world on its own (no chain): determinism, match shapes, and that each population
behaves as its ground truth says."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from statistics import mean

import pytest
from eth_abi import encode

from orderflow_dagster.simulator.events import encode_log
from orderflow_dagster.simulator.world import (
    DAY,
    TICK,
    MarketOpened,
    Resolution,
    Trade,
    World,
    WorldConfig,
    token_payout,
)

SMALL = WorldConfig(seed=5).scaled(0.25)


def run(config: WorldConfig, days: float, ledger: bool = False) -> tuple[World, list]:
    world = World(config)
    world.record_ledger = ledger
    return world, list(world.run(world.start + days * DAY))


@pytest.fixture(scope="module")
def default_days():
    return run(WorldConfig(seed=3), days=4, ledger=True)


def test_same_seed_same_world_other_seed_other_world():
    _, a = run(SMALL, 1)
    _, b = run(SMALL, 1)
    _, c = run(WorldConfig(**{**SMALL.__dict__, "seed": 6}), 1)
    assert a == b and len(a) > 1000
    assert a[:200] != c[:200]


def test_events_are_in_time_order_and_trades_have_the_real_match_shape(default_days):
    world, events = default_days
    assert [e.t for e in events] == sorted(e.t for e in events)
    opened, resolved = set(), {}
    for e in events:
        if isinstance(e, MarketOpened):
            opened.add(e.market.condition_id)
        elif isinstance(e, Resolution):
            resolved[e.market.condition_id] = e.payouts
        else:
            assert e.market.condition_id in opened and e.market.condition_id not in resolved
            assert 1 <= len(e.makers) <= 3 and e.taker not in {m for m, _, _ in e.makers}
            assert e.outcome_index in (0, 1)
            for _, shares, price in e.makers:
                assert shares > 0 and TICK <= price <= Decimal("0.99") and price % TICK == 0
    assert len(resolved) >= 20
    for cid, payouts in resolved.items():
        allowed = [(1, 0), (0, 1)] if world.markets[cid].market.neg_risk else [(1, 0), (0, 1), (1, 1)]
        assert payouts in allowed
    generations = {(m.market.generation, m.market.neg_risk) for m in world.markets.values()}
    assert generations == {(1, False), (1, True), (2, False), (2, True)}


def test_fifty_fifty_resolutions_happen_for_standard_markets_only():
    world, events = run(WorldConfig(**{**SMALL.__dict__, "fifty_fifty_rate": 0.5}), 6)
    halves = [e for e in events if isinstance(e, Resolution) and e.payouts == (1, 1)]
    assert halves and not any(e.market.neg_risk for e in halves)


def test_fill_rate_is_the_configured_one(default_days):
    world, events = default_days
    fills = sum(e.fills for e in events if isinstance(e, Trade))
    assert fills / (4 * 24) == pytest.approx(world.config.fills_per_hour, rel=0.25)


def _edges_by_kind(world: World) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per wallet and resolved market: P&L over shares bought (the scoring's edge per share, before
    fees), and payout minus price of opening taker buys; both by the wallet's kind."""
    pnl, bought, open_edges = defaultdict(float), defaultdict(float), defaultdict(list)
    for e in world.ledger:
        market = world.markets[e.condition_id]
        if market.resolved:
            payout = token_payout(market.resolved, e.outcome_index)
            pnl[(e.wallet, e.condition_id)] += e.shares * (payout - e.price)
            bought[(e.wallet, e.condition_id)] += max(0.0, e.shares)
            if e.taker and e.purpose == "open":
                open_edges[world.truth[e.wallet].kind].append(payout - e.price)
    market_edges = defaultdict(list)
    for key, shares in bought.items():
        if shares > 0:
            market_edges[world.truth[key[0]].kind].append(pnl[key] / shares)
    return market_edges, open_edges


def test_informed_traders_beat_the_price_degens_lose_and_favourites_win_often_without_edge(default_days):
    world, _ = default_days
    edges, open_edges = _edges_by_kind(world)
    assert mean(edges["whale"]) > 0.05 and mean(edges["skilled"]) > 0.03
    assert mean(open_edges["whale"]) > 0.02  # their buys are right more often than the price implies
    assert mean(edges["degen"]) < -0.03 and mean(open_edges["degen"]) < -0.03
    assert mean(edges["noise"]) < 0  # they pay the spread and, as resting orders, the informed
    favourite = edges["favourite"]
    assert sum(e > 0 for e in favourite) / len(favourite) > 0.8 and abs(mean(favourite)) < 0.03
    assert world.skilled_wallets() == {w for w, t in world.truth.items() if t.kind in ("whale", "skilled")}


def test_a_world_without_informed_edge_has_no_skilled_wallets_and_no_whale_edge():
    world, _ = run(WorldConfig(seed=4, informed_edge=0.0), 3, ledger=True)
    assert world.skilled_wallets() == set()
    edges, _ = _edges_by_kind(world)
    assert len(edges["whale"]) > 100 and mean(edges["whale"]) < 0.01


def test_market_makers_are_two_sided_with_small_inventory_and_make_most_matches(default_days):
    world, events = default_days
    mms = set(world.wallets["market_maker"])
    bought, sold = defaultdict(float), defaultdict(float)
    for entry in world.ledger:
        if entry.wallet in mms:
            (bought if entry.shares > 0 else sold)[entry.wallet] += abs(entry.shares)
    for mm in mms:
        inventory = sum(abs(v) for (w, _), v in world.positions.items() if w == mm)
        assert min(bought[mm], sold[mm]) / max(bought[mm], sold[mm]) > 0.7
        assert inventory / max(bought[mm], sold[mm]) < 0.1
    trades = [e for e in events if isinstance(e, Trade)]
    made_by_mms = sum(all(m in mms for m, _, _ in e.makers) for e in trades)
    assert made_by_mms / len(trades) > 0.7


def test_the_wash_pair_trades_only_with_itself(default_days):
    world, events = default_days
    pair = set(world.wallets["wash"])
    washes = [e for e in events if isinstance(e, Trade) and ({e.taker} | {m for m, _, _ in e.makers}) & pair]
    assert len(washes) > 100
    assert all({e.taker} | {m for m, _, _ in e.makers} == pair for e in washes)


def test_books_are_two_sided_around_the_price_and_complementary(default_days):
    world, _ = default_days
    for market in world.open:
        yes, no = (world.book(t) for t in market.market.token_ids)
        for book in (yes, no):
            bids, asks = [p for p, _ in book["bids"]], [p for p, _ in book["asks"]]
            assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
            assert bids[0] < asks[0] and all(TICK <= p <= Decimal("0.99") for p in bids + asks)
            assert all(size > 0 for _, size in book["bids"] + book["asks"])
        assert abs(float(yes["bids"][0][0] + no["asks"][0][0]) - 1) <= 0.02
        assert yes["bids"][0][0] <= Decimal(str(market.mid)) + TICK and yes["asks"][0][0] >= Decimal(str(market.mid)) - TICK
    assert world.book(12345) is None


def test_the_fast_static_encoder_matches_eth_abi():
    fields = dict(orderHash=b"\x11" * 32, maker="0x" + "ab" * 20, taker="0x" + "cd" * 20, side=1, tokenId=2**255 + 7,
                  makerAmountFilled=10**12, takerAmountFilled=3, fee=0, builder="0x" + "00" * 32, metadata=b"\x22" * 32)
    topics, data = encode_log("order_filled_v2", **fields)
    assert data == encode(["uint8", "uint256", "uint256", "uint256", "uint256", "bytes32", "bytes32"],
                          [1, 2**255 + 7, 10**12, 3, 0, b"\x00" * 32, b"\x22" * 32])
    assert topics[1:] == ["0x" + "11" * 32, "0x" + "00" * 12 + "ab" * 20, "0x" + "00" * 12 + "cd" * 20]


def test_informed_traders_lose_their_edge_after_informed_days():
    """informed_days: before it whales buy what wins, after it no better than the price implies."""
    world, events = run(WorldConfig(seed=8, informed_days=3.0), days=6)
    payouts = {e.market.condition_id: e.payouts for e in events if isinstance(e, Resolution)}
    edge: dict[bool, list[float]] = {False: [], True: []}  # after informed_days? -> payout - price per share
    for e in events:
        if (isinstance(e, Trade) and e.purpose == "open" and world.truth[e.taker].kind == "whale"
                and e.market.condition_id in payouts):
            edge[e.t >= world.start + 3 * DAY].append(payouts[e.market.condition_id][e.outcome_index] - float(e.makers[0][2]))
    assert len(edge[False]) > 50 and len(edge[True]) > 50
    assert mean(edge[False]) > 0.08 and abs(mean(edge[True])) < 0.05, (mean(edge[False]), mean(edge[True]))
