"""Orchestrator faults: overlapping backfills at once, a sensor tick delivered twice, the daemon killed mid-run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import pytest

from orderflow_dagster.defs.ingestion.assets import chain_logs
from orderflow_dagster.defs.ingestion.partitions import block_range_partitions
from orderflow_dagster.defs.ingestion.resources import ChainIngestion
from orderflow_dagster.defs.ingestion.sensors import FOLLOW_TAG, chain_head_sensor
from orderflow_dagster.ingest import Ingestor
from orderflow_dagster.settings import REPO_ROOT
from orderflow_dagster.warehouse.db import connect
from tests.faults.outcome import record
from tests.faults.test_database import SLOW_LANDING, clean_landing, fills_result, wait_for
from tests.integration.conftest import ingest_settings

pytestmark = pytest.mark.integration


def test_two_overlapping_backfills_and_a_follow_at_once_land_every_fill_once(anvil, replayer, db_url, make_database):
    txs = replayer.random_activity(30)
    replayer.rpc("anvil_mine", hex(5))  # backfills land final blocks only (CONFIRMATIONS)
    head = int(replayer.rpc("eth_blockNumber"), 16)
    settings = ingest_settings(anvil.url, db_url, confirmations=5, log_range_initial=4, log_range_max=4)
    jobs = [lambda: Ingestor(settings, db_url).backfill(0, head * 2 // 3),
            lambda: Ingestor(settings, db_url).backfill(head // 3, head),
            lambda: Ingestor(settings, db_url).follow()]
    barrier, errors = threading.Barrier(len(jobs)), []

    def run(job):
        barrier.wait()
        try:
            job()
        except Exception as e:  # noqa: BLE001 - asserted below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with connect(db_url) as conn:
        overlaps = conn.execute("SELECT count(*) FROM ingest_ranges a JOIN ingest_ranges b ON a.id < b.id"
                                " AND a.from_block <= b.to_block AND b.from_block <= a.to_block").fetchone()[0]
    result = record(fills_result("dagster: overlapping backfills at once", "backfills of blocks 0-2/3 and 1/3-head and "
                                 "a follow run, in three threads at the same time", db_url, anvil.url, txs,
                                 clean_landing(anvil.url, make_database), overlapping_range_landings=overlaps))
    assert overlaps > 0  # the runs really landed the same blocks more than once
    assert result.clean and result.details["same_rows_as_clean_run"], result


# --- the real daemon: killed mid-run, restarted -------------------------------------------------

def _daemon_env(home: Path, db_url: str, rpc_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("POLYGON_RPC_URL", "DAGSTER_HOME")}
    env.update(DAGSTER_HOME=str(home), DATABASE_URL=db_url, ANVIL_PORT=str(rpc_port), START_BLOCK="0",
               CONFIRMATIONS="0", SENSOR_INTERVAL_SECONDS="1", LOG_RANGE_INITIAL="1", LOG_RANGE_MAX="1",
               RPC_CONCURRENCY="1", PYTHONPATH=str(REPO_ROOT))
    return env


def _start_daemon(home: Path, env: dict, n: int) -> subprocess.Popen:
    log = open(home / f"daemon-{n}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(home / "workspace.yaml")],
                            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group we started (the daemon, its code server, any run worker)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(30)


WORKSPACE = """load_from:
  - python_module:
      module_name: orderflow_dagster.defs.ingestion.definitions
      attribute: defs
      location_name: ingestion
      working_directory: {root}
"""


@pytest.mark.faults_long
@pytest.mark.parametrize("whole_tree", [False, True], ids=["daemon only", "daemon, code server and run worker"])
def test_daemon_killed_mid_run_then_restarted_lands_every_fill_once(anvil, replayer, db_url, make_database, tmp_path,
                                                                     monkeypatch, whole_tree):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")  # the instance config `orderflow up` uses
    (home / "workspace.yaml").write_text(WORKSPACE.format(root=REPO_ROOT))
    env = _daemon_env(home, db_url, int(anvil.url.rsplit(":", 1)[1]))
    monkeypatch.setenv("DATABASE_URL", db_url)  # this process reads the same instance
    txs = replayer.random_activity(40)
    with connect(db_url, autocommit=True) as conn:
        conn.execute(SLOW_LANDING)  # about 0.3 s per block: the run is still landing when the daemon dies
    daemons = [_start_daemon(home, env, 1)]
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        with connect(db_url, autocommit=True) as watch:
            landing = ("SELECT (SELECT count(*) FROM ingest_ranges) >= 3 AND EXISTS (SELECT 1 FROM pg_stat_activity"
                       " WHERE wait_event = 'PgSleep')")
            wait_for(lambda: watch.execute(landing).fetchone()[0], 240, "a follow run landing blocks")
            if whole_tree:  # as when the host or container dies: the run worker dies mid-transaction too
                _stop_group(daemons[0])
            else:  # the daemon only: its code server and the run worker are orphaned and go on
                os.kill(daemons[0].pid, signal.SIGKILL)
                daemons[0].wait(10)
            in_progress = [r.dagster_run.status for r in instance.get_run_records(dg.RunsFilter(tags={FOLLOW_TAG: "follow"}))]
            watch.execute("DROP TRIGGER fault_slow_landing ON ingest_ranges")
        daemons.append(_start_daemon(home, env, 2))
        txs += replayer.random_activity(5)  # the chain goes on: the restarted daemon must follow it
        head = int(replayer.rpc("eth_blockNumber"), 16)

        def caught_up() -> bool:
            with connect(db_url) as conn:
                cursor = conn.execute("SELECT next_block FROM ingest_cursor").fetchone()
            runs = instance.get_run_records(dg.RunsFilter(tags={FOLLOW_TAG: "follow"}))
            return cursor is not None and cursor[0] == head + 1 and all(r.dagster_run.is_finished for r in runs)

        # With the run worker killed too, its run stays STARTED until run monitoring fails it at
        # dagster/max_runtime (sensors.follow_max_runtime_seconds: 60 s here) plus a 30 s poll.
        wait_for(caught_up, 420, "the restarted daemon to land up to the head")
        runs = instance.get_run_records(dg.RunsFilter(tags={FOLLOW_TAG: "follow"}))
        what = "dagster-daemon, its code server and the run worker" if whole_tree else "dagster-daemon"
        result = fills_result(f"dagster: kill -9 of {what} mid-run", f"SIGKILL of {what} while a follow run "
                              "lands, restart, the chain goes on", db_url, anvil.url, txs,
                              clean_landing(anvil.url, make_database),
                              status_at_kill=[str(s) for s in in_progress],
                              runs={str(s): sum(r.dagster_run.status == s for r in runs) for s in {r.dagster_run.status for r in runs}})
        record(result)
        assert result.clean and result.details["same_rows_as_clean_run"], result
        assert dg.DagsterRunStatus.STARTED in in_progress  # the daemon really died mid-run

    finally:
        for d in daemons:
            _stop_group(d)


def test_the_same_sensor_tick_twice_requests_one_run_key_and_lands_once(anvil, replayer, db_url, make_database):
    """A tick evaluated twice from the same cursor asks for the same run key (the daemon launches a key
    once); and even if both requests ran, the follow run lands nothing twice."""
    txs = replayer.random_activity(20)
    resource = ChainIngestion(database_url=db_url, rpc_url=anvil.url, start_block=0)
    with dg.instance_for_test() as instance:
        ticks = [chain_head_sensor(dg.build_sensor_context(instance=instance, cursor=None, resources={"ingestion": resource}))
                 for _ in range(2)]
        (first,), (second,) = (t.run_requests for t in ticks)
        assert (first.run_key, first.run_config, first.partition_key) == (second.run_key, second.run_config, second.partition_key)
        assert "dagster/max_runtime" in first.tags  # a run whose worker died cannot hold the follow queue for ever
        instance.add_dynamic_partitions(block_range_partitions.name, [first.partition_key])
        runs = [dg.materialize([chain_logs], instance=instance, partition_key=r.partition_key, run_config=r.run_config,
                               resources={"ingestion": resource}, tags=r.tags) for r in (first, second)]
    assert all(r.success for r in runs)
    result = record(fills_result("dagster: the same sensor tick twice", "one tick evaluated twice from the same cursor, "
                                 "and both of its run requests executed", db_url, anvil.url, txs,
                                 clean_landing(anvil.url, make_database), run_key=first.run_key))
    assert result.clean and result.details["same_rows_as_clean_run"], result
