"""Vectorised decoding of Polymarket logs into raw-table frames (polars, no per-log ABI call).

Every static event field is a 32-byte word at a fixed offset of the hex `data` string, so a
field is one string slice over the whole batch. uint256 words become exact decimal strings
(landed as numeric(78,0)): values below 2^64 take a vectorised path; larger ones (token ids,
extreme amounts) are converted once per distinct value. The two events with dynamic arrays
(ConditionResolution, PayoutRedemption) are rare and decoded with eth_abi row by row.

Logs that cannot be decoded (unknown topic0 for the contract, wrong topic count, wrong or
non-hex data) go to the quarantine frame with a reason; the rest of the batch goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
from eth_abi import decode as abi_decode

from orderflow_dagster.chain.contracts import CONTRACTS, EVENTS, EventSpec

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
    "raw_resolutions": CHAIN_COLUMNS + ["condition_id", "oracle", "question_id", "outcome_slot_count", "payout_numerators"],
    "raw_redemptions": CHAIN_COLUMNS + [
        "redeemer", "collateral_token", "parent_collection_id", "condition_id", "index_sets", "payout",
    ],
    "raw_outcome_reports": CHAIN_COLUMNS + ["market_id", "question_id", "outcome"],
    "raw_quarantine": [
        "chain_id", "block_number", "block_hash", "block_timestamp", "tx_hash", "log_index", "contract_address",
        "topics", "data", "reason",
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
_ZERO_HI = "0" * 48

LOG_SCHEMA = {
    "address": pl.String, "topics": pl.List(pl.String), "data": pl.String, "blockNumber": pl.String,
    "blockHash": pl.String, "blockTimestamp": pl.String, "transactionHash": pl.String, "logIndex": pl.String,
}


def column_name(param: str) -> str:
    return _COLUMN_NAMES.get(param, param)


@dataclass
class DecodedBatch:
    """Frames ready to land, keyed by raw table, plus the block hashes seen."""

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    blocks: pl.DataFrame | None = None  # block_number, block_hash, block_timestamp (one row per block)
    logs: int = 0

    @property
    def fills(self) -> int:
        f = self.tables.get("raw_order_fills")
        return 0 if f is None else f.height

    @property
    def quarantined(self) -> int:
        q = self.tables.get("raw_quarantine")
        return 0 if q is None else q.height

    def rows(self) -> dict[str, int]:
        return {t: df.height for t, df in self.tables.items()}


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
_CONTRACT_NAMES = {c.address: c.name for c in CONTRACTS}


def _hex_int(col: str) -> pl.Expr:
    return pl.col(col).str.strip_prefix("0x").str.to_integer(base=16, strict=False)


def logs_frame(logs: list[dict]) -> pl.DataFrame:
    """eth_getLogs result (list of dicts) -> one typed, normalised frame."""
    raw = pl.from_dicts(logs, schema=LOG_SCHEMA) if logs else pl.DataFrame(schema=LOG_SCHEMA)
    return normalise(raw)


def normalise(raw: pl.DataFrame) -> pl.DataFrame:
    if "blockTimestamp" not in raw.columns:
        raw = raw.with_columns(pl.lit(None, dtype=pl.String).alias("blockTimestamp"))
    topics = pl.col("topics")
    return raw.select(
        _hex_int("blockNumber").alias("block_number"),
        pl.col("blockHash").str.to_lowercase().alias("block_hash"),
        pl.from_epoch(_hex_int("blockTimestamp"), time_unit="s").dt.replace_time_zone("UTC").alias("block_timestamp"),
        pl.col("transactionHash").str.to_lowercase().alias("tx_hash"),
        _hex_int("logIndex").cast(pl.Int32).alias("log_index"),
        pl.col("address").str.to_lowercase().alias("contract_address"),
        topics.list.eval(pl.element().str.to_lowercase()).alias("topics"),
        pl.col("data").str.to_lowercase().alias("data"),
    ).with_columns(
        *[topics.list.get(i, null_on_oob=True).alias(f"topic{i}") for i in range(4)],
        topics.list.len().alias("n_topics"),
    )


def decode_logs(logs: list[dict], chain_id: int) -> DecodedBatch:
    return decode_frame(logs_frame(logs), chain_id)


def decode_frame(frame: pl.DataFrame, chain_id: int) -> DecodedBatch:
    """Split a normalised log frame into raw-table frames and quarantine."""
    frame = frame.with_columns(pl.lit(chain_id, dtype=pl.Int32).alias("chain_id"))
    frame = frame.join(_LOOKUP, on=["contract_address", "topic0"], how="left")
    frame = frame.with_columns(_quarantine_reason().alias("reason"))

    batch = DecodedBatch(logs=frame.height)
    batch.blocks = (
        frame.select("block_number", "block_hash", "block_timestamp")
        .unique(subset=["block_number", "block_hash"], keep="first")
        .sort("block_number")
    )
    frame = _check_dynamic(frame)
    bad = frame.filter(pl.col("reason").is_not_null())
    if bad.height:
        batch.tables["raw_quarantine"] = bad.select(
            *TABLE_COLUMNS["raw_quarantine"][:7],
            ("{" + pl.col("topics").list.join(",") + "}").alias("topics"),
            pl.col("data").fill_null(""),
            "reason",
        )
    good = frame.filter(pl.col("reason").is_null())
    for spec in EVENTS:
        part = good.filter(pl.col("event_key") == spec.key)
        if part.height:
            decoded = _decode_event(part, spec)
            table = spec.table
            batch.tables[table] = (
                pl.concat([batch.tables[table], decoded], how="diagonal_relaxed") if table in batch.tables else decoded
            )
    for table, df in list(batch.tables.items()):
        cols = TABLE_COLUMNS[table]
        batch.tables[table] = df.select([pl.col(c) if c in df.columns else pl.lit(None).alias(c) for c in cols])
    return batch


def _check_dynamic(frame: pl.DataFrame) -> pl.DataFrame:
    """Quarantine reason for dynamic-array events whose data does not ABI-decode."""
    dynamic_keys = {e.key: e for e in EVENTS if e.static_data_len is None}
    mask = pl.col("reason").is_null() & pl.col("event_key").is_in(list(dynamic_keys))
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


def _quarantine_reason() -> pl.Expr:
    data_hex_len = pl.col("data").str.len_bytes() - 2
    return (
        pl.when(pl.col("block_number").is_null() | pl.col("log_index").is_null() | pl.col("tx_hash").is_null())
        .then(pl.lit("missing or non-hex blockNumber/logIndex/transactionHash"))
        .when(pl.col("n_topics") == 0)
        .then(pl.lit("log has no topics"))
        .when(pl.col("event_key").is_null())
        .then(pl.lit("unknown topic0 ") + pl.col("topic0").fill_null("") + pl.lit(" at watched contract ")
              + pl.col("contract_address").replace_strict(_CONTRACT_NAMES, default=pl.col("contract_address")))
        .when(pl.col("n_topics") != pl.col("want_topics"))
        .then(pl.format("{} has {} topics, expected {}", pl.col("event_key"), pl.col("n_topics"), pl.col("want_topics")))
        .when(pl.col("data").is_null() | ~pl.col("data").str.contains(r"^0x([0-9a-f]{2})*$"))
        .then(pl.lit("data is not 0x-prefixed whole-byte hex"))
        .when(pl.col("want_data_len").is_not_null() & (data_hex_len != pl.col("want_data_len") * 2))
        .then(pl.format("{} data is {} bytes, expected {}", pl.col("event_key"), data_hex_len // 2, pl.col("want_data_len")))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


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


def _decode_event(part: pl.DataFrame, spec: EventSpec) -> pl.DataFrame:
    exprs: list[pl.Expr] = []
    uints: list[str] = []
    for i, p in enumerate(spec.indexed, start=1):
        # Topics are 0x + 64 hex chars; bytes32 keeps the 0x, other types read the bare word.
        topic = pl.col(f"topic{i}")
        src = topic if p.type == "bytes32" else topic.str.slice(2, 64)
        expr, is_uint = _field_expr(p.type, src)
        exprs.append(expr.alias(column_name(p.name)))
        if is_uint:
            uints.append(column_name(p.name))
    dynamic = spec.static_data_len is None
    if not dynamic:
        for i, p in enumerate(spec.data_params):
            expr, is_uint = _field_expr(p.type, _word(i))
            if p.type == "bytes32":
                expr = "0x" + _word(i)
            exprs.append(expr.alias(column_name(p.name)))
            if is_uint:
                uints.append(column_name(p.name))
    keep = [*CHAIN_COLUMNS] + (["neg_risk"] if spec.table in ("raw_order_fills", "raw_orders_matched", "raw_token_registrations") else [])
    out = part.select(*keep, *exprs, *(["data"] if dynamic else []))
    out = uint256_to_decimal(out, uints)
    if dynamic:
        out = _decode_dynamic(out, spec)
    return out


def uint256_to_decimal(df: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Replace 64-hex-char word columns by exact decimal strings.

    Values below 2^64 convert in polars; larger ones once per distinct value in Python.
    """
    if not columns or df.height == 0:
        return df
    small = [
        pl.when(pl.col(c).str.starts_with(_ZERO_HI))
        .then(pl.col(c).str.slice(48, 16).str.to_integer(base=16, dtype=pl.UInt64).cast(pl.String))
        .otherwise(None)
        .alias(f"__dec_{c}")
        for c in columns
    ]
    df = df.with_columns(small)
    for c in columns:
        big_words = df.filter(pl.col(f"__dec_{c}").is_null() & pl.col(c).is_not_null()).get_column(c).unique()
        if big_words.len():
            mapping = {w: str(int(w, 16)) for w in big_words.to_list()}
            df = df.with_columns(
                pl.coalesce(pl.col(f"__dec_{c}"), pl.col(c).replace_strict(mapping, default=None, return_dtype=pl.String))
                .alias(f"__dec_{c}")
            )
        df = df.with_columns(pl.col(f"__dec_{c}").alias(c)).drop(f"__dec_{c}")
    return df


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
