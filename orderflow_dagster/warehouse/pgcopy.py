"""PostgreSQL binary COPY rows from a polars frame, built with numpy (no Python object per row).

Why: the server reads binary COPY with less work than text, mostly because timestamptz and
numeric need no parsing (benchmarks/bench_ingest.py's floor: a million fills load in one COPY
in ~5 s from binary against ~6.4 s from CSV; in the pipeline the server's CPU per million fills
went from ~6.4 to ~5.8 s against COPY text format). Decoded logs suit it: every value of a column has
the same width (hashes, addresses, fixed-size integers), so a batch is a 2-D byte array whose
columns are filled one whole frame column at a time.

The layout (PostgreSQL docs, "COPY ... Binary Format"): a signature header, then per row an int16
field count and per field an int32 byte length (-1 = NULL) and the value in the type's binary
send format, then an int16 -1 trailer; all integers big-endian. Values, by polars dtype:
  Int16/Int32/Int64 -> int2/int4/int8, Boolean -> bool, Datetime(us) -> timestamptz
  (microseconds since 2000-01-01 UTC), String -> text, or numeric for the `numeric` columns
  (non-negative decimal integers: uint256 values as decode.py writes them).
A numeric goes as base-10000 digits, as many as the longest value of its column in the batch
needs, leading zeros included: the server strips them (numeric_recv -> make_result), so the
stored value is the canonical one.

`encode_binary` returns None when a frame does not fit (a text column whose values differ in
width, a numeric that is not a plain non-negative integer, another dtype): the caller then sends
text COPY, which takes anything.
"""

from __future__ import annotations

import numpy as np
import polars as pl

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC in microseconds since 1970
_MAX_DIGITS = 20  # base-10000 digits of any uint256 (< 10^78)

_INT_TYPES = {pl.Int16: ">i2", pl.Int32: ">i4", pl.Int64: ">i8"}


def encode_binary(df: pl.DataFrame, numeric: frozenset[str] | set[str] = frozenset()) -> list[memoryview | bytes] | None:
    """The frame's rows as a binary COPY stream (header to trailer, in pieces to send one after
    the other), columns in frame order; None when some column cannot be sent this way (see the
    module docstring)."""
    for name, dtype in df.schema.items():
        if not (dtype in _INT_TYPES or dtype == pl.Boolean or dtype == pl.String
                or (isinstance(dtype, pl.Datetime) and dtype.time_unit == "us")):
            return None
    chunks: list[memoryview | bytes] = [HEADER]
    # Rows with the same NULL pattern have the same width: encode each pattern as one block.
    nullable = [c for c in df.columns if df.get_column(c).null_count()]
    if nullable:
        key = [f"__null_{i}" for i in range(len(nullable))]
        marked = df.with_columns(pl.col(c).is_null().alias(k) for c, k in zip(nullable, key))
        parts = [p.drop(key) for p in marked.partition_by(key, maintain_order=True)]
    else:
        parts = [df]
    for part in parts:
        block = _encode_block(part, numeric)
        if block is None:
            return None
        chunks.extend(block)
    chunks.append(TRAILER)
    return chunks


def _encode_block(df: pl.DataFrame, numeric) -> list[bytes] | None:
    """Rows of one NULL pattern (each column all NULL or all set) as a 2-D byte array."""
    n = df.height
    if n == 0:
        return []
    schema = df.schema
    present = [c for c in df.columns if df.get_column(c).null_count() < n]
    texts = [c for c in present if schema[c] == pl.String and c not in numeric]
    numbers = [c for c in present if schema[c] == pl.String and c in numeric]
    if any(c in numeric and schema[c] != pl.String for c in present):
        return None  # a numeric column must hold decimal text (an int64 sent as numeric is refused)
    # one pass over the frame for the text and numeric columns' widths
    probe = df.select(
        *[pl.col(c).str.len_bytes().min().alias(f"min:{c}") for c in texts + numbers],
        *[pl.col(c).str.len_bytes().max().alias(f"max:{c}") for c in texts + numbers],
    ).row(0, named=True) if texts or numbers else {}
    if any(probe[f"min:{c}"] != probe[f"max:{c}"] or not probe[f"min:{c}"] for c in texts):
        return None  # a text column of varying width: not one 2-D array
    if any(not probe[f"min:{c}"] for c in numbers):
        return None  # an empty string in a numeric column
    digits = _numeric_digits(df, {c: probe[f"max:{c}"] for c in numbers})
    if digits is None:
        return None
    fields: list[np.ndarray | None] = []  # per column: (n, width) uint8 payload, None = NULL
    for name in df.columns:
        if name not in present:
            fields.append(None)
        elif name in digits:
            fields.append(digits[name])
        elif name in texts:
            text = _fixed_text(df.get_column(name), probe[f"min:{name}"])
            if text is None:
                return None
            fields.append(text)
        else:
            fields.append(_payload(df.get_column(name)))
    # The field count and every field's byte length are the same for each row of the block:
    # one template row, broadcast, then the values written column by column over it.
    template = bytearray(len(fields).to_bytes(2, "big"))
    spans = []
    for f in fields:
        size = -1 if f is None else f.shape[1]
        template += size.to_bytes(4, "big", signed=True)
        if f is not None:
            spans.append((len(template), f))
            template += bytes(size)
    out = np.empty((n, len(template)), dtype=np.uint8)
    out[:] = np.frombuffer(template, dtype=np.uint8)
    for at, f in spans:
        out[:, at:at + f.shape[1]] = f
    return [out.data]


def _payload(s: pl.Series) -> np.ndarray:
    dtype = s.dtype
    if dtype in _INT_TYPES:
        return _be(s.to_numpy(), _INT_TYPES[dtype])
    if dtype == pl.Boolean:
        return s.to_numpy().astype(np.uint8).reshape(-1, 1)
    # Datetime(us): the instant, whatever the frame's time zone (timestamptz is stored in UTC)
    us = s.dt.replace_time_zone(None).cast(pl.Int64) if s.dtype.time_zone else s.cast(pl.Int64)
    return _be(us.to_numpy() - _PG_EPOCH_US, ">i8")


def _be(values: np.ndarray, fmt: str) -> np.ndarray:
    """Integers as big-endian bytes, one row per value."""
    arr = np.ascontiguousarray(values.astype(fmt, copy=False))
    return arr.view(np.uint8).reshape(len(arr), -1)


def _fixed_text(s: pl.Series, width: int) -> np.ndarray | None:
    """UTF-8 bytes of a string column whose values all have `width` bytes (no NULLs), as a
    (rows, width) array; None when the values hold more bytes than that in all."""
    off, data = _string_buffers(s)
    first, last = int(off[0]), int(off[-1])
    if last - first != len(s) * width:
        return None
    raw = np.frombuffer(data, dtype=np.uint8, count=len(s) * width, offset=first)
    return raw.reshape(len(s), width)


def _string_buffers(s: pl.Series) -> tuple[np.ndarray, object]:
    """A string column's Arrow value offsets (rows + 1, int64, into the data buffer) and data buffer."""
    arr = s.to_arrow()  # one Arrow array: polars rechunks a Series of several chunks here
    if arr.type != "large_string":
        arr = arr.cast("large_string")
    _validity, offsets, data = arr.buffers()
    return np.frombuffer(offsets, dtype=np.int64, count=len(s) + 1, offset=arr.offset * 8), data


def _numeric_digits(df: pl.DataFrame, columns: dict[str, int]) -> dict[str, np.ndarray] | None:
    """numeric send format of each column (non-negative decimal integer strings, no NULLs):
    ndigits, weight, sign (0 = positive), dscale (0), then the base-10000 digits, most
    significant first. `columns`: name -> its longest value's length. None when a value is not
    such an integer of at most 80 digits.

    Each column is read right-aligned into a whole number of base-10000 digits (as many as its
    longest value needs), zeros on the left, as one (rows, 4 x ndigits) byte array (_right_aligned):
    the digits are then numpy arithmetic over that array, the same for an amount and for a 78-digit
    token id (no Python object per value)."""
    out: dict[str, np.ndarray] = {}
    n = df.height
    for c, longest in columns.items():
        if longest > 4 * _MAX_DIGITS:
            return None
        ndigits = -(-longest // 4)
        # Four characters are one base-10000 digit: read them as one little-endian uint32
        # (first character in the low byte) and combine them in place (SWAR).
        quads = _right_aligned(df.get_column(c), ndigits)
        if ((quads & 0xF0F0F0F0) != 0x30303030).any() or (((quads & 0x0F0F0F0F) + 0x06060606) & 0xF0F0F0F0).any():
            return None  # a character outside '0'..'9'
        d = quads & 0x0F0F0F0F
        pairs = (d * 10 + (d >> 8)) & 0x00FF00FF  # bytes 0 and 2: the two 2-character halves
        words = np.zeros((n, 4 + ndigits), dtype=">i2")
        words[:, 0], words[:, 1] = ndigits, ndigits - 1  # sign 0 (positive) and dscale 0 stay
        words[:, 4:] = (pairs & 0xFF) * 100 + (pairs >> 16)
        out[c] = words.view(np.uint8).reshape(n, -1)
    return out


def _right_aligned(s: pl.Series, ndigits: int) -> np.ndarray:
    """A string column (no NULLs, no value longer than 4 x ndigits bytes) as (rows, ndigits)
    little-endian uint32: each value's bytes right-aligned in 4 x ndigits bytes, '0' on the left.

    What str.zfill then _fixed_text would give, without writing a new string column (that cost
    more than all the digit arithmetic, bench-ingest): each row is the window of the value
    buffer that ends where the value ends (the buffer starts with a run of '0's so the first
    rows' windows exist), so a window's left part holds the previous values' bytes; those
    bytes are then replaced by '0's a whole uint32 at a time, with a mask per value length."""
    width = 4 * ndigits
    n = len(s)
    off, data = _string_buffers(s)
    first = int(off[0])
    buf = np.empty(width + int(off[-1]) - first, dtype=np.uint8)
    buf[:width] = _ZERO_CHAR
    buf[width:] = np.frombuffer(data, dtype=np.uint8, count=int(off[-1]) - first, offset=first)
    windows = np.lib.stride_tricks.sliding_window_view(buf, width)[off[1:] - first]  # (n, width), a copy
    quads = windows.view("<u4").reshape(n, ndigits)
    keep, fill = _pad_masks(ndigits)
    pad = width - np.diff(off)  # bytes of each window that are not its value
    return (quads & keep[pad]) | fill[pad]


_ZERO_CHAR = ord("0")


def _pad_masks(ndigits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pad length p (0..4 x ndigits), per uint32 of a row: the mask keeping the value's bytes,
    and '0's where the first p bytes are."""
    masks = _PAD_MASKS.get(ndigits)
    if masks is None:
        width = 4 * ndigits
        is_pad = np.arange(width)[None, :] < np.arange(width + 1)[:, None]  # (pad, byte)
        keep = np.where(is_pad, 0, 0xFF).astype(np.uint8)
        fill = np.where(is_pad, _ZERO_CHAR, 0).astype(np.uint8)
        masks = _PAD_MASKS[ndigits] = (keep.view("<u4"), fill.view("<u4"))
    return masks


_PAD_MASKS: dict[int, tuple[np.ndarray, np.ndarray]] = {}
