"""Ingestion's hot path in C (the compiled _copyrows), with the polars path as the fallback.

Three steps, each optional (None = take the polars path): `scan_logs` reads an eth_getLogs
answer's logs in place (string views into the body); `classify` makes the per-log checks the
quarantine reads; `encode_events` writes the fill tables' binary COPY rows from the hex.

Why the rows: the polars path decodes each fill into a frame of decimal strings (decode.py),
which pgcopy.py then turns into base-10000 numeric digits: about 5 CPU-s per million fills
(bench-ingest, 2026-11-27), more than the server spends storing them. Every field of OrderFilled and
OrdersMatched is a fixed slice of a topic or of the data's hex, so the rows can be written from
those slices directly: a hash or address is copied, a uint256 word is converted once, in C.

`encode_events` takes the events' logs as decode.py checked them (every log that reaches it
passed the quarantine checks: 0x-hex topics of 66 characters, data of the layout's length in
lowercase hex) and returns a COPY stream that stores exactly what `pgcopy.encode_binary`'s of
the decoded frame stores (numerics without leading zero digits, so not byte for byte;
tests/unit/test_fastrows.py compares both, value by value). It returns None, and the caller
takes the polars path, when the extension is not built (no C compiler at install time) or a
batch holds something unusual (a NULL or a text of another width where the layout has none).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from orderflow_dagster.chain.contracts import EventSpec
from orderflow_dagster.warehouse.pgcopy import _PG_EPOCH_US, HEADER, TRAILER, _be, _payload

try:  # built by `pip install -e .` (pyproject.toml's ext-modules), optional
    from orderflow_dagster.warehouse import _copyrows
except ImportError:  # pragma: no cover - only without a C compiler
    _copyrows = None

# Columns every raw table starts with (decode.CHAIN_COLUMNS) and their fixed text widths.
_TEXT_WIDTHS = {"block_hash": 66, "tx_hash": 66, "contract_address": 42}
_INTS = ("block_number", "log_index", "generation", "neg_risk")


def available() -> bool:
    return _copyrows is not None


def supports(spec: EventSpec) -> bool:
    """Whether every field of the layout is a fixed slice this module writes."""
    return spec.static_data_len is not None and all(p.type in _KINDS for p in spec.params)


_KINDS = {"bytes32", "address", "uint256", "uint8"}


def encode_events(columns: list[str], parts: list[tuple[EventSpec, pl.DataFrame]],
                  *, chain_columns: list[str]) -> list[bytes] | None:
    """The COPY stream (header to trailer) of `parts`' rows in order, table columns `columns`.

    Each part is one event layout's checked logs: the chain columns (as decode.py's frame has
    them, plus neg_risk) and topic1..3 and data as hex text. None when it cannot be done here.
    """
    if _copyrows is None:
        return None
    chunks: list[bytes] = [HEADER]
    for spec, part in parts:
        if not supports(spec):
            return None
        if part.height == 0:
            continue
        spec_columns = _columns(spec, part, columns, chain_columns)
        if spec_columns is None:
            return None
        try:
            chunks.append(_copyrows.encode_rows(part.height, spec_columns))
        except ValueError:
            return None  # a value of another width (a mangled hash) or not hex: the frame path decides
    chunks.append(TRAILER)
    return chunks


def _columns(spec: EventSpec, part: pl.DataFrame, columns: list[str], chain_columns: list[str]) -> list[tuple] | None:
    n = part.height
    out: dict[str, tuple] = {}
    for c in chain_columns + ["neg_risk"]:
        s = part.get_column(c)
        if c == "chain_id":
            if s.null_count() or s.n_unique() != 1:
                return None
            out[c] = ("const", _payload(s.head(1)).tobytes())
        elif c == "block_timestamp":  # NULL when the node gave no blockTimestamp
            mask = s.is_null().to_numpy().astype(np.uint8) if s.null_count() else None
            us = (s.dt.replace_time_zone(None) if s.dtype.time_zone else s).cast(pl.Int64).fill_null(0)
            rows = _be(us.to_numpy() - _PG_EPOCH_US, ">i8")
            out[c] = ("fixed", rows, 8, 0, 8, b"", mask)
        elif c in _TEXT_WIDTHS:
            rows = _text_rows(s, _TEXT_WIDTHS[c])
            if rows is None:
                return None
            out[c] = ("fixed", rows, 0, 0, _TEXT_WIDTHS[c], b"", None)
        elif c in _INTS:
            if s.null_count():
                return None
            rows = np.ascontiguousarray(_payload(s))
            out[c] = ("fixed", rows, rows.shape[1], 0, rows.shape[1], b"", None)
    # Indexed fields from topic1..3 (0x + 64 hex), the others from the data's words (0x + 64 per word).
    from orderflow_dagster.chain.decode import column_name  # decode imports this module

    for i, p in enumerate(spec.indexed, start=1):
        rows = _text_rows(part.get_column(f"topic{i}"), 66)
        if rows is None:
            return None
        out[column_name(p.name)] = _field(p.type, rows, 2)
    data = _text_rows(part.get_column("data"), 2 + spec.static_data_len * 2)
    if data is None:
        return None
    for j, p in enumerate(spec.data_params):
        out[column_name(p.name)] = _field(p.type, data, 2 + 64 * j)
    return [out.get(c, ("null",)) for c in columns]


def _field(param_type: str, rows: tuple, word: int) -> tuple:
    """Column spec of one 32-byte word whose 64 hex characters start at `word` in each value,
    written as decode.py's _field_expr writes the field."""
    if param_type == "bytes32":
        return ("fixed", rows, 0, word, 64, b"0x", None)
    if param_type == "address":
        return ("fixed", rows, 0, word + 24, 40, b"0x", None)
    if param_type == "uint256":
        return ("numeric", rows, 0, word)
    if param_type == "uint8":
        return ("int2hex", rows, 0, word + 62)
    raise ValueError(f"no fixed-row writer for {param_type}")


def _text_rows(s: pl.Series, width: int) -> tuple | None:
    """A string column whose every value is `width` bytes (no NULLs), as _copyrows reads it in
    place: polars' own string views (converting to an Arrow string array copied every value:
    ~0.7 CPU-s per million fills). The C side checks each value's length. None when the column
    holds a NULL."""
    if s.null_count():
        return None
    views = _string_views(s)
    return None if views is None else (views, width)


def classify(frame: pl.DataFrame, keys: list[tuple[str, str]]) -> pl.DataFrame | None:
    """Per log of a normalised frame, in one compiled pass: `__event`, the index in `keys` of
    its (contract_address, topic0) pair (null when none), and the two hex checks decode.py's
    quarantine reads, `__topics_bad` (topic1..3: a value that is not 0x + 64 lowercase hex)
    and `__data_bad` (data null, not 0x-prefixed, odd or not lowercase hex). What polars did
    with a join, a hex decode of every log's data and a regex over its topics (~2.2 CPU-s per
    million logs, bench-ingest), without copying a value. None without the extension."""
    if _copyrows is None or len(keys) > 255:
        return None
    columns = [_string_views(frame.get_column(c)) for c in ("contract_address", "topic0", "topic1", "topic2", "topic3", "data")]
    if any(c is None for c in columns):
        return None
    address, topic0, *topics, data = columns
    event, topics_bad, data_bad = _copyrows.classify(
        frame.height, address, topic0, topics, data, [(a.encode(), t.encode()) for a, t in keys])
    event = np.frombuffer(event, dtype=np.uint8)
    return pl.DataFrame({
        "__event": pl.Series(event, dtype=pl.UInt8).replace(255, None),
        "__topics_bad": pl.Series(np.frombuffer(topics_bad, dtype=np.bool_)),
        "__data_bad": pl.Series(np.frombuffer(data_bad, dtype=np.bool_)),
    })


def _string_views(s: pl.Series) -> tuple | None:
    """("views", views, data buffers, validity or None, row offset) of a string column, in place
    (a string-view column, _copyrows.c)."""
    if s.dtype != pl.String:
        return None
    arr = s.to_arrow(compat_level=pl.CompatLevel.newest())
    if arr.type != pa.string_view():
        return None
    validity, views, *data = arr.buffers()
    return ("views", views, tuple(d for d in data if d is not None), validity, arr.offset)


# decode.LOG_SCHEMA's string columns, in _copyrows.scan_logs' order
_SCANNED = ("address", "data", "blockNumber", "blockHash", "blockTimestamp", "transactionHash", "logIndex")


def scan_logs(body: bytes, start: int, end: int) -> pl.DataFrame | None:
    """The logs of an eth_getLogs answer whose `result` array is body[start..end], as decode.py's
    raw log frame (LOG_SCHEMA), its strings read in place: views into `body`, which the frame
    keeps alive. polars' JSON reader did the same with a copy of every value (~2.5 CPU-s per
    million logs, bench-ingest). None when the extension is missing or the array holds anything
    beyond plain strings, nulls, booleans and numbers (escapes, nested objects, a key twice):
    the caller then lets polars read it."""
    if _copyrows is None:
        return None
    scanned = _copyrows.scan_logs(body, start, end)
    if scanned is None:
        return None
    n, fields, (t_offsets, t_valid, t_views, n_topics) = scanned
    data = pa.py_buffer(body)
    columns = {}
    for name, (views, valid) in zip(_SCANNED, fields):
        columns[name] = pa.Array.from_buffers(pa.string_view(), n, [_bitmap(valid), pa.py_buffer(views), data])
    child = pa.Array.from_buffers(pa.string_view(), n_topics, [None, pa.py_buffer(t_views), data])
    topics = pa.ListArray.from_buffers(pa.list_(pa.string_view()), n, [_bitmap(t_valid), pa.py_buffer(t_offsets)],
                                       children=[child])
    from orderflow_dagster.chain.decode import LOG_SCHEMA  # decode imports this module

    table = pa.table({"address": columns["address"], "topics": topics, **{c: columns[c] for c in _SCANNED[1:]}})
    return pl.from_arrow(table).cast(LOG_SCHEMA).select(list(LOG_SCHEMA))  # type: ignore[union-attr]


def _bitmap(valid: bytes) -> pa.Buffer | None:
    """Arrow validity bitmap of per-row 0/1 bytes (None when every row is valid)."""
    flags = np.frombuffer(valid, dtype=np.uint8)
    if flags.all():
        return None
    return pa.py_buffer(np.packbits(flags, bitorder="little").tobytes())
