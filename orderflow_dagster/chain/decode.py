"""Vectorised decoding of Polymarket logs into raw-table frames (polars, no per-log ABI call).

Every static event field is a 32-byte word at a fixed offset of the hex `data` string, so a
field is one string slice over the whole batch. uint256 words become exact decimal strings
(landed as numeric(78,0)): values below 2^64 take a vectorised path; larger ones (token ids,
extreme amounts) are converted once per distinct value. The two events with dynamic arrays
(ConditionResolution, PayoutRedemption) are rare and decoded with eth_abi row by row.

Logs that cannot be decoded (unknown topic0 for the contract, wrong topic count, wrong or
non-hex data) go to the quarantine frame with a reason; the rest of the batch goes on.

The pipeline's input is the eth_getLogs response body itself: `parse_logs_body` reads it with
polars' JSON reader straight into columns (no Python dict per log), `decode_raw` decodes that
frame. `decode_logs` takes already-parsed dicts (tests, small callers) and runs the same decoder.
The fill tables' logs (OrderFilled, OrdersMatched) are checked here but, when the compiled row
writer is built (warehouse/fastrows.py), not decoded: the landing writes their COPY rows from the
hex, and `DecodedBatch.tables` decodes them only for a caller that reads the frames.
Speed notes (measured by benchmarks/bench_ingest.py): per batch, the quarantine reasons are
built only when some log is bad (a when/then chain evaluates every branch for every row), and
absent event kinds cost nothing.
"""

from __future__ import annotations

import functools
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import orjson
import polars as pl
from eth_abi import decode as abi_decode

from orderflow_dagster.chain.contracts import CONTRACTS, EVENTS, EventSpec
from orderflow_dagster.chain.markets import CONDITION_TOKEN_COLUMNS, condition_tokens
from orderflow_dagster.warehouse import fastrows

# Columns every raw table starts with, in table order.
CHAIN_COLUMNS = [
    "chain_id", "block_number", "block_hash", "block_timestamp", "tx_hash", "log_index", "contract_address", "generation",
]

# Raw-table column order (must match migrations/0001_raw_tables.sql).
TABLE_COLUMNS: dict[str, list[str]] = {
    "raw_order_fills": CHAIN_COLUMNS + [
        "neg_risk", "order_hash", "maker", "taker", "maker_asset_id", "taker_asset_id", "side", "token_id",
        "maker_amount_filled", "taker_amount_filled", "fee", "builder", "metadata",
    ],
    "raw_orders_matched": CHAIN_COLUMNS + [
        "neg_risk", "taker_order_hash", "taker_order_maker", "maker_asset_id", "taker_asset_id", "side", "token_id",
        "maker_amount_filled", "taker_amount_filled",
    ],
    "raw_token_registrations": CHAIN_COLUMNS + ["neg_risk", "token0", "token1", "condition_id"],
    "raw_conditions": CHAIN_COLUMNS + ["condition_id", "oracle", "question_id", "outcome_slot_count"],
    "raw_condition_tokens": CONDITION_TOKEN_COLUMNS,  # derived from raw_conditions (chain/markets.py)
    "raw_resolutions": CHAIN_COLUMNS + ["condition_id", "oracle", "question_id", "outcome_slot_count", "payout_numerators"],
    "raw_redemptions": CHAIN_COLUMNS + [
        "redeemer", "collateral_token", "parent_collection_id", "condition_id", "index_sets", "payout",
    ],
    "raw_outcome_reports": CHAIN_COLUMNS + ["market_id", "question_id", "outcome"],
    "raw_quarantine": [
        "chain_id", "block_number", "block_hash", "block_timestamp", "tx_hash", "log_index", "contract_address",
        "topics", "data", "reason", "raw_log",
    ],
}
RAW_TABLES = [t for t in TABLE_COLUMNS if t != "raw_quarantine"]

# Solidity parameter name -> raw column name, where they differ from a plain snake_case.
_COLUMN_NAMES = {
    "orderHash": "order_hash", "makerAssetId": "maker_asset_id", "takerAssetId": "taker_asset_id",
    "makerAmountFilled": "maker_amount_filled", "takerAmountFilled": "taker_amount_filled", "tokenId": "token_id",
    "takerOrderHash": "taker_order_hash", "takerOrderMaker": "taker_order_maker", "conditionId": "condition_id",
    "questionId": "question_id", "outcomeSlotCount": "outcome_slot_count", "payoutNumerators": "payout_numerators",
    "collateralToken": "collateral_token", "parentCollectionId": "parent_collection_id", "indexSets": "index_sets",
    "marketId": "market_id",
}

LOG_SCHEMA = {
    "address": pl.String, "topics": pl.List(pl.String), "data": pl.String, "blockNumber": pl.String,
    "blockHash": pl.String, "blockTimestamp": pl.String, "transactionHash": pl.String, "logIndex": pl.String,
}
# A JSON-RPC response body as polars reads it: only `result` (other keys, and log fields outside
# LOG_SCHEMA such as transactionIndex and removed, are skipped by the reader).
_RESPONSE_SCHEMA = {"result": pl.List(pl.Struct(LOG_SCHEMA))}
# Bodies are parsed one at a time, by one thread per process: the fetch threads (RPC concurrency)
# would otherwise parse side by side, multiplying the reader's working memory, competing with
# the decode thread and the database for the CPU, and each leaving freed memory cached in its
# own allocator arena.
_PARSER: ThreadPoolExecutor | None = None
_PARSER_LOCK = threading.Lock()


def column_name(param: str) -> str:
    return _COLUMN_NAMES.get(param, param)


@dataclass
class DecodedBatch:
    """Frames ready to land, keyed by raw table, plus the block hashes seen.

    The fill tables' logs may stay undecoded (`pending`) when the landing can write their rows
    straight from the hex (warehouse/fastrows.py): `tables` decodes them the first time it is
    read, so a caller that reads frames always gets them; the landing reads counts and the
    prepared rows only."""

    _tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    blocks: pl.DataFrame | None = None  # block_number, block_hash, block_timestamp (one row per block)
    logs: int = 0
    # table -> its rows already written out for COPY (warehouse.landing.prepare_copy), so that
    # landing only sends bytes; empty when not prepared
    prepared: dict[str, object] = field(default_factory=dict)
    # `blocks` as (numbers, hashes, epoch microseconds) lists, one entry per block number, when
    # prepared (warehouse.landing.prepare_copy); None otherwise
    block_lists: tuple[list, list, list] | None = None
    # table -> [(event layout, its checked logs)] not decoded yet, in landing order
    pending: dict[str, list[tuple[EventSpec, pl.DataFrame]]] = field(default_factory=dict)

    @property
    def tables(self) -> dict[str, pl.DataFrame]:
        for table in list(self.pending):
            self.frame(table)
        return self._tables

    def frame(self, table: str) -> pl.DataFrame:
        """One table's frame, decoding its pending logs if any (the other tables' stay pending)."""
        parts = self.pending.pop(table, None)
        if parts:
            decoded = pl.concat([_decode_event(part, spec) for spec, part in parts], how="diagonal_relaxed")
            self._tables[table] = _in_table_order(decoded, table)
        return self._tables[table]

    def replace_frame(self, table: str, frame: pl.DataFrame) -> None:
        """Set one table's (decoded) frame; rows already prepared for its COPY no longer hold."""
        self.pending.pop(table, None)
        self._tables[table] = frame
        self.prepared.pop(table, None)

    @property
    def fills(self) -> int:
        return self.rows().get("raw_order_fills", 0)

    @property
    def quarantined(self) -> int:
        return self.rows().get("raw_quarantine", 0)

    def rows(self) -> dict[str, int]:
        """Rows per table (without decoding what is pending)."""
        out = {t: df.height for t, df in self._tables.items()}
        for table, parts in self.pending.items():
            out[table] = sum(part.height for _spec, part in parts)
        return out


def _event_lookup() -> pl.DataFrame:
    """(contract_address, topic0) -> event key, generation, neg_risk for every watched pair."""
    rows = []
    for c in CONTRACTS:
        for e in EVENTS:
            if e.contract_kind == c.kind and e.generation in (0, c.generation):
                rows.append({
                    "contract_address": c.address, "topic0": e.topic0, "event_key": e.key,
                    "generation": c.generation, "neg_risk": c.neg_risk,
                    "want_topics": 1 + len(e.indexed), "want_data_len": e.static_data_len,
                })
    return pl.DataFrame(rows, schema_overrides={"generation": pl.Int16, "want_topics": pl.UInt32, "want_data_len": pl.Int64})


_LOOKUP = _event_lookup()
# fastrows.classify's inputs and output: the (address, topic0) pairs, and the lookup's other
# columns by pair index, plus a row of nulls for "no pair"
_LOOKUP_KEYS = list(zip(_LOOKUP.get_column("contract_address").to_list(), _LOOKUP.get_column("topic0").to_list()))
_LOOKUP_OR_NULL = pl.concat([_LOOKUP, pl.DataFrame([None] * _LOOKUP.width, schema=_LOOKUP.schema, orient="row")]).drop(
    "contract_address", "topic0")
_CONTRACT_NAMES = {c.address: c.name for c in CONTRACTS}


def _hex_int(col: str) -> pl.Expr:
    return pl.col(col).str.strip_prefix("0x").str.to_integer(base=16, strict=False)


def parse_logs_body(body: bytes | bytearray | memoryview) -> pl.DataFrame | None:
    """An eth_getLogs JSON-RPC response body -> raw log frame (LOG_SCHEMA columns, node order).

    Parsed by polars, without a Python object per log. Hex comes out lowercase: a body holding
    any of A-F is translated to lowercase first (the keys of an eth_getLogs answer hold none of
    those letters, its values are hex strings and booleans). Returns None when the body is valid JSON
    but not a single successful answer (an `error` object, a missing or null `result`, a batch
    array): the caller then reads it the ordinary way to report the error. Raises
    polars.exceptions.ComputeError (or ValueError) on invalid or truncated JSON.

    The `result` array is read in pieces of about _PARSE_PIECE_BYTES cut between two log objects
    (at `},{`; log values are hex strings and booleans, so that text only occurs between logs):
    polars' JSON reader needs several times its input while it works, so pieces keep the peak
    small, and they are faster too. Every piece must parse as an array of objects and the
    envelope around the array must parse as a JSON-RPC reply, so a truncated or malformed body
    is still refused; a body laid out otherwise (pretty-printed) is read whole.
    """
    global _PARSER
    if _PARSER is None:
        with _PARSER_LOCK:
            if _PARSER is None:
                from orderflow_dagster.chain.fetch import lower_thread_priority

                _PARSER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse-json", initializer=lower_thread_priority)
    return _PARSER.submit(_parse_logs_body, body).result()


def _parse_logs_body(body: bytes | bytearray | memoryview) -> pl.DataFrame | None:
    body = bytes(body) if not isinstance(body, bytes) else body
    if any(c in body for c in _UPPER_HEX):  # nodes answer in lowercase; a few bytes.find to be sure
        body = body.translate(_LOWER_HEX)
    span = _result_array_span(body)
    if span is None:
        reply = pl.read_json(io.BytesIO(body), schema=_RESPONSE_SCHEMA)
        if reply.height != 1 or reply.get_column("result").null_count():
            return None
        return reply.select(pl.col("result").explode(empty_as_null=False, keep_nulls=False)).unnest("result")
    start, end = span  # body[start] == b"[", body[end] == b"]"
    scanned = fastrows.scan_logs(body, start, end)  # in place, compiled; None: polars reads it
    if scanned is not None:
        return scanned
    frames = []
    view = memoryview(body)
    a = start + 1
    while a < end:
        cut = body.find(b"},{", a + _PARSE_PIECE_BYTES, end) if a + _PARSE_PIECE_BYTES < end else -1
        stop = end if cut < 0 else cut + 1
        frames.append(pl.read_json(io.BytesIO(b"".join((b"[", view[a:stop], b"]"))), schema=LOG_SCHEMA))
        a = stop + 1
    if not frames:
        if body[start + 1:end].strip():
            raise ValueError("eth_getLogs result array holds only whitespace-separated garbage")
        return empty_logs_frame()
    return pl.concat(frames, rechunk=False)


_PARSE_PIECE_BYTES = 1 << 20
_UPPER_HEX = (b"A", b"B", b"C", b"D", b"E", b"F")
_LOWER_HEX = bytes.maketrans(b"ABCDEF", b"abcdef")


def _result_array_span(body: bytes) -> tuple[int, int] | None:
    """(index of `[`, index of `]`) of a reply's non-empty-envelope `result` array, when the body
    is `{... "result": [ ... ] ...}` with a valid JSON-RPC envelope around it; else None."""
    key = body.find(b'"result"')
    if key < 0:
        return None
    start = body.find(b"[", key)
    end = body.rfind(b"]")
    if start < 0 or end < start or body[key + 8:start].strip() != b":":
        return None
    try:
        envelope = orjson.loads(body[:start] + b"[]" + body[end + 1:])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(envelope, dict) or envelope.get("result") != [] or envelope.get("error"):
        return None
    return start, end


def empty_logs_frame() -> pl.DataFrame:
    return pl.DataFrame(schema=LOG_SCHEMA)


def logs_frame(logs: list[dict]) -> pl.DataFrame:
    """eth_getLogs result (list of dicts) -> one typed, normalised frame."""
    raw = pl.from_dicts(logs, schema=LOG_SCHEMA) if logs else empty_logs_frame()
    return normalise(raw)


def normalise(raw: pl.DataFrame, *, lowercase: bool = True) -> pl.DataFrame:
    """Raw log frame -> typed columns, hex lowercased (lowercase=False: it already is, as in
    parse_logs_body's frames). `topics` keeps the node's spelling: it is only read, lowercased,
    for quarantined logs; topic0..topic3 are the lowercased topics."""
    if "blockTimestamp" not in raw.columns:
        raw = raw.with_columns(pl.lit(None, dtype=pl.String).alias("blockTimestamp"))
    return raw.select(_normalise_exprs(lowercase))


@functools.cache
def _normalise_exprs(lowercase: bool) -> list[pl.Expr]:
    # Expressions are immutable: built once (building them costs more than running them on a small batch).
    topics = pl.col("topics")

    def lower(e: pl.Expr) -> pl.Expr:
        return e.str.to_lowercase() if lowercase else e

    return [
        _hex_int("blockNumber").alias("block_number"),
        lower(pl.col("blockHash")).alias("block_hash"),
        pl.from_epoch(_hex_int("blockTimestamp"), time_unit="s").dt.replace_time_zone("UTC").alias("block_timestamp"),
        lower(pl.col("transactionHash")).alias("tx_hash"),
        _hex_int("logIndex").cast(pl.Int32, strict=False).alias("log_index"),  # out of range: null, quarantined
        lower(pl.col("address")).alias("contract_address"),
        topics,
        lower(pl.col("data")).alias("data"),
        *[lower(topics.list.get(i, null_on_oob=True)).alias(f"topic{i}") for i in range(4)],
        topics.list.len().alias("n_topics"),
        # the log's fields as read, kept for the quarantine (raw_log); dropped before decoding
        pl.struct([pl.col(c) for c in LOG_SCHEMA]).alias("__raw"),
    ]


def decode_logs(logs: list[dict], chain_id: int) -> DecodedBatch:
    return decode_frame(logs_frame(logs), chain_id)


def decode_raw(raw: pl.DataFrame, chain_id: int, *, lowercase: bool = True) -> DecodedBatch:
    """Decode a raw log frame (LOG_SCHEMA columns). lowercase=False skips lowercasing the hex,
    for frames known to be lowercase already: parse_logs_body's (RpcClient.get_logs_frame)."""
    return decode_frame(normalise(raw, lowercase=lowercase), chain_id)


def decode_frame(frame: pl.DataFrame, chain_id: int) -> DecodedBatch:
    """Split a normalised log frame into raw-table frames and quarantine."""
    checks = fastrows.classify(frame, _LOOKUP_KEYS) if frame.height else None
    if checks is not None:  # the compiled pass: event lookup and hex checks without a copy
        looked_up = _LOOKUP_OR_NULL[checks.get_column("__event").fill_null(len(_LOOKUP)).to_numpy()]
        frame = pl.concat([frame.with_columns(pl.lit(chain_id, dtype=pl.Int32).alias("chain_id")), looked_up,
                           checks.drop("__event")], how="horizontal")
    else:
        frame = frame.with_columns(
            pl.lit(chain_id, dtype=pl.Int32).alias("chain_id"),
            _DATA_BYTES,  # the data as bytes (null when not hex): checks the hex once, uint256 words are read from it
        )
        frame = frame.join(_LOOKUP, on=["contract_address", "topic0"], how="left", maintain_order="left")
    compiled = checks is not None
    # The reason texts are built only when some log is bad: usually none is.
    any_bad = frame.height > 0 and frame.select(_ANY_BAD[compiled]).item()
    frame = frame.with_columns(_quarantine_reason(compiled).alias("reason") if any_bad
                               else pl.lit(None, dtype=pl.String).alias("reason"))

    batch = DecodedBatch(logs=frame.height)
    batch.blocks = (
        frame.select("block_number", "block_hash", "block_timestamp")
        .drop_nulls(["block_number", "block_hash"])  # a quarantined log's missing block tells nothing
        .unique(subset=["block_number", "block_hash"], keep="first")
        .sort("block_number")
    )
    frame = _check_dynamic(frame)
    bad = frame.filter(pl.col("reason").is_not_null())
    if bad.height:
        batch.tables["raw_quarantine"] = bad.select(
            *TABLE_COLUMNS["raw_quarantine"][:7],
            ("{" + pl.col("topics").list.join(",").str.to_lowercase() + "}").alias("topics"),
            pl.col("data").fill_null(""),
            "reason",
            pl.col("__raw").struct.json_encode().alias("raw_log"),
        )
        good = frame.filter(pl.col("reason").is_null())
    else:
        good = frame
    good = good.drop("__raw")
    present = set(good.get_column("event_key").unique().to_list()) if good.height else set()
    if len(present) > 1:
        parts = {k[0]: df for k, df in good.partition_by("event_key", as_dict=True, maintain_order=True).items()}
    else:
        parts = {k: good for k in present}
    tables = batch._tables
    for spec in EVENTS:
        part = parts.get(spec.key)
        if part is not None and part.height:
            if spec.table in _DEFERRED_TABLES and fastrows.supports(spec):
                batch.pending.setdefault(spec.table, []).append((spec, part.select(_pending_columns(spec))))
                continue
            decoded = _decode_event(part, spec)
            table = spec.table
            tables[table] = pl.concat([tables[table], decoded], how="diagonal_relaxed") if table in tables else decoded
    if "raw_conditions" in tables:
        # Outcome token ids of each prepared market, computed from the chain alone (CTF id math).
        tables["raw_condition_tokens"] = condition_tokens(tables["raw_conditions"])
    for table, df in list(tables.items()):
        tables[table] = _in_table_order(df, table)
    return batch


def _in_table_order(df: pl.DataFrame, table: str) -> pl.DataFrame:
    """A decoded frame with its table's columns in table order (NULL where the events have none)."""
    return df.select([pl.col(c) if c in df.columns else pl.lit(None).alias(c) for c in TABLE_COLUMNS[table]])


# The fill tables' rows are written from the hex when the compiled writer is there
# (warehouse/fastrows.py); their logs then stay undecoded until a caller reads the frames.
_DEFERRED_TABLES = frozenset({"raw_order_fills", "raw_orders_matched"}) if fastrows.available() else frozenset()


@functools.cache
def _pending_columns(spec: EventSpec) -> list[str]:
    """What a pending part keeps: what fastrows writes from, and what _decode_event reads
    (but the data's bytes, which it recomputes)."""
    return [*CHAIN_COLUMNS, "neg_risk", *(f"topic{i}" for i in range(1, 1 + len(spec.indexed))), "data"]


def _check_dynamic(frame: pl.DataFrame) -> pl.DataFrame:
    """Quarantine reason for dynamic-array events whose data does not ABI-decode."""
    dynamic_keys = _DYNAMIC_EVENTS
    mask = _DYNAMIC_MASK
    if frame.height == 0 or not frame.select(_ANY_DYNAMIC).item():
        return frame
    rows = frame.with_row_index("__row").filter(mask).select("__row", "event_key", "data")
    if rows.height == 0:
        return frame
    errors: dict[int, str] = {}
    for row, key, data in rows.iter_rows():
        spec = dynamic_keys[key]
        try:
            abi_decode([p.type for p in spec.data_params], bytes.fromhex(data[2:]), strict=True)
        except Exception as e:  # noqa: BLE001 - any decode failure is a quarantine reason
            errors[row] = f"{key} data does not ABI-decode: {type(e).__name__}: {e}"[:500]
    if not errors:
        return frame
    err = pl.DataFrame({"__row": list(errors), "__err": list(errors.values())}, schema={"__row": pl.UInt32, "__err": pl.String})
    return (
        frame.with_row_index("__row").join(err, on="__row", how="left")
        .with_columns(pl.coalesce("reason", "__err").alias("reason")).drop("__row", "__err")
    )


_DYNAMIC_EVENTS = {e.key: e for e in EVENTS if e.static_data_len is None}
_DYNAMIC_MASK = pl.col("reason").is_null() & pl.col("event_key").is_in(list(_DYNAMIC_EVENTS))
_ANY_DYNAMIC = _DYNAMIC_MASK.any()


def _bad_ids() -> pl.Expr:
    # Every raw table needs these (keys, and the block hash for reorg repair): a log without
    # them is quarantined, which keeps it whole (migrations/0008).
    return (pl.col("block_number").is_null() | pl.col("log_index").is_null() | pl.col("tx_hash").is_null()
            | pl.col("block_hash").is_null())


def _bad_topics(compiled: bool = False) -> pl.Expr:
    if compiled:
        return pl.col("__topics_bad")  # fastrows.classify's check: the same rule, in C
    # Indexed fields are sliced out of topic1..3: one that is not 32 bytes of hex would land garbage.
    # One regex over the three topics side by side (a missing one stands in as a valid word) costs
    # 20% less than one per topic; each is 66 characters long, so none can borrow from the next.
    topics = [pl.col(f"topic{i}") for i in (1, 2, 3)]
    wrong_length = pl.any_horizontal([t.is_not_null() & (t.str.len_bytes() != 66) for t in topics])
    return wrong_length | ~pl.concat_str([t.fill_null(_VALID_TOPIC) for t in topics]).str.contains(_TOPICS_RE)


_VALID_TOPIC = "0x" + "0" * 64
_TOPICS_RE = r"^(?:0x[0-9a-f]{64}){3}$"


def _bad_data(compiled: bool = False) -> pl.Expr:
    if compiled:
        return pl.col("__data_bad")  # fastrows.classify's check: the same rule, in C
    # 0x + whole bytes of hex (data is lowercase; "0x" alone is empty data): the regex
    # ^0x([0-9a-f]{2})*$, but a hex decode that yields null is cheaper.
    data = pl.col("data")
    return data.is_null() | ~data.str.starts_with("0x") | pl.col("__bytes").is_null()


def _bad_len() -> pl.Expr:
    return pl.col("want_data_len").is_not_null() & (pl.col("data").str.len_bytes() - 2 != pl.col("want_data_len") * 2)


def _is_bad(compiled: bool = False) -> pl.Expr:
    """True for a log that goes to quarantine: the union of _quarantine_reason's conditions.
    compiled: the hex checks come from fastrows.classify's columns."""
    return (
        _bad_ids() | (pl.col("n_topics") == 0) | pl.col("event_key").is_null()
        | (pl.col("n_topics") != pl.col("want_topics")) | _bad_topics(compiled) | _bad_data(compiled) | _bad_len()
    )


def _quarantine_reason(compiled: bool = False) -> pl.Expr:
    data_hex_len = pl.col("data").str.len_bytes() - 2
    return (
        pl.when(_bad_ids())
        .then(pl.lit("missing or non-hex blockNumber/logIndex/transactionHash/blockHash"))
        .when(pl.col("n_topics") == 0)
        .then(pl.lit("log has no topics"))
        .when(pl.col("event_key").is_null())
        .then(pl.lit("unknown topic0 ") + pl.col("topic0").fill_null("") + pl.lit(" at watched contract ")
              + pl.col("contract_address").replace_strict(_CONTRACT_NAMES, default=pl.col("contract_address"))
              .fill_null("(no address)"))  # a null in the concatenation would null the reason: the log would vanish
        .when(pl.col("n_topics") != pl.col("want_topics"))
        .then(pl.format("{} has {} topics, expected {}", pl.col("event_key"), pl.col("n_topics"), pl.col("want_topics")))
        .when(_bad_topics(compiled))
        .then(pl.lit("a topic is not 0x-prefixed 32-byte hex"))
        .when(_bad_data(compiled))
        .then(pl.lit("data is not 0x-prefixed whole-byte hex"))
        .when(_bad_len())
        .then(pl.format("{} data is {} bytes, expected {}", pl.col("event_key"), data_hex_len // 2, pl.col("want_data_len")))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


_DATA_BYTES = pl.col("data").str.slice(2).str.decode("hex", strict=False).alias("__bytes")
_ANY_BAD = {compiled: _is_bad(compiled).any() for compiled in (False, True)}


def _word(i: int) -> pl.Expr:
    """The i-th 32-byte data word as 64 hex chars."""
    return pl.col("data").str.slice(2 + 64 * i, 64)


def _field_expr(param_type: str, src: pl.Expr) -> tuple[pl.Expr, bool]:
    """Expression for one field from a 64-hex-char word; second item: needs uint256 conversion."""
    if param_type == "address":
        return "0x" + src.str.slice(-40, 40), False
    if param_type == "bytes32":
        return src, False
    if param_type == "bool":
        return src.str.slice(-2, 2) != "00", False
    if param_type == "uint8":
        return src.str.slice(-2, 2).str.to_integer(base=16).cast(pl.Int16), False
    if param_type == "uint256":
        return src, True
    raise ValueError(f"no vectorised decoder for {param_type}")


def _data_u64(i: int) -> pl.Expr:
    """The i-th data word as UInt64 when it fits in 64 bits (its 24 high bytes are zero), else null."""
    data = pl.col("__bytes")
    return (
        pl.when(data.bin.slice(32 * i, 24) == _ZERO_24)
        .then(data.bin.slice(32 * i + 24, 8).bin.reinterpret(dtype=pl.UInt64, endianness="big"))
        .otherwise(None)
    )


_ZERO_24 = bytes(24)


def _decode_event(part: pl.DataFrame, spec: EventSpec) -> pl.DataFrame:
    exprs, uints, dynamic = _event_exprs(spec)
    if "__bytes" not in part.columns:  # the compiled checks (fastrows.classify) do not hex-decode the data
        part = part.with_columns(_DATA_BYTES)
    out = part.select(exprs)
    out = _resolve_big_words(out, uints)
    if dynamic:
        out = _decode_dynamic(out, spec)
    return out


@functools.cache
def _event_exprs(spec: EventSpec) -> tuple[list[pl.Expr], list[str], bool]:
    """(select expressions, uint256 columns, dynamic?) of an event layout, built once."""
    exprs: list[pl.Expr] = []
    small: dict[str, pl.Expr] = {}  # uint256 column -> its decimal text when below 2^64, else null
    for i, p in enumerate(spec.indexed, start=1):
        # Topics are 0x + 64 hex chars; bytes32 keeps the 0x, other types read the bare word.
        topic = pl.col(f"topic{i}")
        src = topic if p.type == "bytes32" else topic.str.slice(2, 64)
        expr, is_uint = _field_expr(p.type, src)
        exprs.append(expr.alias(column_name(p.name)))
        if is_uint:
            small[column_name(p.name)] = _small_decimal(src)
    dynamic = spec.static_data_len is None
    if not dynamic:
        for i, p in enumerate(spec.data_params):
            expr, is_uint = _field_expr(p.type, _word(i))
            if p.type == "bytes32":
                expr = "0x" + _word(i)
            exprs.append(expr.alias(column_name(p.name)))
            if is_uint:
                small[column_name(p.name)] = _data_u64(i).cast(pl.String)
    keep = [*CHAIN_COLUMNS] + (["neg_risk"] if spec.table in ("raw_order_fills", "raw_orders_matched", "raw_token_registrations") else [])
    select = [pl.col(c) for c in keep] + exprs + [e.alias(f"__dec_{c}") for c, e in small.items()]
    return select + ([pl.col("data")] if dynamic else []), list(small), dynamic


# 64-hex-char word -> decimal string, for words >= 2^64 (token ids): the same few thousand token
# ids recur batch after batch, so each is converted once per process. Cleared when full.
_BIG_DECIMALS: dict[str, str] = {}
_BIG_DECIMALS_MAX = 500_000


def _big_decimals(words: list[str]) -> list[str]:
    cache = _BIG_DECIMALS
    if len(cache) + len(words) > _BIG_DECIMALS_MAX:
        cache.clear()
    out = list(map(cache.get, words))  # a batch's words are nearly all known: one C-level pass
    if None in out:
        for i, d in enumerate(out):
            if d is None:
                out[i] = cache[words[i]] = str(int(words[i], 16))
    return out


def _small_decimal(word: pl.Expr) -> pl.Expr:
    """Decimal text of a hex word below 2^64 (a word that does not fit in 64 bits parses to null)."""
    return word.str.to_integer(base=16, dtype=pl.UInt64, strict=False).cast(pl.String)


def uint256_to_decimal(df: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Replace 64-hex-char word columns by exact decimal strings.

    Values below 2^64 convert in polars; larger ones once per distinct value in Python (and
    once per process, see _BIG_DECIMALS), then mapped back in polars.
    """
    if not columns or df.height == 0:
        return df
    return _resolve_big_words(df.with_columns(_small_decimal(pl.col(c)).alias(f"__dec_{c}") for c in columns), columns)


@functools.cache
def _big_word_exprs(columns: tuple[str, ...]) -> tuple[list[pl.Expr], pl.Expr]:
    """Per column, how many words are 2^64 or more; and all those words, distinct, as one list."""
    is_big = {c: pl.col(f"__dec_{c}").is_null() & pl.col(c).is_not_null() for c in columns}
    counts = [m.sum().alias(f"__n_{c}") for c, m in is_big.items()]
    words = pl.concat([pl.col(c).filter(m) for c, m in is_big.items()]).unique().implode().alias("__big_words")
    return counts, words


def _resolve_big_words(df: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Columns c (hex words) with __dec_c (decimal when below 2^64, else null) -> c as decimal text.

    The words of 2^64 and more, of all the columns together, are converted once per distinct
    value (in Python, cached across batches) and mapped back in polars.
    """
    if not columns:
        return df
    counts_expr, words_expr = _big_word_exprs(tuple(columns))
    *counts, words = df.select(*counts_expr, words_expr).row(0)
    big = [c for c, n in zip(columns, counts) if n]
    exprs = [pl.col(f"__dec_{c}").alias(c) for c in columns if c not in big]
    if big:
        old = pl.Series(words, dtype=pl.String)
        new = pl.Series(_big_decimals(words), dtype=pl.String)
        exprs += [pl.coalesce(f"__dec_{c}", pl.col(c).replace_strict(old, new, default=None, return_dtype=pl.String)).alias(c)
                  for c in big]
    return df.with_columns(exprs).drop([f"__dec_{c}" for c in columns])


def _pg_array(values) -> str:
    return "{" + ",".join(str(v) for v in values) + "}"


def _decode_dynamic(df: pl.DataFrame, spec: EventSpec) -> pl.DataFrame:
    """eth_abi decode for events with dynamic arrays (rare: resolutions, redemptions)."""
    types = [p.type for p in spec.data_params]
    names = [column_name(p.name) for p in spec.data_params]
    decoded: dict[str, list] = {n: [] for n in names}
    for data in df.get_column("data").to_list():
        values = abi_decode(types, bytes.fromhex(data[2:]))
        for n, t, v in zip(names, types, values):
            if t.endswith("[]"):
                decoded[n].append(_pg_array(v))
            elif t == "bytes32":
                decoded[n].append("0x" + v.hex())
            else:
                decoded[n].append(str(v))
    return df.drop("data").with_columns([pl.Series(n, decoded[n], dtype=pl.String) for n in names])
