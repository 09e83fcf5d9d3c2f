"""A simulated world landed straight into the raw tables, without a chain.

For checks that need a big world quickly (the ground-truth month at default parameters, about
700,000 fills): the World's events become the logs the Driver would send to anvil (LogMaker, one
transaction per match), laid out in blocks as fast mode mines them (one block per
`block_seconds` window with events, `block_windows`), shaped as `eth_getLogs` returns them, and
then decoded and landed by the ingestion's own `decode_logs` + `land_range`. What this skips is
anvil's execution and the JSON-RPC transport; the tests of those run the Driver on a real node.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
from eth_utils import keccak

from orderflow_dagster.chain.contracts import POLYGON_CHAIN_ID
from orderflow_dagster.chain.decode import decode_logs
from orderflow_dagster.simulator.driver import SimulationResult, Tx, block_timestamp, block_windows, event_txs
from orderflow_dagster.simulator.replayer import LogMaker
from orderflow_dagster.simulator.world import DAY, Event, World, WorldConfig
from orderflow_dagster.warehouse.db import connect
from orderflow_dagster.warehouse.landing import land_range, prepare_copy

def _hash(*parts: object) -> str:
    return "0x" + keccak(text=":".join(map(str, parts))).hex()


def block_hash(number: int) -> str:
    return _hash("orderflow offline block", number)


def block_logs(txs: list[Tx], number: int, timestamp: int) -> list[dict]:
    """One block's logs, shaped as eth_getLogs answers (hex quantities, blockTimestamp included)."""
    out, log_index = [], 0
    for tx_index, (address, logs) in enumerate(txs):
        tx_hash = _hash("orderflow offline tx", number, tx_index)
        for topics, data in logs:
            out.append({"address": address, "topics": list(topics), "data": "0x" + data.hex(),
                        "blockNumber": hex(number), "blockHash": block_hash(number), "blockTimestamp": hex(timestamp),
                        "transactionHash": tx_hash, "transactionIndex": hex(tx_index), "logIndex": hex(log_index),
                        "removed": False})
            log_index += 1
    return out


def world_blocks(config: WorldConfig, days: float, block_seconds: float = 60.0,
                 first_block: int = 1) -> Iterator[tuple[int, int, list[Event], World]]:
    """(block number, timestamp, events) of `days` of the world, blocks numbered from first_block."""
    if config.start is None:
        raise ValueError("an offline world needs config.start (unix seconds of simulated time zero)")
    world = World(config)
    until = config.start + days * DAY
    number, last_ts = first_block, int(config.start) - 1
    for window_end, events in block_windows(world, until, block_seconds):
        last_ts = block_timestamp(window_end, until, last_ts)
        yield number, last_ts, events, world
        number += 1


def land_world(database_url: str, config: WorldConfig, days: float, block_seconds: float = 60.0,
               blocks_per_range: int = 200, chain_id: int = POLYGON_CHAIN_ID) -> SimulationResult:
    """Simulate `days` of `config` and land its logs in ranges of blocks_per_range blocks; returns
    counts and ground truth as `simulate` does (first_block/last_block are the landed range)."""
    started = time.perf_counter()
    maker = LogMaker(config.seed)
    result: SimulationResult | None = None
    pending: list[dict] = []
    a = b = None

    def land(conn: psycopg.Connection) -> None:
        batch = prepare_copy(decode_logs(pending, chain_id))
        if batch.quarantined:
            raise RuntimeError(f"offline world: {batch.quarantined} logs quarantined in blocks {a}-{b}")
        land_range(conn, chain_id, a, b, batch, end_block_hash=block_hash(b), end_block_timestamp=None,
                   mode="follow", advance_cursor=True, head_block=b)  # as Ingestor.follow lands: cursor moves
        pending.clear()

    with connect(database_url) as conn:
        for number, ts, events, world in world_blocks(config, days, block_seconds):
            if result is None:
                result = SimulationResult(world, start=world.start, first_block=number)
            a = number if a is None else a
            b = number
            txs = [tx for event in events for tx in event_txs(maker, event)]  # once per event: it draws order hashes
            pending.extend(block_logs(txs, number, ts))
            result.count(events, txs)
            if b - a + 1 >= blocks_per_range:
                land(conn)
                a = None
        if a is not None:
            land(conn)
    if result is None:
        raise ValueError(f"an offline world of {days} days made no events")
    result.last_block, result.end = b, world.now
    result.wall_seconds = time.perf_counter() - started
    return result
