"""The fast path: a whale's fill is landed and traded on in one tick, before any dbt run.

Real parts: anvil (chain 137), Postgres with the dbt-built models, the CLOB stand-in's book.
"""

from __future__ import annotations

import dagster as dg
import pytest

from orderflow_dagster.defs.trading.runless import TRADING_ASSET, report_trading
from orderflow_dagster.fastpath import FastPath
from orderflow_dagster.ingest import Ingestor
from orderflow_dagster.warehouse.db import connect
from tests.dbt.helpers import dbt, sync_condition_tokens
from tests.integration.chain_truth import head_after
from tests.integration.conftest import ingest_settings
from tests.integration.trading_fixtures import paper_settings
from tests.support.clob_server import ClobServer

pytestmark = pytest.mark.integration
WHALE = "0x" + "aa" * 20
MAKER = "0x" + "bb" * 20


def test_whale_fill_is_traded_in_the_tick_that_lands_it(anvil, replayer, db_url):
    # A whale's record: 22 markets bought at 0.40 for $6,000 and won.
    with replayer.batch():
        history = [replayer.create_market(2, neg_risk=False) for _ in range(22)]
        live = replayer.create_market(2, neg_risk=False)
    with replayer.batch():
        for m in history:
            replayer.match(m, WHALE, "BUY", 0, [(MAKER, 15_000, "0.40")])
    for m in history:
        replayer.resolve(m, [1, 0])
    settings = ingest_settings(anvil.url, db_url)
    Ingestor(settings, db_url).follow()
    sync_condition_tokens(db_url)
    dbt(db_url, "build", "--exclude", "resource_type:test", "resource_type:unit_test")
    with connect(db_url) as conn:
        tier = conn.execute("SELECT trader_tier FROM orderflow_wallet_stats WHERE wallet_address = %s",
                            (WHALE,)).fetchone()
    assert tier == ("WHALE",)

    overrides = {"storage": {"postgres": {"postgres_url": db_url}}}
    with ClobServer() as clob, dg.instance_for_test(overrides=overrides) as instance:
        clob.add_market(live.condition_id, live.token_ids[0], bids=[("0.49", 5000)], asks=[("0.51", 5000)])
        fast = FastPath(settings, paper_settings(clob.url), db_url, on_traded=lambda r: report_trading(instance, r))
        try:
            fast.tick()  # lands what is already there; nothing fresh to trade
            # mined before the tick reads the head (anvil answers the send before its block exists)
            head_after(anvil.url, [replayer.match(live, WHALE, "BUY", 0, [(MAKER, 12_000, "0.50")])])
            result = fast.tick()
            again = fast.tick()
        finally:
            fast.close()
        shown = instance.get_latest_materialization_event(TRADING_ASSET)  # what the UI shows for the asset
        assert shown is not None and shown.run_id == ""
        assert shown.asset_materialization.metadata["executed"].value == 1

    assert result is not None and result.fills == 2
    assert again is None  # no new block: nothing landed, nothing decided twice
    with connect(db_url) as conn:
        in_trades = conn.execute("SELECT count(*) FROM orderflow_trades WHERE condition_id = %s",
                                 (live.condition_id,)).fetchone()[0]
        via_view = conn.execute("SELECT count(*) FROM int_trades_since_refresh WHERE wallet_address = %s",
                                (WHALE,)).fetchone()[0]
        signals = conn.execute(
            "SELECT signal_type, status FROM orderflow_signals WHERE trigger_wallet = %s AND condition_id = %s",
            (WHALE, live.condition_id)).fetchall()
    assert in_trades == 0 and via_view == 1  # no dbt run happened: the view served the trade
    assert signals == [("WHALE_FOLLOW", "EXECUTED")]
    assert fast.stats.executed == 1 and fast.stats.errors == 0
