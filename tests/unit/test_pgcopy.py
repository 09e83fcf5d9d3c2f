"""Binary COPY encoding (warehouse/pgcopy.py), read back field by field with the documented layout."""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from orderflow_dagster.warehouse.pgcopy import HEADER, encode_binary

PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
U256_MAX = 2**256 - 1


def read_copy(pieces) -> list[list[bytes | None]]:
    """Rows of a binary COPY stream as raw field bytes (None = NULL): PostgreSQL's layout."""
    data = b"".join(bytes(p) for p in pieces)
    assert data.startswith(HEADER)
    at, rows = len(HEADER), []
    while True:
        (count,) = struct.unpack_from(">h", data, at)
        at += 2
        if count == -1:
            assert at == len(data), "bytes after the trailer"
            return rows
        row = []
        for _ in range(count):
            (size,) = struct.unpack_from(">i", data, at)
            at += 4
            row.append(None if size == -1 else data[at:at + size])
            at += max(size, 0)
        rows.append(row)


def numeric_value(field: bytes) -> int:
    ndigits, weight, sign, dscale = struct.unpack_from(">hhHh", field)
    assert sign == 0 and dscale == 0 and len(field) == 8 + 2 * ndigits
    digits = struct.unpack_from(f">{ndigits}h", field, 8)
    assert all(0 <= d < 10_000 for d in digits)
    return sum(d * 10_000 ** (weight - i) for i, d in enumerate(digits))


def test_every_kind_of_value_reads_back():
    amounts = [0, 1, 9_999, 10_000, 123_456_789, 2**64 - 1, 2**64, U256_MAX]
    stamps = [PG_EPOCH + timedelta(microseconds=1), datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
              datetime(2024, 10, 27, 3, 33, 20, 123456, tzinfo=timezone.utc), None] * 2
    df = pl.DataFrame({
        "i16": pl.Series([1, -2, 3, 4, 5, 6, 7, -32768], dtype=pl.Int16),
        "i32": pl.Series([137] * 7 + [-1], dtype=pl.Int32),
        "i64": pl.Series([2**40, 0, -5, 65_000_000, 1, 2, 3, 2**63 - 1], dtype=pl.Int64),
        "flag": [True, False, True, None, False, True, False, True],
        "ts": pl.Series(stamps, dtype=pl.Datetime("us", "UTC")),
        "hash": ["0x" + f"{i:064x}" for i in range(8)],
        "maybe": [None, "0x" + "ab" * 32, None, "0x" + "cd" * 32, None, None, "0x" + "ef" * 32, None],
        "amount": [str(a) for a in amounts],
        "token": [str(U256_MAX - i) if i % 2 else None for i in range(8)],
    })
    rows = read_copy(encode_binary(df, {"amount", "token"}))
    # rows come grouped by NULL pattern, each group in frame order
    got = sorted(rows, key=lambda r: struct.unpack(">q", r[2])[0] if r[2] else 0)
    want = sorted(df.iter_rows(), key=lambda r: r[2])
    assert len(rows) == 8
    for g, w in zip(got, want):
        i16, i32, i64, flag, ts, hash_, maybe, amount, token = w
        assert struct.unpack(">h", g[0])[0] == i16 and struct.unpack(">i", g[1])[0] == i32
        assert struct.unpack(">q", g[2])[0] == i64
        assert g[3] == (None if flag is None else bytes([flag]))
        assert g[4] == (None if ts is None else struct.pack(">q", (ts - PG_EPOCH) // timedelta(microseconds=1)))
        assert g[5] == hash_.encode() and g[6] == (None if maybe is None else maybe.encode())
        assert numeric_value(g[7]) == int(amount)
        assert (g[8] is None) == (token is None) and (token is None or numeric_value(g[8]) == int(token))


def test_a_batch_without_nulls_is_one_block_in_frame_order():
    df = pl.DataFrame({"n": pl.Series(range(5), dtype=pl.Int64), "amount": ["5", "50000", "0", "7", "123456789012"]})
    rows = read_copy(encode_binary(df, {"amount"}))
    assert [struct.unpack(">q", r[0])[0] for r in rows] == list(range(5))
    assert [numeric_value(r[1]) for r in rows] == [5, 50000, 0, 7, 123456789012]
    assert {len(r[1]) for r in rows} == {8 + 2 * 3}  # as many digits as the largest value needs


@pytest.mark.parametrize("frame, numeric", [
    (pl.DataFrame({"t": ["0xab", "0xabcd"]}), set()),  # text of two widths
    (pl.DataFrame({"t": ["", ""]}), set()),  # empty strings
    (pl.DataFrame({"a": ["1", "-1"]}), {"a"}),  # not a uint
    (pl.DataFrame({"a": ["1", "1.5"]}), {"a"}),
    (pl.DataFrame({"a": ["1", "1" * 81]}), {"a"}),  # beyond 10^80
    (pl.DataFrame({"a": ["1", "+1"]}), {"a"}),
    (pl.DataFrame({"a": ["12", " 1"]}), {"a"}),
    (pl.DataFrame({"a": ["1", ""]}), {"a"}),
    (pl.DataFrame({"a": ["0x10", "1"]}), {"a"}),
    (pl.DataFrame({"a": ["1", "\u0661\u0662"]}), {"a"}),  # Arabic-Indic digits: not ASCII, zfill pads by characters
    (pl.DataFrame({"a": ["12\u00e9", "1234"]}), {"a"}),
    (pl.DataFrame({"f": [1.5, 2.0]}), set()),  # no binary encoder for floats here
])
def test_frames_it_cannot_carry_get_none(frame, numeric):
    assert encode_binary(frame, numeric) is None


def test_naive_timestamps_are_read_as_utc_instants():
    naive = pl.DataFrame({"ts": pl.Series([datetime(2001, 1, 1)], dtype=pl.Datetime("us"))})
    (row,) = read_copy(encode_binary(naive))
    assert struct.unpack(">q", row[0])[0] == (datetime(2001, 1, 1, tzinfo=timezone.utc) - PG_EPOCH) // timedelta(microseconds=1)


def test_sliced_frames_of_several_chunks_read_back():
    parts = [pl.DataFrame({"h": ["0x" + f"{i:04x}" for i in range(k, k + 3)], "a": [str(10**25 + i) for i in range(k, k + 3)]})
             for k in (0, 3, 6)]
    df = pl.concat(parts, rechunk=False).slice(2, 5)  # as decode's concatenated event parts, offset
    rows = read_copy(encode_binary(df, {"a"}))
    assert [r[0].decode() for r in rows] == df["h"].to_list()
    assert [numeric_value(r[1]) for r in rows] == [int(a) for a in df["a"]]


def test_numerics_of_every_length_in_one_column_read_back():
    # amounts and token ids side by side (a V1 fill's asset ids: 0 for USDC, else a token id),
    # every length from 1 to 78 digits, so every zero-padding of the first base-10000 digit occurs
    values = [0, U256_MAX] + [10**k for k in range(78)] + [10**k - 1 for k in range(1, 79)]
    rows = read_copy(encode_binary(pl.DataFrame({"a": [str(v) for v in values]}), {"a"}))
    assert [numeric_value(r[0]) for r in rows] == values
    assert {len(r[0]) for r in rows} == {8 + 2 * 20}  # as many digits as the longest value needs


def test_a_numeric_column_that_is_not_decimal_text_gets_none():
    assert encode_binary(pl.DataFrame({"a": pl.Series([1, 2], dtype=pl.Int64)}), {"a"}) is None
