"""Replayed Polymarket activity on a real anvil node lands in a real Postgres exactly once."""

from __future__ import annotations

import pytest

from orderflow_dagster.chain.contracts import EVENTS_BY_KEY
from orderflow_dagster.ingest import Ingestor
from orderflow_dagster.simulator.anvil import rpc_call
from orderflow_dagster.warehouse.db import connect
from tests.integration.chain_truth import canonical_fills, landed_fills
from tests.integration.conftest import ingest_settings

pytestmark = pytest.mark.integration


def test_replayed_fills_land_exactly(anvil, replayer, db_url):
    txs = replayer.random_activity(60)
    ingestor = Ingestor(ingest_settings(anvil.url, db_url), db_url)
    result = ingestor.follow()
    truth = canonical_fills(anvil.url, txs)
    with connect(db_url) as conn:
        assert landed_fills(conn) == truth
        head = ingestor.client.block_number()
        assert conn.execute("SELECT next_block FROM ingest_cursor").fetchone()[0] == head + 1
        matched = conn.execute("SELECT count(*) FROM raw_orders_matched").fetchone()[0]
        conditions = conn.execute("SELECT count(*) FROM raw_conditions").fetchone()[0]
    assert result.fills == len(truth) and result.ranges > 1
    assert matched == 60  # one OrdersMatched per match
    prepared = rpc_call(anvil.url, "eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest",
                                                   "topics": [EVENTS_BY_KEY["condition_preparation"].topic0]})
    assert conditions == len(prepared) > 0


def test_rerun_and_overlapping_backfill_land_nothing_twice(anvil, replayer, db_url):
    txs = replayer.random_activity(30)
    ingestor = Ingestor(ingest_settings(anvil.url, db_url), db_url)
    ingestor.follow()
    ingestor.follow()  # nothing new
    head = ingestor.client.block_number()
    ingestor.backfill(0, head)  # the same blocks again, replaced as a whole
    ingestor.backfill(5, head - 3)
    with connect(db_url) as conn:
        assert landed_fills(conn) == canonical_fills(anvil.url, txs)
        dupes = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM raw_order_fills GROUP BY chain_id, tx_hash, log_index HAVING count(*) > 1) d"
        ).fetchone()[0]
    assert dupes == 0


def test_new_blocks_after_follow_land_incrementally(anvil, replayer, db_url):
    ingestor = Ingestor(ingest_settings(anvil.url, db_url), db_url)
    first = replayer.random_activity(10)
    r1 = ingestor.follow()
    second = replayer.random_activity(10)
    r2 = ingestor.follow()
    assert r2.from_block == r1.to_block + 1  # the head follower does not re-scan history
    with connect(db_url) as conn:
        assert landed_fills(conn) == canonical_fills(anvil.url, first + second)


def test_malformed_logs_are_quarantined_and_the_rest_lands(anvil, replayer, db_url):
    txs = replayer.random_activity(5)
    exchange = "0x4bfb41d5b3570defd03c39a9a4d8de6bd8b8982e"
    fill_topic = EVENTS_BY_KEY["order_filled_v1"].topic0
    bad_short = replayer.emit_raw(exchange, [fill_topic, "0x" + "00" * 32, "0x" + "00" * 32, "0x" + "00" * 32], b"\x01" * 31)
    bad_topic = replayer.emit_raw(exchange, [EVENTS_BY_KEY["condition_preparation"].topic0, "0x" + "00" * 32,
                                             "0x" + "00" * 32, "0x" + "00" * 32], b"\x00" * 32)
    txs += replayer.random_activity(5)
    Ingestor(ingest_settings(anvil.url, db_url), db_url).follow()
    with connect(db_url) as conn:
        q = dict(conn.execute("SELECT tx_hash, reason FROM raw_quarantine").fetchall())
        assert landed_fills(conn) == canonical_fills(anvil.url, txs)
    assert "data is 31 bytes, expected 160" in q[bad_short]
    assert "unknown topic0" in q[bad_topic] and "ctf_exchange_v1" in q[bad_topic]


def test_condition_tokens_are_computed_for_every_prepared_market(anvil, replayer, db_url):
    markets = [replayer.create_market(1, False), replayer.create_market(2, True)]
    Ingestor(ingest_settings(anvil.url, db_url), db_url).follow()
    with connect(db_url) as conn:
        rows = conn.execute(
            "SELECT condition_id, outcome_index, token_id, neg_risk FROM raw_condition_tokens ORDER BY 1, 2").fetchall()
    expected = sorted((m.condition_id, i, m.token_ids[i], m.neg_risk) for m in markets for i in range(2))
    assert [(c, i, int(t), n) for c, i, t, n in rows] == expected
