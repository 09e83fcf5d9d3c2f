"""copy_frame lands decoded frames exactly (binary COPY for the fill tables, text format, or CSV when a
value needs it)."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import pytest
from eth_abi import encode

import orderflow_dagster.warehouse.landing as landing
from orderflow_dagster.chain.contracts import EVENTS_BY_KEY
from orderflow_dagster.chain.decode import TABLE_COLUMNS, decode_logs
from orderflow_dagster.warehouse import fastrows
from orderflow_dagster.warehouse.db import connect
from orderflow_dagster.warehouse.migrate import apply_migrations
from tests.unit.test_decode import TAKER, TOKEN, TOKEN2, U256_MAX, V1, V2, make_log, topic_addr, v1_fill, v2_fill


@pytest.fixture
def db(pg_url):
    apply_migrations(pg_url)
    with connect(pg_url) as conn:
        yield conn


def fills_batch(n: int = 30):
    logs = []
    for i in range(n):
        logs.append(v1_fill(0, TOKEN2, 520_000 + i, 10**30 + i, i, index=2 * i, block=100 + i // 4))
        logs.append(v2_fill(i % 2, TOKEN if i % 3 else 0, U256_MAX - i, 2**64 + i, 2**64 - 1, index=2 * i + 1, block=100 + i // 4))
    return decode_logs(logs, 137)


def landed(conn, table: str) -> pl.DataFrame:
    cols = TABLE_COLUMNS[table]
    casts = ", ".join(f"{c}::text" if c in ("maker_asset_id", "taker_asset_id", "token_id", "maker_amount_filled",
                                              "taker_amount_filled", "fee") else c for c in cols)
    rows = conn.execute(f"SELECT {casts} FROM {table} ORDER BY log_index").fetchall()
    return pl.DataFrame(rows, schema=cols, orient="row", infer_schema_length=None)


def assert_same_rows(conn, table: str, frame: pl.DataFrame) -> None:
    got = landed(conn, table)
    want = frame.sort("log_index")
    assert got.height == want.height
    for c in TABLE_COLUMNS[table]:
        if c == "block_timestamp":
            assert [t.astimezone(timezone.utc) if t else t for t in got[c].to_list()] == want[c].to_list(), c
        else:
            assert got[c].to_list() == want[c].to_list(), c


@pytest.mark.parametrize("slice_rows", [4096, 7])
def test_fills_land_exactly(db, monkeypatch, slice_rows):
    monkeypatch.setattr(landing, "COPY_SLICE_ROWS", slice_rows)
    fills = fills_batch().tables["raw_order_fills"]
    with db.transaction(), db.cursor() as cur:
        assert landing.copy_frame(cur, "raw_order_fills", fills) == fills.height
    assert_same_rows(db, "raw_order_fills", fills)
    assert db.execute("SELECT max(maker_amount_filled)::text FROM raw_order_fills").fetchone()[0] == str(U256_MAX)


def test_fractional_and_missing_timestamps_keep_their_value(db):
    fills = fills_batch(2).tables["raw_order_fills"]
    ts = [datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc), None, datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone.utc), None]
    fills = fills.with_columns(pl.Series("block_timestamp", ts, dtype=pl.Datetime("us", "UTC")))
    with db.transaction(), db.cursor() as cur:
        landing.copy_frame(cur, "raw_order_fills", fills)
    assert_same_rows(db, "raw_order_fills", fills)


def test_a_later_slice_text_format_cannot_carry_falls_back_to_csv(db, monkeypatch):
    monkeypatch.setattr(landing, "COPY_SLICE_ROWS", 5)
    fills = fills_batch().tables["raw_order_fills"].sort("log_index")
    odd = pl.Series("metadata", [None] * 40 + ["", 'a "quoted", \\ value'] + [None] * 18, dtype=pl.String)
    fills = fills.with_columns(odd)  # the text COPY has sent 8 slices when slice 9 needs CSV
    with db.transaction(), db.cursor() as cur:
        assert landing.copy_frame(cur, "raw_order_fills", fills) == 60
    assert_same_rows(db, "raw_order_fills", fills)  # nothing twice, the empty string is not NULL


def test_quarantine_rows_with_commas_quotes_and_arrays(db):
    good = v1_fill(0, TOKEN2, 1, 2, 0, index=0)
    bad_len = make_log(V1, good["topics"], bytes(10), index=1)
    no_topic = dict(v1_fill(0, TOKEN2, 1, 2, 0, index=2), topics=[])
    batch = decode_logs([good, bad_len, no_topic], 137)
    quarantine = batch.tables["raw_quarantine"]
    with db.transaction(), db.cursor() as cur:
        for table, frame in batch.tables.items():
            landing.copy_frame(cur, table, frame)
    rows = db.execute("SELECT log_index, topics, data, reason FROM raw_quarantine ORDER BY log_index").fetchall()
    assert [r[0] for r in rows] == [1, 2]
    assert rows[0][1] == bad_len["topics"] and rows[1][1] == []
    assert rows[0][2] == bad_len["data"] and rows[0][3] == quarantine.sort("log_index")["reason"][0]


def blocks(*rows) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema={"block_number": pl.Int64, "block_hash": pl.String,
                                            "block_timestamp": pl.Datetime("us", "UTC")}, orient="row")


def test_upsert_blocks_keeps_the_last_row_per_block(db):
    t = datetime(2024, 1, 1, 0, 0, 1, 234567, tzinfo=timezone.utc)
    with db.transaction(), db.cursor() as cur:
        landing.upsert_blocks(cur, 137, blocks((1, "0xa", t), (2, "0xb", None), (1, "0xc", None)))
        landing.upsert_blocks(cur, 137, blocks((2, "0xd", t), (3, "0xe", None)))
    assert db.execute("SELECT block_number, block_hash, block_timestamp FROM chain_blocks ORDER BY 1").fetchall() == [
        (1, "0xc", None), (2, "0xd", t), (3, "0xe", None)]


@pytest.mark.parametrize("prepared", [False, True])
def test_land_range_records_batch_blocks_and_the_end_block(db, prepared):
    batch = fills_batch(8)  # blocks 100 and 101
    if prepared:  # the block lists are then built with the COPY rows, in the decode thread
        landing.prepare_copy(batch)
        assert batch.block_lists is not None
    end_ts = datetime(2024, 5, 1, tzinfo=timezone.utc)
    landing.land_range(db, 137, 100, 105, batch, end_block_hash="0x" + "ee" * 32, end_block_timestamp=end_ts)
    got = db.execute("SELECT block_number, block_hash, block_timestamp FROM chain_blocks ORDER BY 1").fetchall()
    assert [g[0] for g in got] == [100, 101, 105]
    assert got[0][1] == "0x" + f"{100:064x}" and got[0][2] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    assert got[2] == (105, "0x" + "ee" * 32, end_ts)
    landing.land_range(db, 137, 100, 101, batch, end_block_hash="0x" + "ff" * 32)  # end block already in the batch
    assert db.execute("SELECT block_hash FROM chain_blocks WHERE block_number = 101").fetchone()[0] == "0x" + f"{101:064x}"


def test_prepared_fills_go_as_binary_and_land_exactly(db):
    fills = fills_batch().tables["raw_order_fills"]
    # NULL timestamps, a fraction and a pre-2000 instant as well
    ts = [datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc), None, datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)]
    fills = fills.with_columns(pl.Series("block_timestamp", (ts * fills.height)[: fills.height], dtype=pl.Datetime("us", "UTC")))
    payload = landing.render_copy("raw_order_fills", fills)
    assert payload.options == "FORMAT binary" and payload.rows == fills.height
    with db.transaction(), db.cursor() as cur:
        assert landing.copy_frame(cur, "raw_order_fills", fills, payload) == fills.height
    assert_same_rows(db, "raw_order_fills", fills)
    assert db.execute("SELECT max(maker_amount_filled)::text, min(token_id)::text FROM raw_order_fills").fetchone() == (
        str(U256_MAX), "0")


def matches_batch(n: int = 12):
    """OrdersMatched logs of both generations, uint256 extremes included."""
    v1 = EVENTS_BY_KEY["orders_matched_v1"]
    v2 = EVENTS_BY_KEY["orders_matched_v2"]
    logs = []
    for i in range(n):
        logs.append(make_log(V1, [v1.topic0, "0x" + f"{i:064x}", topic_addr(TAKER)],
                             encode(["uint256"] * 4, [0, TOKEN2, 10**6 + i, U256_MAX - i]), index=2 * i, block=200 + i))
        logs.append(make_log(V2, [v2.topic0, "0x" + f"{i + 99:064x}", topic_addr(TAKER)],
                             encode(["uint8"] + ["uint256"] * 3, [i % 2, TOKEN - i, 2**64 + i, i]), index=2 * i + 1, block=200 + i))
    return decode_logs(logs, 137)


@pytest.mark.parametrize("table", sorted(landing.BINARY_TABLES))
def test_binary_and_text_copies_of_one_frame_store_the_same_rows(db, table):
    frame = (fills_batch() if table == "raw_order_fills" else matches_batch()).tables[table]
    binary = landing.render_copy(table, frame)
    text = landing.CopyPayload(landing._TEXT_OPTIONS, [landing._render_csv(frame.select(TABLE_COLUMNS[table]))], frame.height)
    assert binary.options == "FORMAT binary"
    with db.transaction(), db.cursor() as cur:
        landing.copy_frame(cur, table, frame, binary)
        cur.execute(f"CREATE TEMP TABLE as_text (LIKE {table})")
        with cur.copy(f"COPY as_text ({', '.join(TABLE_COLUMNS[table])}) FROM STDIN ({text.options})") as cp:
            cp.write(text.data[0])
        counts = cur.execute(f"SELECT (SELECT count(*) FROM {table}), (SELECT count(*) FROM (TABLE {table} EXCEPT ALL TABLE as_text) a),"
                             f" (SELECT count(*) FROM (TABLE as_text EXCEPT ALL TABLE {table}) b)").fetchone()
    assert counts == (frame.height, 0, 0)


def test_a_fill_frame_binary_cannot_carry_goes_as_text(db):
    fills = fills_batch(3).tables["raw_order_fills"].with_columns(
        pl.Series("metadata", [None, "0x12", None, "0x1234", None, "0x" + "ab" * 32], dtype=pl.String))
    payload = landing.render_copy("raw_order_fills", fills)
    assert payload.options == landing._TEXT_OPTIONS  # metadata of three widths: no fixed-width block
    with db.transaction(), db.cursor() as cur:
        landing.copy_frame(cur, "raw_order_fills", fills, payload)
    assert_same_rows(db, "raw_order_fills", fills)


def test_delete_range_counts_the_rows_it_deletes_in_every_table_but_block_hashes(db):
    batch = fills_batch(8)  # 16 fills in blocks 100 (8) and 101 (8)
    landing.land_range(db, 137, 100, 105, batch, end_block_hash="0x" + "ee" * 32, advance_cursor=False)
    db.execute("INSERT INTO raw_quarantine (chain_id, block_number, block_hash, tx_hash, log_index, contract_address,"
               " topics, data, reason) SELECT c, b, '0xb', '0xq', i, '0xa', '{}', '0x', r FROM (VALUES"
               " (137, 101, 99, 'test'), (137, 200, 1, 'test'), (1, 101, 1, 'other chain')) AS v(c, b, i, r)")
    with db.transaction(), db.cursor() as cur:
        assert landing.delete_range(cur, 137, 101, 101) == 8 + 1
        assert db.execute("SELECT count(*) FROM raw_order_fills").fetchone()[0] == 8
        assert [r[0] for r in db.execute("SELECT block_number FROM chain_blocks ORDER BY 1")] == [100, 105]
        assert landing.delete_range(cur, 137, 100, None) == 8 + 1  # open-ended: block 200's quarantined log too
    assert db.execute("SELECT count(*) FROM raw_order_fills").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM chain_blocks").fetchone()[0] == 0
    assert db.execute("SELECT chain_id, reason FROM raw_quarantine").fetchall() == [(1, "other chain")]


def test_delete_range_finds_rows_whatever_chain_blocks_recorded(db):
    batch = fills_batch(8)  # blocks 100 and 101, recorded in chain_blocks by the landing
    landing.land_range(db, 137, 100, 101, batch, end_block_hash=None, advance_cursor=False)
    with db.transaction(), db.cursor() as cur:
        assert landing.delete_range(cur, 137, 102, 200) == 0  # nothing landed there
        # the rows are found by their own block numbers, not through the recorded block hashes
        cur.execute("DELETE FROM chain_blocks")
        assert landing.delete_range(cur, 137, 101, 200) == 8
        assert landing.delete_range(cur, 137, 0, None) == 8
    # landing the same range again replaces it: nothing twice
    landing.land_range(db, 137, 100, 101, batch, end_block_hash=None, advance_cursor=False)
    landing.land_range(db, 137, 100, 101, batch, end_block_hash=None, advance_cursor=False)
    assert db.execute("SELECT count(*) FROM raw_order_fills").fetchone()[0] == 16


@pytest.mark.skipif(not fastrows.available(), reason="the C extension is not built (no compiler)")
def test_fills_written_from_their_hex_land_as_the_decoded_frames_say(db):
    """land_range sends the fill tables' rows written by the compiled writer (fastrows.py), never
    decoding them; the server stores exactly what the polars path decodes from the same logs."""
    logs = []
    for i, v in enumerate([0, 1, 9_999, 10_000, 2**64 - 1, 2**64, 10**38, U256_MAX]):
        logs.append(v1_fill(v, 0, v, U256_MAX - v, v, index=2 * i, block=300 + i))
        logs.append(v2_fill(i % 2, v, v, 1, U256_MAX - v, index=2 * i + 1, block=300 + i))
    batch = landing.prepare_copy(decode_logs(logs, 137))
    assert set(batch.pending) == {"raw_order_fills"} and batch.prepared["raw_order_fills"].options == "FORMAT binary"
    landing.land_range(db, 137, 300, 307, batch, end_block_hash=None, advance_cursor=False)
    assert batch.pending  # landed without decoding the frames
    assert_same_rows(db, "raw_order_fills", decode_logs(logs, 137).tables["raw_order_fills"])


def test_logs_without_identity_are_quarantined_and_a_relanding_keeps_them_once(db):
    """A log whose key or block fields are missing or not hex cannot land in its raw table; it
    goes to quarantine (whole, with the reason) and the range still lands, once per landing."""
    good = v1_fill(0, TOKEN2, 1, 2, 0, index=0, block=400)
    no_index = {**v1_fill(0, TOKEN2, 1, 2, 0, index=1, block=400), "logIndex": None}
    no_tx = {**v1_fill(0, TOKEN2, 1, 2, 0, index=2, block=401), "transactionHash": None}
    no_block_hash = {**v1_fill(0, TOKEN2, 1, 2, 0, index=3, block=401), "blockHash": None}
    bad_block = {**v1_fill(0, TOKEN2, 1, 2, 0, index=4, block=401), "blockNumber": "0xnope"}
    no_address = {**v1_fill(0, TOKEN2, 1, 2, 0, index=5, block=402), "address": None}
    no_topics = {**v1_fill(0, TOKEN2, 1, 2, 0, index=6, block=402), "topics": None}
    logs = [good, no_index, no_tx, no_block_hash, bad_block, no_address, no_topics]
    for _ in range(2):  # the second landing replaces the first
        batch = landing.prepare_copy(decode_logs(logs, 137))
        assert batch.quarantined == 6 and batch.fills == 1
        landing.land_range(db, 137, 400, 402, batch, end_block_hash=None, advance_cursor=False)
        assert db.execute("SELECT count(*) FROM raw_order_fills").fetchone()[0] == 1
        rows = db.execute("SELECT block_number, log_index, reason FROM raw_quarantine ORDER BY quarantine_id").fetchall()
        assert len(rows) == 6
    assert all(r[2] for r in rows)
    # the log whose block number was not hex is kept under the range's first block
    assert sorted(r[0] for r in rows) == [400, 400, 401, 401, 402, 402]
    assert [r[2] for r in rows if r[1] is None] == ["missing or non-hex blockNumber/logIndex/transactionHash/blockHash"]
    # and each is kept as the node sent it, the unreadable field included
    raw = db.execute("SELECT raw_log::jsonb FROM raw_quarantine WHERE raw_log LIKE '%0xnope%'").fetchall()
    assert len(raw) == 1 and raw[0][0]["blockNumber"] == "0xnope" and raw[0][0]["logIndex"] == "0x4"
