"""Ingestion: fetch logs, decode, land, repair reorgs. Plain Python, no Dagster.

Two ways to land blocks, both through `land_range` (one transaction per range):
- follow: from the database cursor up to the chain head, checking recent block hashes first
  and repairing a reorg from the fork point; the cursor advances with each range.
- backfill: a fixed historical range, replaced as a whole, clipped to final blocks
  (head - CONFIRMATIONS); the follow cursor is not touched.
Decoding of the next range overlaps the landing of the previous one (a one-deep pipeline).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, TypeVar

import psycopg

from orderflow_dagster.chain.contracts import watched_addresses, watched_topics
from orderflow_dagster.chain.decode import DecodedBatch, decode_raw
from orderflow_dagster.chain.fetch import SpanController, fill_block_timestamps_frame, iter_log_ranges
from orderflow_dagster.chain.rpc import RpcClient
from orderflow_dagster.settings import Settings
from orderflow_dagster.warehouse.db import connect
from orderflow_dagster.warehouse.landing import (
    Reorg,
    check_chain_identity,
    init_cursor,
    land_range,
    prepare_copy,
    read_cursor,
    recent_blocks,
    truncate_from,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class DeepReorgError(RuntimeError):
    """No landed block within the kept window matches the chain: refuse to guess."""


@dataclass
class IngestResult:
    mode: str
    from_block: int | None = None
    to_block: int | None = None
    head_block: int | None = None
    logs: int = 0
    fills: int = 0
    quarantined: int = 0
    ranges: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    reorgs: list[Reorg] = field(default_factory=list)
    seconds: float = 0.0
    rpc_requests: int = 0

    @property
    def blocks(self) -> int:
        return 0 if self.from_block is None or self.to_block is None else self.to_block - self.from_block + 1

    @property
    def fills_per_second(self) -> float:
        return self.fills / self.seconds if self.seconds else 0.0

    def add(self, batch: DecodedBatch) -> None:
        self.logs += batch.logs
        self.fills += batch.fills
        self.quarantined += batch.quarantined
        self.ranges += 1
        for table, n in batch.rows().items():
            self.rows[table] = self.rows.get(table, 0) + n


def pipelined(items: Iterable[T], fn: Callable[[T], R]) -> Iterator[tuple[T, R]]:
    """Yield (item, fn(item)) in order, computing fn for the next item while the caller works."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
        pending = None
        for item in items:
            fut = pool.submit(fn, item)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (item, fut)
        if pending is not None:
            yield pending[0], pending[1].result()


class Ingestor:
    def __init__(self, settings: Settings, database_url: str, client: RpcClient | None = None):
        self.settings = settings
        self.database_url = database_url
        self.client = client or RpcClient(settings.rpc_url, settings.rpc_timeout_seconds, settings.rpc_max_retries)
        self.chain_id = settings.chain_id
        self.spans = SpanController(span=settings.log_range_initial, max_span=settings.log_range_max)
        self.addresses = watched_addresses()
        self.topics = watched_topics()

    # -- public entry points -------------------------------------------------------------
    def follow(self, to_block: int | None = None, max_blocks: int | None = None) -> IngestResult:
        """Land from the cursor up to `to_block` or the head (at most max_blocks), repairing reorgs."""
        started = time.perf_counter()
        requests_before = self.client.requests
        head = self.client.block_number()
        result = IngestResult(mode="follow", head_block=head)
        with connect(self.database_url, autocommit=True) as conn:
            self.check_chain(conn)
            cursor = read_cursor(conn, self.chain_id)
            if cursor is None:
                cursor = init_cursor(conn, self.chain_id, self.default_start_block(head))
            reorg = self.find_reorg(conn, cursor)
            start = cursor if reorg is None else reorg.fork_block + 1
            end = min(head if to_block is None else max(to_block, head), head)
            end = min(end, start + (max_blocks or self.settings.max_blocks_per_run) - 1)
            if reorg is not None:
                log.warning("reorg: fork at %d, %d landed blocks replaced", reorg.fork_block, reorg.depth)
                result.reorgs.append(reorg)
                end = min(head, max(end, cursor - 1))  # the repair covers every replaced block the chain still has
                if end < start:  # the new chain is no longer than the fork point: only drop the old tail
                    truncate_from(conn, self.chain_id, start, reorg)
            if end < start:
                result.seconds = time.perf_counter() - started
                return result
            result.from_block, result.to_block = start, end
            self._land(conn, start, end, result, mode="follow", advance_cursor=True, head=head, reorg=reorg)
        result.seconds = time.perf_counter() - started
        result.rpc_requests = self.client.requests - requests_before
        return result

    def backfill(self, from_block: int, to_block: int) -> IngestResult:
        """Replace the range [from_block, to_block], clipped to final blocks. Cursor untouched."""
        started = time.perf_counter()
        requests_before = self.client.requests
        head = self.client.block_number()
        final = head - self.settings.confirmations
        end = min(to_block, final)
        result = IngestResult(mode="backfill", head_block=head)
        if end >= from_block:
            result.from_block, result.to_block = from_block, end
            with connect(self.database_url, autocommit=True) as conn:
                self._land(conn, from_block, end, result, mode="backfill", advance_cursor=False, head=head)
        result.seconds = time.perf_counter() - started
        result.rpc_requests = self.client.requests - requests_before
        return result

    def default_start_block(self, head: int) -> int:
        if self.settings.start_block is not None:
            return self.settings.start_block
        if self.settings.uses_local_chain:
            return 0
        return max(0, head - self.settings.start_lag_blocks)

    def check_chain(self, conn: psycopg.Connection) -> None:
        """Refuse a different live chain; clear rows of a previous, restarted simulated chain."""
        genesis = self.client.get_block(0)
        if genesis is not None and check_chain_identity(conn, self.chain_id, genesis["hash"].lower(), self.settings.uses_local_chain):
            log.warning("the local simulated chain was restarted: cleared the rows landed from the previous one")

    # -- reorgs ----------------------------------------------------------------------------
    def find_reorg(self, conn: psycopg.Connection, cursor: int) -> Reorg | None:
        """Compare landed block hashes with the chain, newest first; None when they agree.

        A block hash commits to all its ancestors, so when the newest landed block matches,
        everything below matches too: one header per tick in the common case.
        """
        window = recent_blocks(conn, self.chain_id, cursor, self.settings.reorg_window_blocks)
        if not window:
            return None
        newest_number, newest_hash = window[0]
        chain_newest = self._chain_hash(newest_number)
        if chain_newest == newest_hash:
            return None
        for number, landed_hash in window[1:]:
            if self._chain_hash(number) == landed_hash:
                return Reorg(fork_block=number, depth=cursor - 1 - number, old_hash=newest_hash, new_hash=chain_newest)
        oldest = window[-1][0]
        raise DeepReorgError(
            f"reorg deeper than the kept window: none of the {len(window)} landed blocks {oldest}..{newest_number} "
            f"matches the chain (REORG_WINDOW_BLOCKS={self.settings.reorg_window_blocks}); refusing to guess. "
            "Re-land the affected range with `orderflow ingest --from-block ... --to-block ...`."
        )

    def _chain_hash(self, number: int) -> str | None:
        block = self.client.get_block(number)
        return None if block is None else block["hash"].lower()

    # -- landing ---------------------------------------------------------------------------
    def _fetch_ranges(self, start: int, end: int) -> Iterator[list]:  # [a, b, raw log frame, end header]
        # Each response body is parsed by polars straight into a raw log frame, inside the RPC
        # retry loop (no Python dict per log; see benchmarks/bench_ingest.py for the numbers).
        for a, b, logs in iter_log_ranges(
            self.client, start, end, self.addresses, self.topics,
            spans=self.spans, concurrency=self.settings.rpc_concurrency,
        ):
            # The end block's header is read after its logs: if a reorg lands in between, the
            # stored hash is stale and the next follow tick repairs the range.
            header = self.client.get_block(b)
            logs = fill_block_timestamps_frame(self.client, logs, self.settings.rpc_concurrency)
            yield [a, b, logs, header]  # a list: _decode drops the raw frame once it is decoded
            del logs

    def _decode(self, item) -> DecodedBatch:
        logs, item[2] = item[2], None  # free the raw frame as soon as it is decoded (memory)
        # get_logs_frame's frames hold lowercase hex already (decode.parse_logs_body)
        batch = decode_raw(logs, self.chain_id, lowercase=False)
        # write the COPY rows here too, off the landing thread: landing then only sends bytes
        return prepare_copy(batch)

    def _land(self, conn, start, end, result: IngestResult, *, mode, advance_cursor, head, reorg=None) -> None:
        first = True
        for (a, b, _logs, header), batch in pipelined(self._fetch_ranges(start, end), self._decode):
            land_range(
                conn, self.chain_id, a, b, batch,
                end_block_hash=None if header is None else header["hash"].lower(),
                end_block_timestamp=None if header is None else _ts(header["timestamp"]),
                mode="reorg" if (reorg is not None and first) else mode,
                advance_cursor=advance_cursor, head_block=head, confirmations=self.settings.confirmations,
                truncate_after=reorg is not None and first,
                reorg=reorg if first else None,
            )
            first = False
            result.add(batch)
            log.info("landed blocks %d-%d: %d logs, %d fills, %d quarantined", a, b, batch.logs, batch.fills, batch.quarantined)


def _ts(hex_seconds: str):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(int(hex_seconds, 16), tz=timezone.utc)
