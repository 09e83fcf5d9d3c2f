"""Reorgs made with anvil's own methods, a faulty RPC path and a killed ingestion process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from orderflow_dagster.ingest import DeepReorgError, Ingestor
from orderflow_dagster.simulator.anvil import rpc_call
from orderflow_dagster.warehouse.db import connect
from orderflow_dagster.warehouse.migrate import apply_migrations
from tests.integration.chain_truth import canonical_fills, landed_fills, raw_snapshot
from tests.integration.conftest import ingest_settings
from tests.support.rpc_proxy import FaultPlan, RpcFaultProxy, WsFaultProxy

pytestmark = pytest.mark.integration


def test_reorg_leaves_only_canonical_rows(anvil, replayer, db_url):
    txs = replayer.random_activity(20)
    ingestor = Ingestor(ingest_settings(anvil.url, db_url), db_url)
    ingestor.follow()
    old_head = ingestor.client.block_number()
    rpc_call(anvil.url, "anvil_rollback", 5)  # drops the last 5 blocks and their transactions
    txs += replayer.random_activity(8)  # new blocks at the same heights, with other hashes
    result = ingestor.follow()
    assert [(r.fork_block, r.depth) for r in result.reorgs] == [(old_head - 5, 5)]
    with connect(db_url) as conn:
        assert landed_fills(conn) == canonical_fills(anvil.url, txs)
        recorded = conn.execute("SELECT fork_block, depth, rows_deleted > 0 FROM chain_reorgs").fetchall()
    assert recorded == [(old_head - 5, 5, True)]


def test_reorg_to_a_shorter_chain_drops_the_old_tail(anvil, replayer, db_url):
    txs = replayer.random_activity(12)
    ingestor = Ingestor(ingest_settings(anvil.url, db_url), db_url)
    ingestor.follow()
    rpc_call(anvil.url, "anvil_rollback", 3)
    ingestor.follow()
    with connect(db_url) as conn:
        assert landed_fills(conn) == canonical_fills(anvil.url, txs)
        assert conn.execute("SELECT next_block FROM ingest_cursor").fetchone()[0] == ingestor.client.block_number() + 1


def test_reorg_deeper_than_the_window_raises_an_alarm(anvil, replayer, db_url):
    replayer.random_activity(30)
    ingestor = Ingestor(ingest_settings(anvil.url, db_url, reorg_window_blocks=8), db_url)
    ingestor.follow()
    rpc_call(anvil.url, "anvil_rollback", 25)
    replayer.random_activity(30)
    with pytest.raises(DeepReorgError, match="deeper than the kept window"):
        ingestor.follow()
    with connect(db_url) as conn:  # nothing was changed on a guess
        assert conn.execute("SELECT count(*) FROM chain_reorgs").fetchone()[0] == 0


def test_faulty_rpc_yields_the_same_rows_as_a_clean_run(anvil, replayer, db_url, make_database):
    replayer.random_activity(40)
    Ingestor(ingest_settings(anvil.url, db_url), db_url).follow()

    faulty_db = make_database("faulty")
    apply_migrations(faulty_db)
    plan = FaultPlan(seed=3, rate_limit=0.08, server_error=0.05, truncate=0.05, invalid_json=0.05, slow=0.02,
                     slow_s=1.5, retry_after_s=0, max_log_span=6)
    with RpcFaultProxy(anvil.url, plan) as proxy:
        settings = ingest_settings(proxy.url, faulty_db, rpc_timeout_seconds=1.0, rpc_max_retries=20)
        Ingestor(settings, faulty_db).follow()
    assert proxy.stats.total_injected >= 5, proxy.stats  # the faults really happened
    with connect(db_url) as clean, connect(faulty_db) as faulty:
        assert raw_snapshot(faulty) == raw_snapshot(clean)


def test_dropped_websocket_while_following_yields_the_same_rows(anvil, replayer, db_url, make_database):
    replayer.random_activity(20)
    Ingestor(ingest_settings(anvil.url, db_url), db_url).follow()
    ws_db = make_database("ws")
    apply_migrations(ws_db)
    with WsFaultProxy(anvil.url, FaultPlan(ws_drop_after=7, ws_max_drops=4)) as proxy:
        Ingestor(ingest_settings(proxy.url, ws_db, rpc_concurrency=1, log_range_initial=2, log_range_max=2), ws_db).follow()
    assert proxy.stats.connections >= 2  # it reconnected after drops
    with connect(db_url) as clean, connect(ws_db) as ws:
        assert raw_snapshot(ws) == raw_snapshot(clean)


_CRASH_SCRIPT = """
import sys
from orderflow_dagster.ingest import Ingestor
from tests.integration.conftest import ingest_settings
rpc, db = sys.argv[1], sys.argv[2]
Ingestor(ingest_settings(rpc, db, log_range_initial=1, log_range_max=1, rpc_concurrency=1), db).follow()
"""


def test_killed_mid_transaction_then_rerun_lands_every_fill_once(anvil, replayer, db_url):
    txs = replayer.random_activity(150)
    crash_url = db_url + ("&" if "?" in db_url else "?") + "application_name=orderflow_crash"
    proc = subprocess.Popen([sys.executable, "-c", _CRASH_SCRIPT, anvil.url, crash_url],
                            cwd=os.getcwd(), start_new_session=True)
    killed_in_txn = False
    try:
        with connect(db_url, autocommit=True) as watch:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                landed = watch.execute("SELECT count(*) FROM ingest_ranges").fetchone()[0]
                in_txn = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'orderflow_crash'"
                    " AND xact_start IS NOT NULL AND state <> 'idle'"
                ).fetchone()[0]
                if landed >= 10 and in_txn:
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed_in_txn = True
                    break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert killed_in_txn, "the ingestion finished before it could be killed mid-transaction"
    time.sleep(0.5)  # let Postgres notice the dead client and roll its transaction back
    Ingestor(ingest_settings(anvil.url, db_url), db_url).follow()
    with connect(db_url) as conn:
        assert landed_fills(conn) == canonical_fills(anvil.url, txs)
