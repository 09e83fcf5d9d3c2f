"""The offline world (simulator/offline.py: the World's logs decoded and landed without a chain)
lands exactly the rows the same world lands through anvil and the Ingestor, hashes aside: so checks
that use it for speed (the default-parameter month) score the data the live path would produce."""

from __future__ import annotations

import time

import pytest

from orderflow_dagster.ingest import Ingestor
from orderflow_dagster.simulator.anvil import AnvilNode
from orderflow_dagster.simulator.driver import simulate
from orderflow_dagster.simulator.offline import land_world
from orderflow_dagster.simulator.world import DAY, WorldConfig
from orderflow_dagster.warehouse.db import connect
from orderflow_dagster.warehouse.migrate import apply_migrations
from tests.integration.conftest import ingest_settings

pytestmark = pytest.mark.integration

DAYS = 0.5
# every raw table the simulator writes to, and its columns but the chain's hashes
TABLES = {
    "raw_order_fills": "block_number, block_timestamp, log_index, contract_address, generation, neg_risk, order_hash,"
                       " maker, taker, maker_asset_id, taker_asset_id, side, token_id, maker_amount_filled,"
                       " taker_amount_filled, fee",
    "raw_orders_matched": "block_number, log_index, contract_address, taker_order_hash, taker_order_maker,"
                          " maker_asset_id, taker_asset_id, maker_amount_filled, taker_amount_filled",
    "raw_conditions": "block_number, log_index, condition_id, oracle, question_id, outcome_slot_count",
    "raw_condition_tokens": "condition_id, outcome_index, token_id",
    "raw_token_registrations": "block_number, log_index, token0, token1, condition_id",
    "raw_resolutions": "block_number, log_index, condition_id, payout_numerators",
    "raw_outcome_reports": "block_number, log_index, market_id, question_id, outcome",
}


def table_rows(db: str) -> dict[str, list[tuple]]:
    with connect(db) as conn:
        return {t: conn.execute(f"SELECT {cols} FROM {t} ORDER BY {cols}").fetchall() for t, cols in TABLES.items()}


def test_the_offline_world_lands_the_rows_the_chain_path_lands(make_database):
    genesis = int(time.time() - 2 * DAY)
    config = WorldConfig(seed=5, start=genesis + 600).scaled(0.3)
    on_chain, offline = make_database("sim_chain"), make_database("sim_offline")
    for db in (on_chain, offline):
        apply_migrations(db)
    with AnvilNode(genesis_timestamp=genesis) as node:
        sent = simulate(node.url, config, DAYS, block_seconds=120)
        Ingestor(ingest_settings(node.url, on_chain, log_range_initial=2000, log_range_max=10_000), on_chain).follow()
    landed = land_world(offline, config, DAYS, block_seconds=120)

    assert (landed.fills, landed.matches, landed.resolutions, landed.transactions) == \
           (sent.fills, sent.matches, sent.resolutions, sent.transactions)
    assert landed.first_block == sent.first_block and landed.last_block == sent.last_block
    a, b = table_rows(on_chain), table_rows(offline)
    assert len(a["raw_order_fills"]) == sent.fills > 500 and a["raw_resolutions"]
    for table in TABLES:
        diff = [(x, y) for x, y in zip(a[table], b[table]) if x != y][:2]
        assert a[table] == b[table], (table, diff)
    with connect(offline) as conn:
        assert conn.execute("SELECT count(*) FROM raw_quarantine").fetchone()[0] == 0
        assert conn.execute("SELECT next_block FROM ingest_cursor").fetchone()[0] == landed.last_block + 1
