"""The driver puts the world's events on a real anvil node: fast mode (chosen block timestamps,
many transactions per block, one match per transaction) and live mode (real time, interval mining)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from orderflow_dagster.chain.contracts import EVENTS_BY_KEY
from orderflow_dagster.simulator.anvil import AnvilNode, rpc_call
from orderflow_dagster.simulator.driver import simulate
from orderflow_dagster.simulator.world import DAY, WorldConfig

pytestmark = pytest.mark.integration

SMALL = WorldConfig(seed=21).scaled(0.2)
FILLED = {EVENTS_BY_KEY[k].topic0 for k in ("order_filled_v1", "order_filled_v2")}
MATCHED = {EVENTS_BY_KEY[k].topic0 for k in ("orders_matched_v1", "orders_matched_v2")}
RESOLVED = EVENTS_BY_KEY["condition_resolution"].topic0


def test_fast_mode_packs_a_day_into_blocks_with_the_simulated_timestamps():
    genesis = int(time.time() - 2 * DAY)
    with AnvilNode(genesis_timestamp=genesis) as node:
        start = genesis + 600
        result = simulate(node.url, WorldConfig(**{**SMALL.__dict__, "start": start}), 1.0, block_seconds=300)
        logs = rpc_call(node.url, "eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest"}, timeout=60)
        first = rpc_call(node.url, "eth_getBlockByNumber", hex(result.first_block), False)
        last = rpc_call(node.url, "eth_getBlockByNumber", hex(result.last_block), False)
    topics = Counter(log["topics"][0] for log in logs)
    assert sum(topics[t] for t in FILLED) == result.fills > 1000
    assert sum(topics[t] for t in MATCHED) == result.matches
    assert topics[RESOLVED] == result.resolutions > 0
    per_tx = Counter(log["transactionHash"] for log in logs if log["topics"][0] in MATCHED)
    assert set(per_tx.values()) == {1}  # one match per transaction, as on Polygon
    assert start < int(first["timestamp"], 16) <= start + 300
    assert start + DAY - 300 <= int(last["timestamp"], 16) <= start + DAY
    assert result.last_block - result.first_block + 1 <= DAY / 300  # many transactions per block
    assert result.transactions > 2 * (result.last_block - result.first_block + 1)


def test_a_simulation_that_starts_before_the_chain_is_refused():
    with AnvilNode() as node, pytest.raises(ValueError, match="genesis_timestamp"):
        simulate(node.url, WorldConfig(**{**SMALL.__dict__, "start": time.time() - DAY}), 0.1)


def test_live_mode_sends_events_as_their_time_comes_with_interval_mining():
    with AnvilNode() as node:
        stop = threading.Event()
        config = WorldConfig(**{**SMALL.__dict__, "fills_per_hour": 80_000})
        threading.Timer(6.0, stop.set).start()
        result = simulate(node.url, config, days=1.0, fast=False, stop=stop)
        time.sleep(2.5)  # the node's next 2 s block mines what was sent last
        logs = rpc_call(node.url, "eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest"})
        assert rpc_call(node.url, "anvil_getAutomine") is False
    fills = [log for log in logs if log["topics"][0] in FILLED]
    assert result.matches > 3 and len(fills) == result.fills
    stamps = {int(log["blockTimestamp"], 16) for log in fills}
    assert max(stamps) - min(stamps) >= 2 and abs(max(stamps) - time.time()) < 15
