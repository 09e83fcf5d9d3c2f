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


@dg.asset_check(asset=raw_asset_key("raw_order_fills"), name="no_duplicate_fill_keys", blocking=False)
def no_duplicate_fill_keys(ingestion: ChainIngestion) -> dg.AssetCheckResult:
    s = ingestion.settings()
    with connect(s.require_database_url(), autocommit=True) as conn:
        dupes = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM raw_order_fills GROUP BY chain_id, tx_hash, log_index"
            " HAVING count(*) > 1) d"
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=dupes == 0, metadata={"duplicate_keys": dupes})


INGESTION_CHECKS = [no_gaps_in_landed_blocks, no_duplicate_fill_keys]
