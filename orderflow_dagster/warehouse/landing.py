"""Land decoded batches in Postgres: COPY, block hashes and the cursor in one transaction.

A landing *replaces* a block range: it deletes whatever rows the range already held, copies
the new rows and records the range, all in one transaction under an advisory lock. So a crash
leaves all of a batch or none, a rerun of a range lands nothing twice, and a reorg repair is
the same operation starting at the fork point.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timezone

import polars as pl
import psycopg

from orderflow_dagster.chain.contracts import EVENTS
from orderflow_dagster.chain.decode import CHAIN_COLUMNS, RAW_TABLES, TABLE_COLUMNS, DecodedBatch, column_name
from orderflow_dagster.warehouse import fastrows
from orderflow_dagster.warehouse.pgcopy import encode_binary

# One lock per chain: landings (follow, backfill, reorg repair) never interleave.
_LOCK_NAMESPACE = 0x0F10  # arbitrary, constant


@dataclass(frozen=True)
class Reorg:
    fork_block: int  # last block both chains share
    depth: int  # landed blocks replaced (cursor - fork_block - 1)
    old_hash: str | None  # our hash of the newest mismatching block
    new_hash: str | None  # the chain's hash of that block now


@dataclass(frozen=True)
class Landed:
    from_block: int
    to_block: int
    rows: dict[str, int]
    rows_deleted: int


def lock_chain(cur: psycopg.Cursor, chain_id: int) -> None:
    cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_NAMESPACE, chain_id))


@dataclass(frozen=True)
class CopyPayload:
    """A frame's rows written out for COPY ahead of time (prepare_copy)."""

    options: str  # COPY options: binary for the fill tables, text when every value allows it, else CSV
    data: list[bytes | memoryview]  # sent one piece after the other
    rows: int


# The bulk tables go as binary COPY (warehouse/pgcopy.py: the server parses no timestamps or
# numerics; bench-ingest: ~15% less server time per fill). Every column of theirs is an integer,
# a boolean, a timestamp, a fixed-width hex text or a uint256 (numeric); the other tables, with
# arrays and free text, stay on text COPY.
BINARY_TABLES = {
    table: frozenset(column_name(p.name) for e in EVENTS if e.table == table for p in e.params if p.type == "uint256")
    for table in ("raw_order_fills", "raw_orders_matched")
}


def prepare_copy(batch: DecodedBatch) -> DecodedBatch:
    """Write each table's rows for COPY now (e.g. in a decode thread, while the previous batch
    lands), so that copy_frame in the landing transaction only sends bytes."""
    prepared = {}
    for table, n in batch.rows().items():
        if not n:
            continue
        # the fill tables' undecoded logs: rows from their hex (fastrows.py); None = decode them
        pieces = (fastrows.encode_events(TABLE_COLUMNS[table], batch.pending[table], chain_columns=CHAIN_COLUMNS)
                  if table in batch.pending else None)
        prepared[table] = (CopyPayload(_BINARY_OPTIONS, pieces, n) if pieces is not None
                           else render_copy(table, batch.frame(table)))
    batch.prepared = prepared
    if batch.blocks is not None:
        batch.block_lists = _block_lists(batch.blocks)
    return batch


def render_copy(table: str, df: pl.DataFrame) -> CopyPayload:
    df = df.select(TABLE_COLUMNS[table])
    if table in BINARY_TABLES:
        pieces = encode_binary(df, BINARY_TABLES[table])
        if pieces is not None:  # else a value of unusual width: text takes anything
            return CopyPayload(_BINARY_OPTIONS, pieces, df.height)
    data = _render_csv(df)
    return CopyPayload(_TEXT_OPTIONS if _text_format_safe(data) else _CSV_OPTIONS, [data], df.height)


def _copy_rows(cur: psycopg.Cursor, batch: DecodedBatch, table: str, n: int) -> int:
    """COPY one table's rows of a batch: its prepared rows when there are (they alone, the
    frames are not read), else its frame."""
    prepared = batch.prepared.get(table)
    if n and prepared is not None and prepared.rows == n:
        _send(cur, table, prepared)
        return n
    return copy_frame(cur, table, batch.frame(table))


def _send(cur: psycopg.Cursor, table: str, prepared: CopyPayload) -> None:
    with cur.copy(f"COPY {table} ({', '.join(TABLE_COLUMNS[table])}) FROM STDIN ({prepared.options})") as cp:
        for piece in prepared.data:
            cp.write(piece)


def copy_frame(cur: psycopg.Cursor, table: str, df: pl.DataFrame, prepared: CopyPayload | None = None) -> int:
    """COPY a frame whose columns are in table order; returns the rows copied.

    The rows are written by polars' CSV writer (NULL = empty field). When no value needed CSV
    quoting and none holds a backslash, which is the case for decoded logs (hex, numbers,
    timestamps), the same bytes go as COPY text format, which the server reads about 10% faster
    than CSV. Timestamps are written without a zero fraction ("2024-10-27 03:33:20+0000").

    prepared: the rows written already (prepare_copy): only sent. Otherwise they are written
    and sent in slices, so the server stores one slice while the next is written; a slice that
    text format cannot carry (an empty string, a comma, a quote, a newline or a backslash in a
    value: quarantine reasons, arrays) undoes the text COPY (a savepoint) and the frame goes as CSV.
    """
    if df.height == 0:
        return 0
    cols = TABLE_COLUMNS[table]
    column_list = ", ".join(cols)
    if prepared is not None and prepared.rows == df.height:
        _send(cur, table, prepared)
        return df.height
    df = df.select(cols)
    first = _render_csv(df.slice(0, COPY_SLICE_ROWS))
    if _text_format_safe(first):
        try:
            with cur.connection.transaction():  # a savepoint, so a CSV retry can follow a refused slice
                with cur.copy(f"COPY {table} ({column_list}) FROM STDIN ({_TEXT_OPTIONS})") as cp:
                    cp.write(first)
                    for start in range(COPY_SLICE_ROWS, df.height, COPY_SLICE_ROWS):
                        chunk = _render_csv(df.slice(start, COPY_SLICE_ROWS))
                        if not _text_format_safe(chunk):
                            raise _NotTextFormat
                        cp.write(chunk)
            return df.height
        except _NotTextFormat:
            pass
    with cur.copy(f"COPY {table} ({column_list}) FROM STDIN ({_CSV_OPTIONS})") as cp:
        cp.write(first)
        for start in range(COPY_SLICE_ROWS, df.height, COPY_SLICE_ROWS):
            cp.write(_render_csv(df.slice(start, COPY_SLICE_ROWS)))
    return df.height


COPY_SLICE_ROWS = 4_096
_TEXT_OPTIONS = "FORMAT text, DELIMITER ',', NULL ''"
_CSV_OPTIONS = "FORMAT csv"
_BINARY_OPTIONS = "FORMAT binary"
_COPY_TS_FORMAT = "%Y-%m-%d %H:%M:%S%.f%z"  # %.f prints nothing for a zero fraction


def _render_csv(df: pl.DataFrame) -> bytes:
    zoned = all(dt.time_zone is not None for dt in df.dtypes if isinstance(dt, pl.Datetime))
    buf = io.BytesIO()
    # a naive datetime keeps polars' default text (read in the session's time zone, as before)
    df.write_csv(buf, include_header=False, datetime_format=_COPY_TS_FORMAT if zoned else None)
    return buf.getvalue()


class _NotTextFormat(Exception):
    """A CSV slice whose values text format would read differently."""


def _text_format_safe(csv: bytes) -> bool:
    """True when CSV rows read the same as COPY text format with DELIMITER ',' and NULL '':
    nothing was quoted (no value held a comma, quote, newline or CR, and none was an empty
    string, which polars writes as "") and no value holds a backslash (text format's escape)."""
    return csv.find(b'"') < 0 and csv.find(b"\\") < 0


def delete_range(cur: psycopg.Cursor, chain_id: int, from_block: int, to_block: int | None) -> int:
    """Delete every landed row with from_block <= block (<= to_block); None = to the end.

    One statement (a data-modifying CTE per table) rather than one per table: a landing's
    round trips wait on a server and a client that share the CPU with the decoding. Every raw
    table's (chain_id, block_number) index serves it, so a fresh range costs one probe per table
    (a check of chain_blocks first, to skip them, measured no faster and was removed)."""
    sql = _DELETE_RANGE_SQL[to_block is None]
    cur.execute(sql, {"chain": chain_id, "lo": from_block, "hi": to_block})
    return int(cur.fetchone()[0])


def _delete_range_sql(open_ended: bool) -> str:
    cond = "chain_id = %(chain)s AND block_number >= %(lo)s" + ("" if open_ended else " AND block_number <= %(hi)s")
    tables = [*RAW_TABLES, "raw_quarantine"]
    ctes = [f"d{i} AS (DELETE FROM {t} WHERE {cond} RETURNING 1)" for i, t in enumerate(tables)]
    ctes.append(f"blocks AS (DELETE FROM chain_blocks WHERE {cond})")  # block hashes: not counted as rows
    counted = " + ".join(f"(SELECT count(*) FROM d{i})" for i in range(len(tables)))
    return f"WITH {', '.join(ctes)} SELECT {counted}"


_DELETE_RANGE_SQL = {o: _delete_range_sql(o) for o in (False, True)}


def land_range(
    conn: psycopg.Connection,
    chain_id: int,
    from_block: int,
    to_block: int,
    batch: DecodedBatch,
    *,
    end_block_hash: str | None,
    end_block_timestamp=None,
    mode: str = "follow",
    advance_cursor: bool = True,
    head_block: int | None = None,
    confirmations: int = 0,
    truncate_after: bool = False,
    reorg: "Reorg | None" = None,
) -> Landed:
    """Replace blocks [from_block, to_block] with `batch`, in one transaction.

    advance_cursor: move the follow cursor to to_block + 1 (follow mode and reorg repair).
    truncate_after: also delete anything above to_block (reorg repair: the old fork's tail).
    reorg: recorded in chain_reorgs in the same transaction as the repair.
    """
    _file_unplaced_quarantine(batch, from_block)
    with conn.transaction(), conn.cursor() as cur:
        lock_chain(cur, chain_id)
        deleted = delete_range(cur, chain_id, from_block, None if truncate_after else to_block)
        if reorg is not None:
            _insert_reorg(cur, chain_id, reorg, deleted)
        rows = {table: _copy_rows(cur, batch, table, n) for table, n in batch.rows().items()}
        _record_blocks(cur, chain_id, batch, to_block, end_block_hash, end_block_timestamp)
        cur.execute(
            "INSERT INTO ingest_ranges (chain_id, from_block, to_block, mode, logs, fills, quarantined)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (chain_id, from_block, to_block, mode, batch.logs, batch.fills, batch.quarantined),
        )
        if advance_cursor:
            final = None if head_block is None else head_block - confirmations
            cur.execute(
                "INSERT INTO ingest_cursor (chain_id, next_block, head_block, final_block, updated_at)"
                " VALUES (%s, %s, %s, %s, now())"
                " ON CONFLICT (chain_id) DO UPDATE SET next_block = EXCLUDED.next_block,"
                " head_block = COALESCE(EXCLUDED.head_block, ingest_cursor.head_block),"
                " final_block = COALESCE(EXCLUDED.final_block, ingest_cursor.final_block), updated_at = now()",
                (chain_id, to_block + 1, head_block, final),
            )
    return Landed(from_block, to_block, rows, deleted)


def _file_unplaced_quarantine(batch: DecodedBatch, from_block: int) -> None:
    """A quarantined log without a (valid) block number is kept under the first block of the
    range it came in, so that re-landing the range replaces it (delete_range goes by block)."""
    if not batch.quarantined:
        return
    q = batch.frame("raw_quarantine")
    if q.get_column("block_number").null_count():
        batch.replace_frame("raw_quarantine", q.with_columns(pl.col("block_number").fill_null(from_block)))


def truncate_from(conn: psycopg.Connection, chain_id: int, from_block: int, reorg: Reorg) -> int:
    """Reorg repair when the new chain ends at the fork point: drop the old tail, rewind the cursor."""
    with conn.transaction(), conn.cursor() as cur:
        lock_chain(cur, chain_id)
        deleted = delete_range(cur, chain_id, from_block, None)
        _insert_reorg(cur, chain_id, reorg, deleted)
        cur.execute("UPDATE ingest_cursor SET next_block = %s, updated_at = now() WHERE chain_id = %s", (from_block, chain_id))
    return deleted


def _insert_reorg(cur: psycopg.Cursor, chain_id: int, reorg: Reorg, rows_deleted: int) -> None:
    cur.execute(
        "INSERT INTO chain_reorgs (chain_id, fork_block, depth, old_hash, new_hash, rows_deleted)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (chain_id, reorg.fork_block, reorg.depth, reorg.old_hash, reorg.new_hash, rows_deleted),
    )


def _record_blocks(cur, chain_id, batch: DecodedBatch, to_block, end_hash, end_ts) -> None:
    """Upsert the batch's block hashes, plus the range's end block when no log was in it."""
    if batch.block_lists is not None:
        numbers, hashes, micros = (list(x) for x in batch.block_lists)
    elif batch.blocks is not None:
        numbers, hashes, micros = _block_lists(batch.blocks)
    else:
        numbers, hashes, micros = [], [], []
    if end_hash and to_block not in numbers:
        numbers.append(to_block)
        hashes.append(end_hash)
        micros.append(None if end_ts is None else _epoch_us(end_ts))
    if numbers:
        _upsert_block_lists(cur, chain_id, numbers, hashes, micros)


def _epoch_us(ts) -> int:
    """Microseconds since 1970 of a datetime (the end block's timestamp; naive = UTC)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    delta = ts - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _block_lists(blocks: pl.DataFrame) -> tuple[list, list, list]:
    """(numbers, hashes, epoch microseconds) of a block_number/block_hash/block_timestamp frame;
    a block number given twice keeps its last row, as row-by-row upserts would."""
    blocks = blocks.unique(subset="block_number", keep="last", maintain_order=True)
    return (blocks.get_column("block_number").to_list(), blocks.get_column("block_hash").to_list(),
            blocks.get_column("block_timestamp").dt.epoch("us").to_list())


def upsert_blocks(cur: psycopg.Cursor, chain_id: int, blocks: pl.DataFrame) -> None:
    """Insert or update chain_blocks rows (block_number, block_hash, block_timestamp columns) in one
    statement. A block number given twice keeps its last row, as row-by-row upserts would."""
    _upsert_block_lists(cur, chain_id, *_block_lists(blocks))


def _upsert_block_lists(cur: psycopg.Cursor, chain_id: int, numbers: list, hashes: list, micros: list) -> None:
    # The columns go as arrays (timestamps as epoch microseconds): one statement, not one per
    # block; in binary (%b), which a range's few hundred blocks dump and parse ~3x faster than text.
    cur.execute(
        "INSERT INTO chain_blocks (chain_id, block_number, block_hash, block_timestamp)"
        " SELECT %s, n, h, timestamptz 'epoch' + us * interval '1 microsecond'"
        " FROM unnest(%b::bigint[], %b::text[], %b::bigint[]) AS b(n, h, us)"
        " ON CONFLICT (chain_id, block_number) DO UPDATE SET block_hash = EXCLUDED.block_hash,"
        " block_timestamp = EXCLUDED.block_timestamp",
        (chain_id, numbers, hashes, micros),
    )


def read_cursor(conn: psycopg.Connection, chain_id: int) -> int | None:
    row = conn.execute("SELECT next_block FROM ingest_cursor WHERE chain_id = %s", (chain_id,)).fetchone()
    return None if row is None else int(row[0])


def init_cursor(conn: psycopg.Connection, chain_id: int, next_block: int) -> int:
    """Set the follow cursor if none exists yet; return the cursor in force."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO ingest_cursor (chain_id, next_block) VALUES (%s, %s) ON CONFLICT (chain_id) DO NOTHING",
            (chain_id, next_block),
        )
    return read_cursor(conn, chain_id)  # type: ignore[return-value]


def recent_blocks(conn: psycopg.Connection, chain_id: int, below: int, limit: int) -> list[tuple[int, str]]:
    """Landed block hashes below `below`, newest first (for reorg detection)."""
    return conn.execute(
        "SELECT block_number, block_hash FROM chain_blocks WHERE chain_id = %s AND block_number < %s"
        " ORDER BY block_number DESC LIMIT %s",
        (chain_id, below, limit),
    ).fetchall()


INGEST_STATE_TABLES = ["ingest_cursor", "ingest_ranges", "chain_reorgs"]


def check_chain_identity(conn: psycopg.Connection, chain_id: int, genesis_hash: str, simulated: bool) -> bool:
    """Record the chain's genesis; for a simulated chain with a new genesis, clear its old rows.

    Returns True when old rows were cleared. A live chain whose genesis changed is an error.
    """
    with conn.transaction(), conn.cursor() as cur:
        lock_chain(cur, chain_id)
        cur.execute("SELECT genesis_hash FROM chain_identity WHERE chain_id = %s", (chain_id,))
        row = cur.fetchone()
        if row is not None and row[0] == genesis_hash:
            return False
        if row is not None and not simulated:
            raise RuntimeError(
                f"chain {chain_id} genesis is {genesis_hash}, but the database holds rows from genesis {row[0]}: "
                "POLYGON_RPC_URL points at a different chain than before"
            )
        if row is not None:
            delete_range(cur, chain_id, 0, None)
            for table in INGEST_STATE_TABLES:
                cur.execute(f"DELETE FROM {table} WHERE chain_id = %s", (chain_id,))
        cur.execute(
            "INSERT INTO chain_identity (chain_id, genesis_hash, simulated) VALUES (%s, %s, %s)"
            " ON CONFLICT (chain_id) DO UPDATE SET genesis_hash = EXCLUDED.genesis_hash,"
            " simulated = EXCLUDED.simulated, first_seen = now()",
            (chain_id, genesis_hash, simulated),
        )
        return row is not None
