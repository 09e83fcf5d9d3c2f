"""The simulated chain on a real anvil node: logs at the real addresses, match shapes, reorgs.

Reorg RPCs verified on anvil 1.7.1 (see test_reorg_*):
- `anvil_rollback(depth)` drops the last `depth` blocks (returns null; the dropped txs are not
  re-queued), then `evm_mine` builds a new block at the same height with a different hash;
  logs of the dropped block disappear from eth_getLogs.
- `anvil_reorg(depth, txBlockPairs)` (positional params; [] for empty blocks, or
  [[tx_request, block_offset], ...] to re-include txs) replaces the last `depth` blocks in one
  call, keeping the height.
- `evm_snapshot` / `evm_revert(id)` + `evm_mine` also give a new hash at the same height.
Logs from eth_getLogs and in receipts carry `blockTimestamp` (hex), equal to the block's timestamp.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest
from eth_abi import decode, encode

from orderflow_dagster.chain.contracts import CONTRACTS, EVENTS_BY_KEY, EXCHANGE_ADDRESSES
from orderflow_dagster.simulator.anvil import AnvilError, AnvilNode, rpc_call
from orderflow_dagster.simulator.emitter import encode_records
from orderflow_dagster.chain.ctf_ids import curve_point_from_hash, ecadd
from orderflow_dagster.simulator.replayer import Replayer, contract_address
from tests.integration.chain_truth import mined_receipt

pytestmark = pytest.mark.integration

TOPIC_A = "0x" + "aa" * 32
TOPIC_B = "0x" + "bb" * 32


@pytest.fixture(scope="module")
def node():
    with AnvilNode() as anvil:
        yield anvil


@pytest.fixture()
def replayer(node):
    with Replayer(node.url, seed=7) as r:
        yield r


def logs_of(url: str, tx_hash: str) -> list[dict]:
    return mined_receipt(url, tx_hash)["logs"]


def block_logs(url: str, block_number: str, address: str | None = None) -> list[dict]:
    query = {"fromBlock": block_number, "toBlock": block_number, **({"address": address} if address else {})}
    return rpc_call(url, "eth_getLogs", query)


def data_bytes(log: dict) -> bytes:
    return bytes.fromhex(log["data"][2:])


# --- the node ----------------------------------------------------------------------------

def test_node_is_polygon_chain_id_on_localhost(node):
    assert int(rpc_call(node.url, "eth_chainId"), 16) == 137
    assert node.url.startswith("http://127.0.0.1:") and node.ws_url == node.url.replace("http", "ws")


def test_stop_leaves_no_process():
    anvil = AnvilNode().start()
    pid = anvil.process.pid
    anvil.stop()
    anvil.stop()  # idempotent
    assert not _process_alive(pid)
    with pytest.raises(AnvilError):
        _ = anvil.url


def test_start_failure_is_explained_and_cleaned_up(node):
    taken_port = int(node.url.rsplit(":", 1)[1])
    clash = AnvilNode(port=taken_port, start_timeout=5)
    with pytest.raises(AnvilError, match="anvil"):
        clash.start()
    assert clash.process is None


def test_interval_mining_and_log_file(tmp_path):
    log_file = tmp_path / "anvil.log"
    with AnvilNode(block_time=0.2, log_file=log_file) as anvil:
        assert rpc_call(anvil.url, "anvil_getAutomine") is False
        deadline = time.monotonic() + 5
        while int(rpc_call(anvil.url, "eth_blockNumber"), 16) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert int(rpc_call(anvil.url, "eth_blockNumber"), 16) >= 2
    assert "Listening on 127.0.0.1" in log_file.read_text()


def test_a_node_that_never_answers_times_out_and_is_killed(tmp_path):
    silent = tmp_path / "fake-anvil"
    silent.write_text("#!/bin/sh\necho $$ > \"$0.pid\"\nexec sleep 60\n")
    silent.chmod(0o755)
    with pytest.raises(AnvilError, match="did not answer eth_chainId"):
        AnvilNode(binary=str(silent), start_timeout=0.5).start()
    assert not _process_alive(int((tmp_path / "fake-anvil.pid").read_text()))


def test_a_missing_binary_is_a_clear_error():
    with pytest.raises(AnvilError, match="cannot run"):
        AnvilNode(binary="/nonexistent/anvil").start()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): ask ps for its state
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    return bool(state) and not state.startswith("Z")


# --- the emitter -------------------------------------------------------------------------

def test_raw_logs_land_at_the_real_address_with_exact_topics_and_data(node, replayer):
    exchange = CONTRACTS[0].address
    records = [([], b""), ([TOPIC_A], b"\x01\x02\x03"), ([TOPIC_A, TOPIC_B], bytes(range(70))),
               ([TOPIC_A] * 3, b"\xff" * 32), ([TOPIC_B] * 4, b"")]
    tx_hash = replayer.send_logs(exchange, records)
    block = mined_receipt(node.url, tx_hash)["blockNumber"]
    logs = block_logs(node.url, block, exchange)
    assert [(log["topics"], data_bytes(log)) for log in logs] == [(list(t), d) for t, d in records]
    assert {log["address"] for log in logs} == {exchange}
    assert [int(log["logIndex"], 16) for log in logs] == list(range(len(records)))


def test_emit_raw_sends_malformed_logs_too(node, replayer):
    short_fill = [EVENTS_BY_KEY["order_filled_v1"].topic0, TOPIC_A]  # too few topics, data too short
    (log,) = logs_of(node.url, replayer.emit_raw(CONTRACTS[1].address, short_fill, b"\x00" * 5))
    assert log["topics"] == short_fill and data_bytes(log) == b"\x00" * 5


def test_emitter_reverts_on_malformed_calldata(node, replayer):
    five_topics = bytes([5, 0, 0]) + b"\x00" * 160
    truncated = encode_records([([TOPIC_A], b"\x01" * 40)])[:-1]
    for calldata in (five_topics, truncated):
        with pytest.raises(AnvilError, match="revert"):
            rpc_call(node.url, "eth_call", {"to": CONTRACTS[0].address, "data": "0x" + calldata.hex()})


# --- Polymarket shapes -------------------------------------------------------------------

@pytest.mark.parametrize("generation", [1, 2])
def test_match_is_maker_fills_then_taker_fill_then_orders_matched_in_one_tx(node, replayer, generation):
    market = replayer.create_market(generation, neg_risk=False)
    taker, maker1, maker2 = replayer.wallets[:3]
    tx_hash = replayer.match(market, taker, "BUY", 0, [(maker1, 10, "0.40"), (maker2, "2.5", "0.42")])
    logs = logs_of(node.url, tx_hash)
    fill, matched = EVENTS_BY_KEY[f"order_filled_v{generation}"], EVENTS_BY_KEY[f"orders_matched_v{generation}"]
    assert [log["topics"][0] for log in logs] == [fill.topic0] * 3 + [matched.topic0]
    assert {log["address"] for log in logs} == {market.exchange}
    indexes = [int(log["logIndex"], 16) for log in logs]
    assert indexes == list(range(indexes[0], indexes[0] + 4))
    makers_and_takers = [(_address(log["topics"][2]), _address(log["topics"][3])) for log in logs[:3]]
    assert makers_and_takers == [(maker1, taker), (maker2, taker), (taker, market.exchange)]
    assert market.exchange in EXCHANGE_ADDRESSES
    assert logs[3]["topics"][1] == logs[2]["topics"][1]  # OrdersMatched repeats the taker order hash
    assert _address(logs[3]["topics"][2]) == taker
    _assert_taker_amounts(generation, market.token_ids[0], data_bytes(logs[2]))


def _assert_taker_amounts(generation: int, token: int, data: bytes) -> None:
    # taker BUYs 12.5 shares for 4.0 + 1.05 collateral
    if generation == 1:
        assert decode(["uint256"] * 5, data) == (0, token, 5_050_000, 12_500_000, 0)
    else:
        side, token_id, making, taking, fee, _, _ = decode(
            ["uint8", "uint256", "uint256", "uint256", "uint256", "bytes32", "bytes32"], data)
        assert (side, token_id, making, taking, fee) == (0, token, 5_050_000, 12_500_000, 0)


def _address(topic: str) -> str:
    return "0x" + topic[-40:]


def test_v1_market_creation_prepares_the_condition_and_registers_both_tokens(node, replayer):
    market = replayer.create_market(1, neg_risk=True)
    block = rpc_call(node.url, "eth_blockNumber")
    (prep,) = block_logs(node.url, block, contract_address("ctf"))
    assert prep["topics"][1:] == [market.condition_id, "0x" + "00" * 12 + market.oracle[2:], market.question_id]
    registered = block_logs(node.url, block, market.exchange)
    pairs = [(int(log["topics"][1], 16), int(log["topics"][2], 16)) for log in registered]
    assert sorted(pairs[0]) == sorted(market.token_ids) and pairs[1] == pairs[0][::-1]
    assert market.oracle == contract_address("negrisk_adapter")


def test_neg_risk_resolution_reports_on_ctf_then_adapter_in_one_block(node, replayer):
    market = replayer.create_market(2, neg_risk=True)
    ctf_tx, adapter_tx = replayer.resolve(market, [0, 1])
    ctf_log, adapter_log = logs_of(node.url, ctf_tx)[0], logs_of(node.url, adapter_tx)[0]
    assert ctf_log["blockNumber"] == adapter_log["blockNumber"]
    assert decode(["uint256", "uint256[]"], data_bytes(ctf_log)) == (2, (0, 1))
    assert adapter_log["address"] == contract_address("negrisk_adapter")
    assert adapter_log["topics"][1:] == [market.neg_risk_market_id, market.question_id]
    assert decode(["bool"], data_bytes(adapter_log)) == (False,)


def test_logs_carry_block_timestamp(node, replayer):
    (log,) = logs_of(node.url, replayer.emit_raw(CONTRACTS[4].address, [TOPIC_A]))
    block = rpc_call(node.url, "eth_getBlockByNumber", log["blockNumber"], False)
    assert log["blockTimestamp"] == block["timestamp"]
    assert block_logs(node.url, log["blockNumber"])[0]["blockTimestamp"] == block["timestamp"]


def test_random_activity_is_deterministic_per_seed():
    worlds = []
    for _ in range(2):
        with AnvilNode() as anvil, Replayer(anvil.url, seed=42) as r:
            r.random_activity(15)
            logs = rpc_call(anvil.url, "eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest"})
            worlds.append([(log["address"], log["topics"], log["data"]) for log in logs])
    assert worlds[0] == worlds[1]
    assert len(worlds[0]) >= 15 * 3


def test_run_forever_stops_on_the_event(node):
    stop = threading.Event()
    with Replayer(node.url, seed=3) as r:
        result = {}
        worker = threading.Thread(target=lambda: result.update(sent=r.run_forever(2, stop, block_time=0.05)))
        worker.start()
        threading.Timer(0.3, stop.set).start()
        worker.join(timeout=10)
    assert not worker.is_alive() and result["sent"] >= 2


# --- reorgs ------------------------------------------------------------------------------

def test_reorg_by_rollback_then_mine_changes_the_hash_at_the_same_height(node, replayer):
    tx_hash = replayer.emit_raw(CONTRACTS[0].address, [TOPIC_A])
    height = rpc_call(node.url, "eth_blockNumber")
    old_hash = rpc_call(node.url, "eth_getBlockByNumber", height, False)["hash"]
    rpc_call(node.url, "anvil_rollback", 1)
    rpc_call(node.url, "evm_mine")
    assert rpc_call(node.url, "eth_blockNumber") == height
    assert rpc_call(node.url, "eth_getBlockByNumber", height, False)["hash"] != old_hash
    assert block_logs(node.url, height) == []
    assert rpc_call(node.url, "eth_getTransactionReceipt", tx_hash) is None


def test_reorg_by_anvil_reorg_keeps_the_height(node, replayer):
    replayer.emit_raw(CONTRACTS[0].address, [TOPIC_A])
    height = rpc_call(node.url, "eth_blockNumber")
    old_hash = rpc_call(node.url, "eth_getBlockByNumber", height, False)["hash"]
    replacement = {"from": replayer.sender, "to": CONTRACTS[0].address,
                   "data": "0x" + encode_records([([TOPIC_B], b"")]).hex()}
    rpc_call(node.url, "anvil_reorg", 1, [[replacement, 0]])
    assert rpc_call(node.url, "eth_blockNumber") == height
    assert rpc_call(node.url, "eth_getBlockByNumber", height, False)["hash"] != old_hash
    assert [log["topics"] for log in block_logs(node.url, height)] == [[TOPIC_B]]


# --- CTF maths against the chain -----------------------------------------------------------

def test_collection_id_point_addition_matches_the_ecadd_precompile(node):
    p = curve_point_from_hash(b"\x01" * 32, 1)
    q = curve_point_from_hash(b"\x02" * 32, 2)
    result = rpc_call(node.url, "eth_call", {"to": "0x" + "00" * 19 + "06", "data": "0x" + encode(["uint256"] * 4, [*p, *q]).hex()})
    assert decode(["uint256", "uint256"], bytes.fromhex(result[2:])) == ecadd(p, q)
