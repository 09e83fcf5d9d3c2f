"""Decoding of every landed event layout, checked against eth_abi encodings built here."""

from __future__ import annotations

import polars as pl
import pytest
from eth_abi import encode

from orderflow_dagster.chain.contracts import CONTRACTS_BY_ADDRESS, EVENTS_BY_KEY
from orderflow_dagster.chain.decode import TABLE_COLUMNS, decode_logs

V1 = "0x4bfb41d5b3570defd03c39a9a4d8de6bd8b8982e"
V1_NEGRISK = "0xc5d563a36ae78145c45a50134d48a1215220f80a"
V2 = "0xe111180000d2663c0091e4f400237545b87b996b"
CTF = "0x4d97dcd97ec945f40cf65f87097ace5ea0476045"
ADAPTER = "0xd91e80cf2e7be2e162c6513ced06f1dd0da35296"
MAKER = "0x" + "11" * 20
TAKER = "0x" + "22" * 20
TOKEN = 2**256 - 1  # uint256 extreme
TOKEN2 = 71321045679252212594626385532706912750332728571942532289631379312455583992563
U256_MAX = 2**256 - 1


def topic_addr(a: str) -> str:
    return "0x" + "0" * 24 + a[2:]


def topic_u(n: int) -> str:
    return "0x" + n.to_bytes(32, "big").hex()


def make_log(address, topics, data: bytes, *, block=100, tx="0x" + "ab" * 32, index=0, ts=1_700_000_000):
    return {
        "address": address, "topics": topics, "data": "0x" + data.hex(), "blockNumber": hex(block),
        "blockHash": "0x" + f"{block:064x}", "blockTimestamp": hex(ts), "transactionHash": tx,
        "transactionIndex": "0x0", "logIndex": hex(index), "removed": False,
    }


def v1_fill(maker_asset, taker_asset, maker_amt, taker_amt, fee, *, address=V1, taker=TAKER, **kw):
    spec = EVENTS_BY_KEY["order_filled_v1"]
    data = encode(["uint256"] * 5, [maker_asset, taker_asset, maker_amt, taker_amt, fee])
    return make_log(address, [spec.topic0, "0x" + "01" * 32, topic_addr(MAKER), topic_addr(taker)], data, **kw)


def v2_fill(side, token, maker_amt, taker_amt, fee, *, address=V2, taker=TAKER, **kw):
    spec = EVENTS_BY_KEY["order_filled_v2"]
    data = encode(["uint8", "uint256", "uint256", "uint256", "uint256", "bytes32", "bytes32"],
                  [side, token, maker_amt, taker_amt, fee, b"\x0b" * 32, b"\x0c" * 32])
    return make_log(address, [spec.topic0, "0x" + "02" * 32, topic_addr(MAKER), topic_addr(taker)], data, **kw)


def test_v1_buy_and_sell_fields_exact():
    buy = v1_fill(0, TOKEN2, 520_000, 1_000_000, 0, index=0)  # maker pays 0.52 USDC for 1 share
    sell = v1_fill(TOKEN2, 0, 1_000_000, 480_000, 1234, index=1)
    batch = decode_logs([buy, sell], 137)
    fills = batch.tables["raw_order_fills"].sort("log_index")
    assert fills.columns == TABLE_COLUMNS["raw_order_fills"]
    b, s = fills.to_dicts()
    assert (b["maker_asset_id"], b["taker_asset_id"]) == ("0", str(TOKEN2))
    assert (s["maker_asset_id"], s["taker_asset_id"]) == (str(TOKEN2), "0")
    assert (b["maker_amount_filled"], b["taker_amount_filled"], b["fee"]) == ("520000", "1000000", "0")
    assert s["fee"] == "1234"
    assert b["maker"] == MAKER and b["taker"] == TAKER
    assert b["generation"] == 1 and b["neg_risk"] is False and b["side"] is None and b["token_id"] is None
    assert b["order_hash"] == "0x" + "01" * 32
    assert b["block_number"] == 100 and b["chain_id"] == 137
    assert str(b["block_timestamp"]) == "2023-11-14 22:13:20+00:00"


def test_v2_buy_and_sell_and_extremes():
    buy = v2_fill(0, TOKEN, U256_MAX, 2**64, 2**64 - 1, index=0)
    sell = v2_fill(1, 0, 0, 1, 0, index=1)
    fills = decode_logs([buy, sell], 137).tables["raw_order_fills"].sort("log_index").to_dicts()
    assert fills[0]["side"] == 0 and fills[1]["side"] == 1
    assert fills[0]["token_id"] == str(TOKEN)
    assert fills[0]["maker_amount_filled"] == str(U256_MAX)
    assert fills[0]["taker_amount_filled"] == str(2**64)
    assert fills[0]["fee"] == str(2**64 - 1)
    assert fills[1]["token_id"] == "0" and fills[1]["taker_amount_filled"] == "1"
    assert fills[0]["builder"] == "0x" + "0b" * 32 and fills[0]["metadata"] == "0x" + "0c" * 32
    assert fills[0]["generation"] == 2 and fills[0]["maker_asset_id"] is None


def test_v2_orders_matched_fields_exact():
    spec = EVENTS_BY_KEY["orders_matched_v2"]
    data = encode(["uint8", "uint256", "uint256", "uint256"], [1, TOKEN, U256_MAX, 2**64])
    log = make_log("0xe2222d279d744050d28e00520010520000310f59",  # NegRisk V2
                   [spec.topic0, "0x" + "05" * 32, topic_addr(TAKER)], data, index=9)
    row = decode_logs([log], 137).tables["raw_orders_matched"].row(0, named=True)
    assert row["taker_order_hash"] == "0x" + "05" * 32 and row["taker_order_maker"] == TAKER
    assert (row["side"], row["token_id"]) == (1, str(TOKEN))
    assert (row["maker_amount_filled"], row["taker_amount_filled"]) == (str(U256_MAX), str(2**64))
    assert row["maker_asset_id"] is None and row["taker_asset_id"] is None
    assert (row["generation"], row["neg_risk"], row["log_index"]) == (2, True, 9)


def test_neg_risk_flag_from_contract():
    fill = v1_fill(0, TOKEN2, 1, 2, 0, address=V1_NEGRISK)
    row = decode_logs([fill], 137).tables["raw_order_fills"].row(0, named=True)
    assert row["neg_risk"] is True and CONTRACTS_BY_ADDRESS[V1_NEGRISK].neg_risk


def test_match_shape_in_one_tx():
    """Two makers' fills + the taker's fill (taker = exchange) + OrdersMatched share one tx."""
    tx = "0x" + "cd" * 32
    m1 = v1_fill(TOKEN2, 0, 600_000, 300_000, 0, tx=tx, index=3)
    m2 = v1_fill(TOKEN2, 0, 400_000, 200_000, 0, tx=tx, index=5)
    taker_fill = v1_fill(0, TOKEN2, 500_000, 1_000_000, 0, tx=tx, index=7, taker=V1)
    matched_spec = EVENTS_BY_KEY["orders_matched_v1"]
    matched = make_log(V1, [matched_spec.topic0, "0x" + "03" * 32, topic_addr(TAKER)],
                       encode(["uint256"] * 4, [0, TOKEN2, 500_000, 1_000_000]), tx=tx, index=8)
    batch = decode_logs([m1, m2, taker_fill, matched], 137)
    fills = batch.tables["raw_order_fills"]
    assert fills.height == 3 and fills["tx_hash"].unique().to_list() == [tx]
    assert sorted(fills["log_index"].to_list()) == [3, 5, 7]
    assert fills.filter(pl.col("taker") == V1).height == 1
    om = batch.tables["raw_orders_matched"].row(0, named=True)
    assert om["taker_order_maker"] == TAKER and om["taker_asset_id"] == str(TOKEN2) and om["log_index"] == 8
    assert batch.logs == 4 and batch.quarantined == 0


def test_markets_and_resolutions():
    cond = "0x" + "aa" * 32
    qid = "0x" + "bb" * 32
    oracle = "0x" + "33" * 20
    prep = make_log(CTF, [EVENTS_BY_KEY["condition_preparation"].topic0, cond, topic_addr(oracle), qid],
                    encode(["uint256"], [2]), index=0)
    reg = make_log(V1, [EVENTS_BY_KEY["token_registered"].topic0, topic_u(TOKEN2), topic_u(TOKEN), cond], b"", index=1)
    res = make_log(CTF, [EVENTS_BY_KEY["condition_resolution"].topic0, cond, topic_addr(oracle), qid],
                   encode(["uint256", "uint256[]"], [2, [1, 0]]), index=2)
    red = make_log(CTF, [EVENTS_BY_KEY["payout_redemption"].topic0, topic_addr(MAKER), topic_addr(oracle), "0x" + "00" * 32],
                   encode(["bytes32", "uint256[]", "uint256"], [bytes.fromhex("aa" * 32), [1, 2], 5_000_000]), index=3)
    rep = make_log(ADAPTER, [EVENTS_BY_KEY["outcome_reported"].topic0, cond, qid], encode(["bool"], [True]), index=4)
    t = decode_logs([prep, reg, res, red, rep], 137).tables
    c = t["raw_conditions"].row(0, named=True)
    assert (c["condition_id"], c["oracle"], c["question_id"], c["outcome_slot_count"]) == (cond, oracle, qid, "2")
    r = t["raw_token_registrations"].row(0, named=True)
    assert (r["token0"], r["token1"], r["condition_id"]) == (str(TOKEN2), str(TOKEN), cond)
    assert t["raw_resolutions"].row(0, named=True)["payout_numerators"] == "{1,0}"
    d = t["raw_redemptions"].row(0, named=True)
    assert (d["index_sets"], d["payout"], d["condition_id"]) == ("{1,2}", "5000000", cond)
    assert t["raw_outcome_reports"].row(0, named=True)["outcome"] is True


@pytest.mark.parametrize(
    "mutate, reason_part",
    [
        (lambda log: log.update(data=log["data"][:-2]), "data is 159 bytes, expected 160"),
        (lambda log: log.update(topics=log["topics"][:3]), "has 3 topics, expected 4"),
        (lambda log: log.update(topics=["0x" + "ee" * 32] + log["topics"][1:]), "unknown topic0"),
        (lambda log: log.update(data="0xzz"), "not 0x-prefixed"),
        (lambda log: log["topics"].__setitem__(2, log["topics"][2][:-1]), "a topic is not 0x-prefixed 32-byte hex"),
        (lambda log: log["topics"].__setitem__(3, "0x" + "zz" * 32), "a topic is not 0x-prefixed 32-byte hex"),
        # side by side these three would read as three good words: each topic's length is checked
        (lambda log: log.update(topics=[log["topics"][0], log["topics"][1] + "0x", log["topics"][2][4:],
                                        "ab" + log["topics"][3]]), "a topic is not 0x-prefixed 32-byte hex"),
        (lambda log: log.update(topics=[EVENTS_BY_KEY["order_filled_v2"].topic0] + log["topics"][1:]), "at watched contract ctf_exchange_v1"),
    ],
)
def test_malformed_logs_go_to_quarantine_and_batch_goes_on(mutate, reason_part):
    good = v1_fill(0, TOKEN2, 1, 2, 0, index=0)
    bad = v1_fill(0, TOKEN2, 1, 2, 0, index=1)
    mutate(bad)
    batch = decode_logs([good, bad], 137)
    assert batch.fills == 1
    q = batch.tables["raw_quarantine"].row(0, named=True)
    assert reason_part in q["reason"], q["reason"]
    assert q["log_index"] == 1 and q["data"] == bad["data"].lower()
    assert q["topics"].startswith("{0x")


def test_dynamic_event_with_bad_abi_is_quarantined():
    cond = "0x" + "aa" * 32
    res = make_log(CTF, [EVENTS_BY_KEY["condition_resolution"].topic0, cond, topic_addr(MAKER), cond],
                   encode(["uint256"], [2]), index=0)  # missing the array
    batch = decode_logs([res], 137)
    assert "raw_resolutions" not in batch.tables
    assert "does not ABI-decode" in batch.tables["raw_quarantine"]["reason"][0]


def test_empty_batch():
    batch = decode_logs([], 137)
    assert batch.tables == {} and batch.logs == 0
