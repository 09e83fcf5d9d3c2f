"""What `orderflow status` reports: cursor, lag to head, rows per table, last reorg."""

from __future__ import annotations

from dataclasses import dataclass, field

from orderflow_dagster.chain.decode import RAW_TABLES
from orderflow_dagster.chain.rpc import RpcClient, RpcError, TransientRpcError
from orderflow_dagster.settings import Settings
from orderflow_dagster.warehouse.db import connect, redact_url


@dataclass
class Status:
    database: str
    rpc: str
    next_block: int | None = None
    head_block: int | None = None
    head_error: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    model_rows: dict[str, int] = field(default_factory=dict)  # dbt models (tables): planner estimates
    last_reorg: tuple | None = None
    last_landing: tuple | None = None

    @property
    def lag_blocks(self) -> int | None:
        if self.next_block is None or self.head_block is None:
            return None
        return max(0, self.head_block - (self.next_block - 1))


def collect_status(settings: Settings, database_url: str) -> Status:
    st = Status(database=redact_url(database_url), rpc=redact_url(settings.rpc_url))
    try:
        with RpcClient(settings.rpc_url, timeout=5.0, max_retries=1) as rpc:
            st.head_block = rpc.block_number()
    except (RpcError, TransientRpcError) as e:
        st.head_error = str(e)
    with connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT next_block FROM ingest_cursor WHERE chain_id = %s", (settings.chain_id,)).fetchone()
        st.next_block = None if row is None else row[0]
        for table in [*RAW_TABLES, "raw_quarantine"]:
            st.rows[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        # Estimates from the planner statistics: exact counts of big marts would take seconds. A
        # partitioned table (the reputation history) counts its partitions' rows, not listed apart.
        st.model_rows = dict(conn.execute(
            "SELECT c.relname, greatest(CASE WHEN c.relkind = 'p' THEN (SELECT sum(greatest(k.reltuples, 0))"
            " FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid WHERE i.inhparent = c.oid) ELSE c.reltuples END,"
            " 0)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            " AND c.relname LIKE 'orderflow\\_%' ORDER BY c.relname"
        ).fetchall())
        st.last_reorg = conn.execute(
            "SELECT detected_at, fork_block, depth, rows_deleted FROM chain_reorgs WHERE chain_id = %s ORDER BY id DESC LIMIT 1",
            (settings.chain_id,),
        ).fetchone()
        st.last_landing = conn.execute(
            "SELECT landed_at, from_block, to_block, mode FROM ingest_ranges WHERE chain_id = %s ORDER BY id DESC LIMIT 1",
            (settings.chain_id,),
        ).fetchone()
    return st


def format_status(st: Status) -> str:
    lines = [
        f"database     {st.database}",
        f"chain        {st.rpc}" + (f"  (unreachable: {st.head_error})" if st.head_error else ""),
        f"head block   {st.head_block if st.head_block is not None else '?'}",
        f"next block   {st.next_block if st.next_block is not None else 'not started'}",
        f"lag to head  {st.lag_blocks if st.lag_blocks is not None else '?'} blocks",
        "last landing " + ("never" if not st.last_landing else
                           f"{st.last_landing[0]:%Y-%m-%d %H:%M:%S} blocks {st.last_landing[1]}-{st.last_landing[2]} ({st.last_landing[3]})"),
        "last reorg   " + ("none" if not st.last_reorg else
                           f"{st.last_reorg[0]:%Y-%m-%d %H:%M:%S} fork at {st.last_reorg[1]}, depth {st.last_reorg[2]}, "
                           f"{st.last_reorg[3]} rows replaced"),
        "rows:",
    ]
    lines += [f"  {table:<26}{n:>12,}" for table, n in st.rows.items()]
    if st.model_rows:
        lines.append("dbt models and trading tables (estimated rows):")
        lines += [f"  {table:<30}{n:>12,}" for table, n in st.model_rows.items()]
    return "\n".join(lines)
