"""eth_getLogs over block ranges: adaptive range size, bounded concurrency, ordered output.

The range span shrinks when a node refuses a range as too large and grows again while ranges
come back small. Sub-ranges of one window are fetched in parallel (bounded by `concurrency`)
and yielded in block order, so the caller can land them in order with the cursor.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

from orderflow_dagster.chain.rpc import RangeTooLarge, RpcClient

log = logging.getLogger(__name__)


@dataclass
class SpanController:
    """Adaptive eth_getLogs span: halve on refusal, double while results stay small."""

    span: int = 2_000
    min_span: int = 1
    max_span: int = 10_000
    target_logs: int = 5_000  # grow while a range returns fewer logs than this

    def shrink(self) -> None:
        self.span = max(self.min_span, self.span // 2)

    def observe(self, n_logs: int, split: bool) -> None:
        if split:
            self.shrink()
        elif n_logs < self.target_logs // 2:
            self.span = min(self.max_span, self.span * 2)


def plan_ranges(from_block: int, to_block: int, span: int, count: int) -> list[tuple[int, int]]:
    """Up to `count` consecutive ranges of `span` blocks starting at from_block, clipped to to_block."""
    out = []
    a = from_block
    while a <= to_block and len(out) < count:
        b = min(to_block, a + span - 1)
        out.append((a, b))
        a = b + 1
    return out


def _get_logs_splitting(client: RpcClient, a: int, b: int, addresses, topics) -> tuple[list[dict], bool]:
    """Logs of [a, b]; a range the node refuses is split in halves. Returns (logs, split?)."""
    try:
        return client.get_logs(a, b, addresses, topics), False
    except RangeTooLarge:
        if a == b:
            raise
        mid = (a + b) // 2
        log.info("eth_getLogs range %d-%d too large, splitting", a, b)
        left, _ = _get_logs_splitting(client, a, mid, addresses, topics)
        right, _ = _get_logs_splitting(client, mid + 1, b, addresses, topics)
        return left + right, True


def iter_log_ranges(
    client: RpcClient,
    from_block: int,
    to_block: int,
    addresses: list[str],
    topics: list[str],
    *,
    spans: SpanController | None = None,
    concurrency: int = 4,
) -> Iterator[tuple[int, int, list[dict]]]:
    """Yield (a, b, logs) for consecutive ranges covering [from_block, to_block], in order."""
    spans = spans or SpanController()
    next_block = from_block
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="getlogs") as pool:
        while next_block <= to_block:
            window = plan_ranges(next_block, to_block, spans.span, concurrency)
            futures = [pool.submit(_get_logs_splitting, client, a, b, addresses, topics) for a, b in window]
            for (a, b), fut in zip(window, futures):
                logs, split = fut.result()
                spans.observe(len(logs), split)
                yield a, b, logs
            next_block = window[-1][1] + 1


def fill_block_timestamps(client: RpcClient, logs: list[dict], concurrency: int = 4) -> None:
    """Add blockTimestamp to logs from nodes that do not return it (one header per block)."""
    missing = sorted({lg["blockNumber"] for lg in logs if not lg.get("blockTimestamp")})
    if not missing:
        return
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="headers") as pool:
        headers = dict(zip(missing, pool.map(lambda n: client.get_block(int(n, 16)), missing)))
    for lg in logs:
        if not lg.get("blockTimestamp"):
            header = headers.get(lg["blockNumber"])
            if header is not None:
                lg["blockTimestamp"] = header["timestamp"]
