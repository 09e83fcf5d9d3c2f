"""The compiled fill-row writer (warehouse/fastrows.py) against the polars path it stands in for:
the same logs give the same COPY values, field by field, and anything it cannot write exactly
goes back to the polars path."""

from __future__ import annotations

import random

import pytest
from eth_abi import encode

from orderflow_dagster.chain.contracts import EVENTS_BY_KEY
from orderflow_dagster.chain.decode import CHAIN_COLUMNS, TABLE_COLUMNS, decode_logs
from orderflow_dagster.warehouse import fastrows
from orderflow_dagster.warehouse.landing import BINARY_TABLES, prepare_copy, render_copy
from tests.unit.test_decode import V1, V1_NEGRISK, V2, make_log, topic_addr, v1_fill, v2_fill
from tests.unit.test_pgcopy import numeric_value, read_copy

pytestmark = pytest.mark.skipif(not fastrows.available(), reason="the C extension is not built (no compiler)")

V2_NEGRISK = "0xe2222d279d744050d28e00520010520000310f59"
# uint256 values around every boundary the writer has: zero, one base-10000 digit, 2^32, the
# u64 fast path's edge, 10^k edges, the largest.
EXTREMES = [0, 1, 9_999, 10_000, 2**32 - 1, 2**32, 10**16 - 1, 10**16, 2**64 - 1, 2**64, 10**20, 10**39,
            10**77 - 1, 10**77, 2**255, 2**256 - 1]


def values(pieces, table: str) -> list[tuple]:
    """Rows of a COPY stream as comparable values: numerics as ints (their digit count may
    differ: the server strips leading zero digits), other fields as their bytes."""
    numeric = [c in BINARY_TABLES[table] for c in TABLE_COLUMNS[table]]
    rows = [tuple(numeric_value(f) if is_num and f is not None else f for f, is_num in zip(row, numeric))
            for row in read_copy(pieces)]
    return sorted(rows, key=repr)


def both_ways(logs: list[dict]) -> dict[str, tuple[list, list]]:
    """Per fill table: (fastrows' rows, the polars path's rows) of the same logs."""
    fast = prepare_copy(decode_logs(logs, 137))
    slow = decode_logs(logs, 137)
    out = {}
    for table in BINARY_TABLES:
        if table in fast.pending:
            assert fast.prepared[table].options == "FORMAT binary"
            frame = slow.tables[table]
            out[table] = (values(fast.prepared[table].data, table), values(render_copy(table, frame).data, table))
    return out


def matched(side_or_assets, amounts, *, v2: bool, address, index):
    spec = EVENTS_BY_KEY["orders_matched_v2" if v2 else "orders_matched_v1"]
    if v2:
        data = encode(["uint8", "uint256", "uint256", "uint256"], [*side_or_assets, *amounts])
    else:
        data = encode(["uint256"] * 4, [*side_or_assets, *amounts])
    return make_log(address, [spec.topic0, "0x" + "03" * 32, topic_addr("0x" + "44" * 20)], data, index=index)


def test_uint256_extremes_and_every_layout_match_the_polars_path():
    logs, i = [], 0
    for v in EXTREMES:
        logs += [v1_fill(v, 0, v, 2**256 - 1 - v, v, index=i), v1_fill(0, v, 1, v, 0, address=V1_NEGRISK, index=i + 1),
                 v2_fill(v % 2, v, v, v, v, index=i + 2), v2_fill(1, 2**256 - 1 - v, v, 1, 0, address=V2_NEGRISK, index=i + 3),
                 matched((v, 0), (v, 1), v2=False, address=V1, index=i + 4),
                 matched((1, v), (1, v), v2=True, address=V2, index=i + 5)]
        i += 6
    got = both_ways(logs)
    assert set(got) == {"raw_order_fills", "raw_orders_matched"}
    for table, (fast, slow) in got.items():
        assert fast == slow, table
    assert len(got["raw_order_fills"][0]) == 4 * len(EXTREMES)


def test_random_fills_over_several_blocks_match_the_polars_path():
    rng = random.Random(7)
    logs = []
    for i in range(3_000):
        big = rng.getrandbits(rng.choice([8, 40, 64, 65, 128, 256]))
        tx = "0x" + rng.getrandbits(256).to_bytes(32, "big").hex()
        kw = dict(block=1_000 + i // 40, index=i % 40, tx=tx, ts=1_700_000_000 + 2 * (i // 40))
        logs.append(v1_fill(big, 0, rng.getrandbits(40), rng.getrandbits(40), rng.getrandbits(20), **kw) if i % 3
                    else v2_fill(rng.getrandbits(1), big, rng.getrandbits(50), rng.getrandbits(50), 0, **kw))
    fast, slow = both_ways(logs)["raw_order_fills"]
    assert fast == slow and len(fast) == 3_000


def test_a_missing_block_timestamp_is_null_in_both():
    with_ts = v1_fill(0, 5, 1, 2, 0, index=0)
    without = v2_fill(0, 5, 1, 2, 0, index=1)
    del without["blockTimestamp"]
    fast, slow = both_ways([with_ts, without])["raw_order_fills"]
    assert fast == slow
    assert sorted(row[TABLE_COLUMNS["raw_order_fills"].index("block_timestamp")] is None for row in fast) == [False, True]


def test_the_frames_are_still_there_for_callers_that_read_them():
    batch = prepare_copy(decode_logs([v1_fill(0, 7, 1, 2, 0, index=0), v2_fill(1, 7, 3, 4, 0, index=1)], 137))
    assert batch.rows() == {"raw_order_fills": 2} and batch.fills == 2  # counted without decoding
    assert "raw_order_fills" in batch.pending
    frame = batch.tables["raw_order_fills"]  # decoded on first read
    assert frame.columns == TABLE_COLUMNS["raw_order_fills"] and frame.height == 2 and not batch.pending
    assert sorted(frame["token_id"].drop_nulls().to_list() + frame["taker_asset_id"].drop_nulls().to_list()) == ["7", "7"]


def test_what_it_cannot_write_goes_back_to_the_polars_path():
    fill = v1_fill(0, 7, 1, 2, 0, index=0)
    batch = decode_logs([fill], 137)
    spec, part = batch.pending["raw_order_fills"][0]
    columns = TABLE_COLUMNS["raw_order_fills"]
    # a tx hash of another width (the quarantine does not check hashes' widths) -> None
    odd = part.with_columns(tx_hash=part["tx_hash"] + "0")
    assert fastrows.encode_events(columns, [(spec, odd)], chain_columns=CHAIN_COLUMNS) is None
    # a non-hex uint256 word (the quarantine would have taken the log) -> None, not garbage
    bad = part.with_columns(data=part["data"].str.replace("0x0", "0xz"))
    assert fastrows.encode_events(columns, [(spec, bad)], chain_columns=CHAIN_COLUMNS) is None
    # and the landing then writes the frame the polars way
    batch.pending["raw_order_fills"] = [(spec, odd)]
    prepared = prepare_copy(batch).prepared["raw_order_fills"]
    assert prepared.rows == 1 and not batch.pending


def test_encode_rows_refuses_malformed_column_specs():
    from orderflow_dagster.warehouse import _copyrows

    with pytest.raises(ValueError):
        _copyrows.encode_rows(2, [("fixed", b"abc", 3, 0, 3, b"", None)])  # 2 rows of 3 bytes need 6
    with pytest.raises(ValueError):
        _copyrows.encode_rows(1, [("wat",)])
    with pytest.raises(ValueError):
        _copyrows.encode_rows(1, [("numeric", b"g" * 64, 64, 0)])
    assert _copyrows.encode_rows(0, [("null",)]) == b""
