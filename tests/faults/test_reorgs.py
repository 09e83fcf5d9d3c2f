"""Reorgs of 1, 5 and 30 blocks end with the canonical rows only; a deeper one stops with a visible alarm.

Reorgs are made with anvil's own `anvil_rollback` and new blocks at the same heights.
"""

from __future__ import annotations

import dagster as dg
import pytest

from orderflow_dagster.defs.ingestion.assets import chain_logs
from orderflow_dagster.defs.ingestion.partitions import block_range_partitions, chunk_key
from orderflow_dagster.defs.ingestion.resources import ChainIngestion
from orderflow_dagster.ingest import DeepReorgError, Ingestor
from orderflow_dagster.simulator.anvil import rpc_call
from orderflow_dagster.warehouse.db import connect
from tests.faults.outcome import Result, record
from tests.faults.test_database import clean_landing, fills_result
from tests.integration.conftest import ingest_settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("depth", [1, 5, pytest.param(30, marks=pytest.mark.faults_long)])
def test_reorg_of_n_blocks_leaves_the_canonical_rows_once(anvil, replayer, db_url, make_database, depth):
    txs = replayer.random_activity(depth + 10)
    ingestor = Ingestor(ingest_settings(anvil.url, db_url), db_url)
    ingestor.follow()
    old_head = ingestor.client.block_number()
    rpc_call(anvil.url, "anvil_rollback", depth)
    txs += replayer.random_activity(depth + 2)  # other blocks at the same heights, and a longer chain
    result = ingestor.follow()
    assert [(r.fork_block, r.depth) for r in result.reorgs] == [(old_head - depth, depth)]

    outcome = record(fills_result(f"rpc: reorg of {depth} block{'s' if depth > 1 else ''}", f"anvil_rollback {depth}, "
                                  "new blocks at the same heights, follow again", db_url, anvil.url, txs,
                                  clean_landing(anvil.url, make_database)))
    assert outcome.clean and outcome.details["same_rows_as_clean_run"], outcome


def test_reorg_deeper_than_the_window_fails_the_dagster_run_with_an_alarm(anvil, replayer, db_url, monkeypatch):
    replayer.random_activity(30)
    resource = ChainIngestion(database_url=db_url, rpc_url=anvil.url, start_block=0)
    settings = ingest_settings(anvil.url, db_url, reorg_window_blocks=8)
    Ingestor(settings, db_url).follow()
    with connect(db_url) as conn:
        before = conn.execute("SELECT count(*), max(block_number) FROM raw_order_fills").fetchone()
    rpc_call(anvil.url, "anvil_rollback", 20)
    replayer.random_activity(25)

    with pytest.raises(DeepReorgError, match=r"deeper than the kept window.*REORG_WINDOW_BLOCKS=8"):
        Ingestor(settings, db_url).follow()
    with pytest.raises(DeepReorgError):  # the alarm stays up: no later run resumes on a guess
        Ingestor(settings, db_url).follow()

    # As a Dagster run (what the sensor launches): the run fails and the UI shows the reason.
    monkeypatch.setenv("REORG_WINDOW_BLOCKS", "8")  # the resource reads the window from the environment
    key = chunk_key(0, settings.partition_size_blocks)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(block_range_partitions.name, [key])
        run = dg.materialize([chain_logs], instance=instance, partition_key=key, raise_on_error=False,
                             resources={"ingestion": resource},
                             run_config={"ops": {"chain_logs": {"config": {"mode": "follow"}}}},
                             tags={"orderflow/ingest": "follow"})
    failure = next(e for e in run.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert not run.success and "deeper than the kept window" in failure.step_failure_data.error.to_string()

    with connect(db_url) as conn:  # nothing was changed on a guess
        assert conn.execute("SELECT count(*), max(block_number) FROM raw_order_fills").fetchone() == before
        assert conn.execute("SELECT count(*) FROM chain_reorgs").fetchone()[0] == 0
    record(Result("rpc: reorg deeper than REORG_WINDOW_BLOCKS", "anvil_rollback 20 with an 8-block window: "
                  "DeepReorgError, the Dagster run fails showing it, no row changed on a guess"))
