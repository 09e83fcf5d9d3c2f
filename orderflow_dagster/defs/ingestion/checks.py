"""Asset checks on the raw tables: landed block coverage has no gaps, keys are unique."""


import dagster as dg

from orderflow_dagster.defs.ingestion.assets import raw_asset_key
from orderflow_dagster.defs.ingestion.resources import ChainIngestion
from orderflow_dagster.warehouse.db import connect

GAPS_SQL = """
WITH r AS (
    SELECT from_block, to_block,
           max(to_block) OVER (ORDER BY from_block, to_block ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM ingest_ranges WHERE chain_id = %(chain)s
)
SELECT reach + 1 AS gap_from, from_block - 1 AS gap_to FROM r WHERE from_block > reach + 1 ORDER BY 1
"""


def find_gaps(conn, chain_id: int) -> list[tuple[int, int]]:
    """Block ranges missing between the first and last landed block."""
    return conn.execute(GAPS_SQL, {"chain": chain_id}).fetchall()


@dg.asset_check(asset=raw_asset_key("raw_order_fills"), name="no_gaps_in_landed_blocks", blocking=False)
def no_gaps_in_landed_blocks(ingestion: ChainIngestion) -> dg.AssetCheckResult:
    s = ingestion.settings()
    with connect(s.require_database_url(), autocommit=True) as conn:
        gaps = find_gaps(conn, s.chain_id)
        lo, hi = conn.execute(
            "SELECT min(from_block), max(to_block) FROM ingest_ranges WHERE chain_id = %s", (s.chain_id,)
        ).fetchone()
    return dg.AssetCheckResult(
        passed=not gaps,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"covered_from": lo or 0, "covered_to": hi or 0, "gaps": len(gaps), "first_gaps": str(gaps[:10])},
    )


# The fills' primary key is their position, (chain_id, block_number, log_index) (migrations/0007);
# their identity downstream is (chain_id, tx_hash, log_index). On a chain the two agree; a fill
# landed at two heights (a reorg repair that left an orphaned block's rows) would break only the
# second, so that is what this counts, over the blocks a run landed: a whole-table count reads
# and sorts every fill (1.2 s per million here), on every follow run.
DUPLICATE_KEYS_SQL = """
SELECT count(*) FROM (
    SELECT 1 FROM raw_order_fills
    WHERE chain_id = %(chain)s AND block_number BETWEEN %(lo)s AND %(hi)s
    GROUP BY tx_hash, log_index HAVING count(*) > 1
) AS d
"""


def count_duplicate_fill_keys(conn, chain_id: int, from_block: int = 0, to_block: int = 2**62) -> int:
    """(tx_hash, log_index) pairs held by more than one fill of blocks [from_block, to_block]."""
    return conn.execute(DUPLICATE_KEYS_SQL, {"chain": chain_id, "lo": from_block, "hi": to_block}).fetchone()[0]


def _landed_by_run(context: dg.AssetCheckExecutionContext) -> tuple[int, int] | None | bool:
    """(from_block, to_block) of the raw_order_fills materialization of the check's own run;
    False when the run materialized it without landing a block (the fast path had landed them);
    None when the run did not materialize it (the check run on its own)."""
    key = raw_asset_key("raw_order_fills")
    records = context.instance.get_records_for_run(context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    for record in records:
        m = record.event_log_entry.asset_materialization
        if m is not None and m.asset_key == key:
            if "from_block" not in m.metadata:
                return False
            return int(m.metadata["from_block"].value), int(m.metadata["to_block"].value)
    return None


@dg.asset_check(
    asset=raw_asset_key("raw_order_fills"), name="no_duplicate_fill_keys", blocking=False,
    description="No (chain_id, tx_hash, log_index) held by two fills, among the blocks the run landed "
                "(the whole table when the check runs on its own).",
)
def no_duplicate_fill_keys(context: dg.AssetCheckExecutionContext, ingestion: ChainIngestion) -> dg.AssetCheckResult:
    s = ingestion.settings()
    landed = _landed_by_run(context)
    if landed is False:
        return dg.AssetCheckResult(passed=True, metadata={"duplicate_keys": 0, "checked": "no block landed by this run"})
    with connect(s.require_database_url(), autocommit=True) as conn:
        dupes = count_duplicate_fill_keys(conn, s.chain_id, *(landed or ()))
    scope = {"checked_from_block": landed[0], "checked_to_block": landed[1]} if landed else {"checked": "whole table"}
    return dg.AssetCheckResult(passed=dupes == 0, metadata={"duplicate_keys": dupes, **scope})


INGESTION_CHECKS = [no_gaps_in_landed_blocks, no_duplicate_fill_keys]
