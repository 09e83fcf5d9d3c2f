"""The head sensor and the ingestion asset, run as real Dagster runs on Postgres-backed storage."""

from __future__ import annotations

import dagster as dg
import pytest

from orderflow_dagster.defs.ingestion.assets import chain_logs, raw_asset_key
from orderflow_dagster.defs.ingestion.checks import no_duplicate_fill_keys, no_gaps_in_landed_blocks
from orderflow_dagster.defs.ingestion.partitions import block_range_partitions, chunk_key
from orderflow_dagster.defs.ingestion.resources import ChainIngestion
from orderflow_dagster.defs.ingestion.sensors import FAST_PATH_MAX_LAG_BLOCKS, chain_head_sensor
from orderflow_dagster.warehouse.db import connect
from tests.integration.chain_truth import canonical_fills, head_after, landed_fills

pytestmark = pytest.mark.integration


@pytest.fixture
def instance(db_url):
    overrides = {"storage": {"postgres": {"postgres_url": db_url}}}
    with dg.instance_for_test(overrides=overrides) as inst:
        yield inst


def _evaluate(instance, resource, cursor=None):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"ingestion": resource})
    return chain_head_sensor(ctx), ctx


def test_sensor_requests_a_follow_run_and_the_run_lands_the_fills(anvil, replayer, db_url, instance):
    txs = replayer.random_activity(15)
    head = head_after(anvil.url, txs)
    resource = ChainIngestion(database_url=db_url, rpc_url=anvil.url, start_block=0)

    result, ctx = _evaluate(instance, resource)
    (request,) = result.run_requests
    assert request.run_key == f"follow-0-{head}" and request.partition_key == chunk_key(0, 100_000)
    assert ctx.cursor == str(head + 1)
    assert result.dynamic_partitions_requests[0].partition_keys == [request.partition_key]

    instance.add_dynamic_partitions(block_range_partitions.name, [request.partition_key])
    run = dg.materialize(
        [chain_logs, no_gaps_in_landed_blocks, no_duplicate_fill_keys], instance=instance,
        partition_key=request.partition_key, run_config=request.run_config, resources={"ingestion": resource},
        tags=request.tags,
    )
    assert run.success
    fills = [m for m in run.asset_materializations_for_node("chain_logs") if m.asset_key == raw_asset_key("raw_order_fills")]
    md = fills[0].metadata
    truth = canonical_fills(anvil.url, txs)
    assert md["rows_landed"].value == len(truth) and md["to_block"].value == head and md["lag_to_head_blocks"].value == 0
    checks = {e.check_name: e for e in run.get_asset_check_evaluations()}
    assert {name: e.passed for name, e in checks.items()} == {"no_gaps_in_landed_blocks": True, "no_duplicate_fill_keys": True}
    dupes_md = checks["no_duplicate_fill_keys"].metadata  # it read the blocks the run landed
    assert (dupes_md["checked_from_block"].value, dupes_md["checked_to_block"].value) == (0, head)
    with connect(db_url) as conn:
        assert landed_fills(conn) == truth
    # the run is stored in Postgres-backed storage
    assert instance.get_run_by_id(run.run_id).is_success

    again, _ = _evaluate(instance, resource, cursor=ctx.cursor)
    assert isinstance(again, dg.SkipReason) and "no new blocks" in again.skip_message


def test_duplicate_fill_key_check_fails_on_a_fill_landed_at_two_heights(anvil, replayer, db_url, instance):
    # The fills' primary key is their position (chain, block, log index): a fill left at a second
    # height (what a faulty reorg repair would leave) passes it, and the check is what catches it.
    txs = replayer.random_activity(4)
    head = head_after(anvil.url, txs)
    resource = ChainIngestion(database_url=db_url, rpc_url=anvil.url, start_block=0)
    instance.add_dynamic_partitions(block_range_partitions.name, [chunk_key(0, 100_000)])
    run = dg.materialize([chain_logs, no_duplicate_fill_keys], instance=instance, partition_key=chunk_key(0, 100_000),
                         run_config=dg.RunConfig(ops={"chain_logs": {"config": {"mode": "follow", "to_block": head}}}),
                         resources={"ingestion": resource})
    assert run.get_asset_check_evaluations()[0].passed
    with connect(db_url) as conn:
        conn.execute("INSERT INTO raw_order_fills SELECT chain_id, block_number + 1, block_hash, block_timestamp, tx_hash,"
                     " log_index, contract_address, generation, neg_risk, order_hash, maker, taker, maker_asset_id,"
                     " taker_asset_id, side, token_id, maker_amount_filled, taker_amount_filled, fee, builder, metadata"
                     " FROM raw_order_fills ORDER BY block_number DESC, log_index LIMIT 1")
        conn.commit()
    # a follow run with nothing new to land checks nothing (it reads no fill at all)
    idle = dg.materialize([chain_logs, no_duplicate_fill_keys], instance=instance, partition_key=chunk_key(0, 100_000),
                          run_config=dg.RunConfig(ops={"chain_logs": {"config": {"mode": "follow", "to_block": head}}}),
                          resources={"ingestion": resource})
    (nothing,) = idle.get_asset_check_evaluations()
    assert nothing.passed and nothing.metadata["checked"].value == "no block landed by this run"
    alone = dg.materialize([chain_logs, no_duplicate_fill_keys], instance=instance, resources={"ingestion": resource},
                           selection=dg.AssetSelection.checks(no_duplicate_fill_keys))
    (evaluation,) = alone.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.metadata["duplicate_keys"].value == 1 and evaluation.metadata["checked"].value == "whole table"


def test_sensor_waits_while_a_follow_run_has_not_started(anvil, replayer, db_url, instance):
    replayer.random_activity(3)
    resource = ChainIngestion(database_url=db_url, rpc_url=anvil.url, start_block=0)
    instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id="a" * 36, status=dg.DagsterRunStatus.NOT_STARTED,
                                   tags={"orderflow/ingest": "follow"}))
    result, _ = _evaluate(instance, resource)
    assert isinstance(result, dg.SkipReason) and "not started yet" in result.skip_message


def test_sensor_restarts_from_the_database_when_the_chain_went_backwards(anvil, replayer, db_url, instance):
    replayer.random_activity(3)
    resource = ChainIngestion(database_url=db_url, rpc_url=anvil.url, start_block=0)
    result, _ = _evaluate(instance, resource, cursor="999999")  # a cursor from a previous, longer chain
    assert result.run_requests[0].run_key.startswith("follow-0-")


def test_backfill_partition_replaces_its_chunk(anvil, replayer, db_url, instance):
    txs = replayer.random_activity(10)
    replayer.rpc("anvil_mine", hex(5))  # CONFIRMATIONS=5 by default: a backfill lands final blocks only
    head = int(replayer.rpc("eth_blockNumber"), 16)
    resource = ChainIngestion(database_url=db_url, rpc_url=anvil.url, start_block=0)
    key = chunk_key(0, 100_000)
    instance.add_dynamic_partitions(block_range_partitions.name, [key])
    for _ in range(2):  # a backfill rerun lands nothing twice
        assert dg.materialize([chain_logs], instance=instance, partition_key=key, resources={"ingestion": resource}).success
    with connect(db_url) as conn:
        assert landed_fills(conn) == canonical_fills(anvil.url, txs)
        modes = {m for (m,) in conn.execute("SELECT mode FROM ingest_ranges").fetchall()}
        last = conn.execute("SELECT max(to_block) FROM ingest_ranges").fetchone()[0]
    assert modes == {"backfill"} and last == head - 5


def test_sensor_asks_for_a_repair_run_when_even_the_database_is_past_the_head(anvil, replayer, db_url, instance):
    from orderflow_dagster.ingest import Ingestor
    from tests.integration.conftest import ingest_settings

    replayer.random_activity(12)
    Ingestor(ingest_settings(anvil.url, db_url), db_url).follow()
    replayer.rpc("anvil_rollback", 6)  # the chain is now shorter than what the database landed
    head = int(replayer.rpc("eth_blockNumber"), 16)
    resource = ChainIngestion(database_url=db_url, rpc_url=anvil.url, start_block=0)
    result, _ = _evaluate(instance, resource)
    assert result.run_requests[0].run_key == f"follow-{head}-{head}"


def test_fast_path_landings_show_in_dagster_and_the_sensor_does_not_repeat_them(anvil, replayer, db_url, instance):
    from orderflow_dagster.defs.dbt.schedules import trades_after_ingestion
    from orderflow_dagster.defs.ingestion.runless import report_landing
    from orderflow_dagster.ingest import Ingestor
    from tests.integration.conftest import ingest_settings

    replayer.random_activity(5)
    resource = ChainIngestion(database_url=db_url, rpc_url=anvil.url, start_block=0)
    _, ctx = _evaluate(instance, resource)  # the sensor's cursor is now past today's head
    head = head_after(anvil.url, replayer.random_activity(4))
    result = Ingestor(ingest_settings(anvil.url, db_url), db_url).follow()  # what the fast path does
    report_landing(instance, result, 100_000)

    # the sensor's own cursor is behind, the database's is at the head: no run for landed blocks
    again, _ = _evaluate(instance, resource, cursor=ctx.cursor)
    assert isinstance(again, dg.SkipReason) and "fast path is landing" in again.skip_message, again
    replayer.random_activity(2)  # a block or two the fast path has not landed yet: still its job
    soon, _ = _evaluate(instance, resource, cursor=ctx.cursor)
    assert isinstance(soon, dg.SkipReason) and "fast path is landing" in soon.skip_message, soon
    event = instance.get_latest_materialization_event(raw_asset_key("raw_order_fills"))
    md = event.asset_materialization.metadata
    assert event.run_id == "" and md["to_block"].value == head and md["fills"].value == result.fills > 0
    assert event.asset_materialization.partition == chunk_key(0, 100_000)
    # and the trades refresh sensor sees the landing like a run's
    assert isinstance(trades_after_ingestion(dg.build_sensor_context(instance=instance)), dg.RunRequest)
    # a fast path that stopped keeping up (more than FAST_PATH_MAX_LAG_BLOCKS behind) is taken over
    for _ in range(FAST_PATH_MAX_LAG_BLOCKS):
        replayer.rpc("evm_mine")
    late, _ = _evaluate(instance, resource, cursor=ctx.cursor)
    assert late.run_requests and late.run_requests[0].run_key.startswith(f"follow-{head + 1}-")
