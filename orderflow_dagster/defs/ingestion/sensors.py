"""The head sensor: each tick, request one follow run for the blocks past the cursor.

The sensor's cursor is the next block it has not yet requested. The run itself lands from the
database cursor up to the head at run time, so a failed or slow run loses nothing: the next
run covers its blocks. While a follow run is queued or starting, the sensor waits rather
than queue more (that run will reach the head anyway). run_key = the requested range, so a
tick evaluated twice launches nothing twice.
"""

import time

import dagster as dg

from orderflow_dagster.chain.rpc import RpcError, TransientRpcError
from orderflow_dagster.defs.ingestion.assets import chain_logs, raw_asset_key
from orderflow_dagster.chain.contracts import CONTRACTS
from orderflow_dagster.defs.ingestion.partitions import block_range_partitions, chunk_bounds, chunk_key, chunk_keys
from orderflow_dagster.defs.ingestion.resources import ChainIngestion
from orderflow_dagster.settings import get_settings
from orderflow_dagster.warehouse.db import connect
from orderflow_dagster.warehouse.landing import read_cursor

FOLLOW_TAG = "orderflow/ingest"
# The fast path counts as alive while its last landing is this recent and it is this close to the head.
FAST_PATH_ALIVE_SECONDS = 30.0
FAST_PATH_MAX_LAG_BLOCKS = 15
# Runs requested but not yet executing: a sensor that sees one waits rather than queue another.
WAITING_RUN_STATUSES = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]


def follow_max_runtime_seconds(sensor_interval_seconds: int) -> int:
    """dagster/max_runtime of a follow run: 60 sensor intervals, at least 60 s.

    A run whose worker died with its host stays STARTED for ever (the default run launcher
    cannot check workers), and the follow-run concurrency limit of 1 then holds every later
    follow run in the queue: ingestion would stall. Run monitoring fails a run past this age.
    Ending a slow but live run loses nothing: each range commits with the cursor, the next run goes on.
    """
    return max(60, 60 * sensor_interval_seconds)


def _fast_path_keeping_up(instance: dg.DagsterInstance, head: int, next_block: int) -> str | None:
    """A reason to skip when the fast path (runless landings, fastpath.py) landed lately and keeps up;
    None otherwise, so the sensor takes over as soon as it stalls or stops."""
    latest = instance.get_latest_materialization_event(raw_asset_key("raw_order_fills"))
    if latest is None or latest.run_id:
        return None
    age = time.time() - latest.timestamp
    lag = head - next_block + 1
    if age <= FAST_PATH_ALIVE_SECONDS and lag <= FAST_PATH_MAX_LAG_BLOCKS:
        return f"the fast path is landing (last landing {age:.0f} s ago, {max(lag, 0)} blocks behind the head)"
    return None


def plan_follow_request(next_block: int, head: int, partition_size: int, max_blocks: int) -> tuple[int, int, str] | None:
    """(from, to, partition key) of the next follow run, or None when the head is not past next_block."""
    if head < next_block:
        return None
    _, chunk_last = chunk_bounds(next_block, partition_size)
    to = min(head, chunk_last, next_block + max_blocks - 1)
    return next_block, to, chunk_key(next_block, partition_size)


@dg.sensor(
    name="chain_head_sensor",
    target=[chain_logs],
    minimum_interval_seconds=get_settings().sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a follow run of chain_logs for each new block range at the chain head.",
)
def chain_head_sensor(context: dg.SensorEvaluationContext, ingestion: ChainIngestion):
    settings = ingestion.settings()
    try:
        with ingestion.rpc() as rpc:
            head = rpc.block_number()
    except (RpcError, TransientRpcError) as e:
        return dg.SkipReason(f"chain head unavailable: {e}")

    # A sensor cursor past the head means the chain went backwards (a restarted local chain or
    # a reorg to a shorter chain): start again from what the database has landed.
    # The database cursor counts too: the fast path (fastpath.py) may have landed past our cursor.
    with connect(settings.require_database_url(), autocommit=True) as conn:
        landed = read_cursor(conn, settings.chain_id)
    if context.cursor and int(context.cursor) <= head + 1:
        next_block = max(int(context.cursor), landed or 0)
    else:
        next_block = landed if landed is not None else ingestion.ingestor().default_start_block(head)

    waiting = context.instance.get_run_records(
        dg.RunsFilter(statuses=WAITING_RUN_STATUSES, tags={FOLLOW_TAG: "follow"}), limit=1
    )
    if waiting:
        return dg.SkipReason(f"follow run {waiting[0].dagster_run.run_id[:8]} not started yet; it will reach the head")

    fast = _fast_path_keeping_up(context.instance, head, next_block)
    if fast:
        return dg.SkipReason(fast)

    if next_block > head + 1:
        # Even the database is past the head: the chain went backwards (a reorg to a shorter
        # chain, or a restarted local chain). A follow run compares hashes and repairs.
        next_block = head
    plan = plan_follow_request(next_block, head, settings.partition_size_blocks, settings.max_blocks_per_run)
    if plan is None:
        return dg.SkipReason(f"no new blocks (head {head}, next {next_block})")
    first, to, partition = plan
    context.update_cursor(str(to + 1))
    # Register every chunk from the first watched contract to the head, so history partitions
    # can be picked for a backfill in the UI (about 800 on Polygon; added once).
    history_start = 0 if settings.uses_local_chain else min(c.first_block for c in CONTRACTS)
    known = set(context.instance.get_dynamic_partitions(block_range_partitions.name))
    missing = [k for k in chunk_keys(history_start, head, settings.partition_size_blocks) if k not in known]
    if partition not in known and partition not in missing:
        missing.append(partition)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"follow-{first}-{to}",
                partition_key=partition,
                run_config=dg.RunConfig(ops={"chain_logs": {"config": {"mode": "follow", "to_block": to}}}),
                tags={FOLLOW_TAG: "follow", "orderflow/blocks": f"{first}-{to}",
                      "dagster/max_runtime": str(follow_max_runtime_seconds(settings.sensor_interval_seconds))},
            )
        ],
        dynamic_partitions_requests=[block_range_partitions.build_add_request(missing)] if missing else [],
    )
