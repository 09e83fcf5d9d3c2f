"""Database faults: Postgres killed mid-landing and mid-execution, a disk-full COPY, no free connection.

Each runs on `fault_pg` (a server of its own), then compares with the chain's truth and with a
clean run of the same scenario on the shared server.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from orderflow_dagster.ingest import Ingestor
from orderflow_dagster.trading.brokers import PaperBroker
from orderflow_dagster.trading.executor import Executor
from orderflow_dagster.warehouse.db import connect
from orderflow_dagster.warehouse.migrate import apply_migrations
from tests.faults.conftest import FAULT_PG_MAX_CONNECTIONS
from tests.faults.outcome import Result, fill_counts, kill_postgres, limit_breaches, record, trading_counts
from tests.integration.chain_truth import canonical_fills, raw_snapshot
from tests.integration.conftest import ingest_settings
from tests.integration.test_trading import run_paper
from tests.integration.trading_fixtures import StandInWorld, paper_settings

pytestmark = pytest.mark.integration

# Each landing sits in its transaction for a moment after its COPY (the range row is written
# after the rows), so a test can see a landing in flight and kill the server right then.
SLOW_LANDING = """
CREATE FUNCTION fault_slow_landing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$;
CREATE TRIGGER fault_slow_landing AFTER INSERT ON ingest_ranges FOR EACH ROW EXECUTE FUNCTION fault_slow_landing();
"""
# The COPY into raw_order_fills fails as on a full disk once a few ranges have landed.
DISK_FULL = """
CREATE FUNCTION fault_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT count(*) FROM ingest_ranges) >= 3 THEN
    RAISE EXCEPTION 'could not extend file: No space left on device (injected)' USING ERRCODE = 'disk_full';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER fault_disk_full BEFORE INSERT ON raw_order_fills FOR EACH STATEMENT EXECUTE FUNCTION fault_disk_full();
"""


def clean_landing(rpc_url: str, make_database) -> str:
    """The same chain landed by an undisturbed run, for comparison."""
    url = make_database("clean")
    apply_migrations(url)
    Ingestor(ingest_settings(rpc_url, url), url).follow()
    return url


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def fills_result(scenario: str, injected: str, db: str, rpc_url: str, txs: list[str], clean_db: str, **details) -> Result:
    with connect(db) as conn, connect(clean_db) as clean:
        lost, dup = fill_counts(conn, canonical_fills(rpc_url, txs))
        details["same_rows_as_clean_run"] = raw_snapshot(conn) == raw_snapshot(clean)
        details["fills"] = conn.execute("SELECT count(*) FROM raw_order_fills").fetchone()[0]
    return Result(scenario, injected, lost, dup, 0, details)


def test_postgres_killed_during_a_landing_then_restarted(anvil, replayer, fault_pg, fault_db, make_database):
    txs = replayer.random_activity(40)
    with connect(fault_db, autocommit=True) as conn:
        conn.execute(SLOW_LANDING)
    app_url = fault_db + "?application_name=orderflow_fault"
    settings = ingest_settings(anvil.url, app_url, log_range_initial=1, log_range_max=1, rpc_concurrency=1)
    errors: list[Exception] = []

    def ingest():
        try:
            Ingestor(settings, app_url).follow()
        except Exception as e:  # noqa: BLE001 - asserted below
            errors.append(e)

    worker = threading.Thread(target=ingest)
    worker.start()
    with connect(fault_db, autocommit=True) as watch:
        in_flight = ("SELECT (SELECT count(*) FROM ingest_ranges) >= 3 AND EXISTS (SELECT 1 FROM pg_stat_activity"
                     " WHERE application_name = 'orderflow_fault' AND wait_event = 'PgSleep')")
        wait_for(lambda: watch.execute(in_flight).fetchone()[0], 60, "a landing in flight")
    kill_postgres(fault_pg)
    worker.join(60)
    assert len(errors) == 1 and isinstance(errors[0], psycopg.OperationalError), errors

    fault_pg.start()  # crash recovery
    with connect(fault_db, autocommit=True) as conn:
        cursor, covered = conn.execute("SELECT next_block, (SELECT max(to_block) FROM ingest_ranges) FROM ingest_cursor").fetchone()
        half_landed = conn.execute("SELECT count(*) FROM raw_order_fills WHERE block_number >= %s", (cursor,)).fetchone()[0]
        conn.execute("DROP TRIGGER fault_slow_landing ON ingest_ranges")
    assert covered == cursor - 1 and half_landed == 0  # the landing in flight left nothing behind

    Ingestor(ingest_settings(anvil.url, fault_db), fault_db).follow()
    result = record(fills_result("db: postgres kill -9 during a landing", "SIGKILL of the postmaster and backends "
                                "mid-transaction, restart, rerun", fault_db, anvil.url, txs,
                                clean_landing(anvil.url, make_database), landed_before_kill=covered + 1))
    assert result.clean and result.details["same_rows_as_clean_run"], result


def _whales_world(db: str, clob) -> StandInWorld:
    """Five whales buying in five markets: with MAX_OPEN_POSITIONS=3 two entries are rejected."""
    world = StandInWorld(db)
    for i in range(5):
        world.trade(world.wallet(f"fault whale {i}", 8.5, "WHALE"), world.market(f"fault market {i}", clob))
    return world


def test_postgres_killed_during_a_trade_execution_then_restarted(fault_pg, fault_db, db_url, clob):
    cfg = paper_settings(clob.url, max_open_positions=3)
    _whales_world(db_url, clob)
    run_paper(db_url, cfg)  # the clean run
    _whales_world(fault_db, clob)
    decisions: list[int] = []

    def crash_on_second_order(signal_id: int) -> None:
        decisions.append(signal_id)
        if len(decisions) == 2:  # inside the deciding transaction, the signal row written, the order not yet
            kill_postgres(fault_pg)

    broker = PaperBroker(cfg)
    try:
        with pytest.raises(psycopg.OperationalError):
            with psycopg.connect(fault_db, autocommit=True) as conn:
                Executor(conn, cfg, broker, on_signal_pending=crash_on_second_order).run()
    finally:
        broker.close()
    fault_pg.start()
    with connect(fault_db) as conn:
        after_crash = conn.execute("SELECT status, count(*) FROM orderflow_signals GROUP BY 1").fetchall()
    assert after_crash == [("EXECUTED", 1)]  # the first decision committed, the second rolled back whole

    assert run_paper(fault_db, cfg).executed == 2
    assert run_paper(fault_db, cfg).signals_made == 0  # nothing left to decide: nothing decided twice
    with connect(fault_db) as conn, connect(db_url) as clean:
        lost, dup = trading_counts(conn, clean)
        breaches = limit_breaches(conn, cfg)
        executed = conn.execute("SELECT count(*) FROM orderflow_signals WHERE status = 'EXECUTED'").fetchone()[0]
    result = record(Result("db: postgres kill -9 during a trade execution", "SIGKILL of the postmaster between the "
                           "signal row and the order, restart, rerun", lost, dup, len(breaches),
                           {"breaches": breaches, "executed": executed}))
    assert result.clean, result


def test_disk_full_copy_lands_nothing_half_then_rerun_is_exact(anvil, replayer, fault_db, make_database):
    txs = replayer.random_activity(30)
    with connect(fault_db, autocommit=True) as conn:
        conn.execute(DISK_FULL)
    with pytest.raises(psycopg.errors.DiskFull, match="No space left on device"):
        Ingestor(ingest_settings(anvil.url, fault_db, log_range_initial=4, log_range_max=4), fault_db).follow()
    clean_db = clean_landing(anvil.url, make_database)
    with connect(fault_db, autocommit=True) as conn, connect(clean_db) as clean:
        cursor = conn.execute("SELECT next_block FROM ingest_cursor").fetchone()[0]
        partial, full = raw_snapshot(conn), raw_snapshot(clean)
        conn.execute("DROP TRIGGER fault_disk_full ON raw_order_fills")
    # every table holds exactly the clean run's rows below the cursor, and nothing at or above it
    assert cursor > 0 and partial == {t: [r for r in rows if r[1] < cursor] for t, rows in full.items()}

    Ingestor(ingest_settings(anvil.url, fault_db), fault_db).follow()
    result = record(fills_result("db: disk full during COPY", "COPY into raw_order_fills fails with SQLSTATE 53100, "
                                "then space is back, rerun", fault_db, anvil.url, txs, clean_db, cursor_at_failure=cursor))
    assert result.clean and result.details["same_rows_as_clean_run"], result


def occupy_connections(url: str) -> list[psycopg.Connection]:
    """Open connections until the server refuses one: every slot is taken."""
    held = []
    while True:
        try:
            held.append(connect(url, autocommit=True))
        except psycopg.OperationalError as e:
            assert "too many clients" in str(e), e
            return held
        assert len(held) < 200, "the server never ran out of connections"


def test_connection_limit_reached_fails_clearly_and_recovers(anvil, replayer, fault_pg, fault_db, make_fault_db, db_url,
                                                             make_database, clob):
    txs = replayer.random_activity(10)
    Ingestor(ingest_settings(anvil.url, fault_db), fault_db).follow()
    txs += replayer.random_activity(10)
    with connect(fault_db) as conn:
        before = raw_snapshot(conn)
    cfg = paper_settings(clob.url)
    _whales_world(db_url, clob)
    run_paper(db_url, cfg)
    trading_db = make_fault_db()
    _whales_world(trading_db, clob)

    held = occupy_connections(fault_pg.admin_url)
    try:
        with pytest.raises(psycopg.OperationalError, match="too many clients"):
            Ingestor(ingest_settings(anvil.url, fault_db), fault_db).follow()
        with pytest.raises(psycopg.OperationalError, match="too many clients"):
            run_paper(trading_db, cfg)
    finally:
        for conn in held:
            conn.close()
    with connect(fault_db) as conn:
        assert raw_snapshot(conn) == before  # nothing half-written
    with connect(trading_db) as conn:
        assert conn.execute("SELECT count(*) FROM orderflow_signals").fetchone()[0] == 0

    Ingestor(ingest_settings(anvil.url, fault_db), fault_db).follow()
    run_paper(trading_db, cfg)
    result = fills_result("db: connection limit reached", f"every free connection ({len(held)} of max_connections "
                                f"{FAULT_PG_MAX_CONNECTIONS}) held during a landing and a trading run, then freed", fault_db, anvil.url, txs,
                                clean_landing(anvil.url, make_database))
    with connect(trading_db) as conn, connect(db_url) as clean:
        lost, dup = trading_counts(conn, clean)
        result.rows_lost, result.duplicates = result.rows_lost + lost, result.duplicates + dup
        result.limit_breaches = len(limit_breaches(conn, cfg))
    record(result)
    assert result.clean and result.details["same_rows_as_clean_run"], result
