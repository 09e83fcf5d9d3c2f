"""The simulator's localhost HTTP endpoints, read by the pipeline's own clients: GammaClient parses
its /markets rows, and the paper broker fills against its /book."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from orderflow_dagster.metadata.gamma import GammaClient
from orderflow_dagster.simulator.sim_api import SimApi
from orderflow_dagster.simulator.world import DAY, World, WorldConfig
from orderflow_dagster.trading.brokers import OrderRequest, PaperBroker
from orderflow_dagster.trading.config import load_trading_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served():
    world = World(WorldConfig(seed=9).scaled(0.1))
    list(world.run(world.start + 2 * DAY))
    with SimApi(world) as api:
        yield world, api


def test_gamma_client_reads_the_worlds_markets(served):
    world, api = served
    resolved = next(m for m in world.markets.values() if m.resolved)
    wanted = [m.market.condition_id for m in world.open[:3]] + [resolved.market.condition_id, "0x" + "00" * 32]
    with GammaClient(api.url, min_interval=0) as gamma:
        got = {m.condition_id: m for m in gamma.markets_by_condition(wanted)}
    assert set(got) == set(wanted[:4])
    for cid, meta in got.items():
        market = world.markets[cid]
        assert meta.clob_token_ids == list(market.market.token_ids) and meta.outcomes == ["Yes", "No"]
        assert meta.neg_risk == market.market.neg_risk and meta.closed == (market.resolved is not None)
        assert meta.question.startswith("Simulated market") and meta.end_date.timestamp() == pytest.approx(market.end_t, abs=1)


def test_paper_broker_fills_against_the_market_makers_book(served):
    world, api = served
    market = world.open[0]
    token = market.market.token_ids[0]
    broker = PaperBroker(load_trading_settings(clob_api_url=api.url))
    try:
        book = broker.book(token)
        bid, ask = world.quotes(market, 0)
        assert (book.best_bid, book.best_ask) == (bid, ask) and book.neg_risk == market.market.neg_risk
        order = OrderRequest("BUY", token, market.market.condition_id, Decimal("100"), ask + Decimal("0.05"), "FOK",
                             market.market.neg_risk)
        fill = broker.execute(order, book)
        assert fill.shares > 0 and ask <= fill.avg_price <= ask + Decimal("0.05")
    finally:
        broker.close()


def test_unknown_and_resolved_tokens_have_no_book(served):
    world, api = served
    resolved = next(m for m in world.markets.values() if m.resolved)
    for token in (123, resolved.market.token_ids[0]):
        r = httpx.get(f"{api.url}/book", params={"token_id": str(token)})
        assert r.status_code == 404 and "No orderbook" in r.json()["error"]
