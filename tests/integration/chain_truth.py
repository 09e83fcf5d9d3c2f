"""Ground truth for ingestion tests, read from transaction receipts (not eth_getLogs) and
decoded with eth_abi (not our polars decoder), so the tests compare two independent paths."""

from __future__ import annotations

import time

from eth_abi import decode

from orderflow_dagster.chain.contracts import EVENTS_BY_KEY, EXCHANGE_ADDRESSES
from orderflow_dagster.simulator.anvil import rpc_call

_FILLS = {EVENTS_BY_KEY["order_filled_v1"].topic0: "v1", EVENTS_BY_KEY["order_filled_v2"].topic0: "v2"}


def mined_receipt(rpc_url: str, tx_hash: str, timeout: float = 30.0) -> dict:
    """The transaction's receipt once it is mined: anvil may answer eth_sendTransaction before
    its automined block exists, so a receipt read at once can be null under load."""
    deadline = time.monotonic() + timeout
    while (receipt := rpc_call(rpc_url, "eth_getTransactionReceipt", tx_hash)) is None:
        assert time.monotonic() < deadline, f"{tx_hash} not mined after {timeout} s"
        time.sleep(0.05)
    return receipt


def head_after(rpc_url: str, tx_hashes: list[str], timeout: float = 30.0) -> int:
    """The head once the last of tx_hashes is mined (a head read at once can be one block short)."""
    mined_receipt(rpc_url, tx_hashes[-1], timeout)
    return int(rpc_call(rpc_url, "eth_blockNumber"), 16)


def canonical_fills(rpc_url: str, tx_hashes: list[str]) -> dict[tuple[str, int], tuple[str, int]]:
    """(tx hash, log index) -> (maker, maker amount) of every OrderFilled in the canonical receipts."""
    out = {}
    for tx in tx_hashes:
        receipt = rpc_call(rpc_url, "eth_getTransactionReceipt", tx)
        if receipt is None:  # dropped by a reorg and not re-included
            continue
        for lg in receipt["logs"]:
            if lg["address"].lower() in EXCHANGE_ADDRESSES and lg["topics"][0] in _FILLS:
                words = decode(["uint256"] * 4, bytes.fromhex(lg["data"][2:])[: 32 * 4])
                # V1: words 2 is makerAmountFilled; V2: side, tokenId, makerAmountFilled -> index 2 too
                maker = "0x" + lg["topics"][2][-40:]
                out[(receipt["transactionHash"].lower(), int(lg["logIndex"], 16))] = (maker, words[2])
    return out


def landed_fills(conn) -> dict[tuple[str, int], tuple[str, int]]:
    rows = conn.execute("SELECT tx_hash, log_index, maker, maker_amount_filled FROM raw_order_fills").fetchall()
    return {(tx, li): (maker, int(amount)) for tx, li, maker, amount in rows}


def raw_snapshot(conn) -> dict[str, list[tuple]]:
    """Every raw table's rows (all columns but landing times), sorted by key: for equality checks."""
    from orderflow_dagster.chain.decode import RAW_TABLES

    snap = {}
    for table in [*RAW_TABLES, "raw_quarantine"]:
        cols = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_name <> 'quarantined_at'"
            " ORDER BY ordinal_position", (table,)).fetchall()]
        snap[table] = conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY chain_id, tx_hash, log_index").fetchall()
    return snap
