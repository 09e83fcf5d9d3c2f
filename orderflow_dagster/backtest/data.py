"""The dbt models the backtest reads, as polars frames: the same query on real and simulated data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from orderflow_dagster.warehouse.db import connect

# Token ids are uint256: text, never int64. Amounts as float8: the backtest's arithmetic is float.
TRADES_SQL = """
SELECT chain_id, block_number, log_index, "timestamp", lower(wallet_address) AS wallet_address, condition_id,
       token_id::text AS token_id, outcome_index, upper(side) AS side, price::float8 AS price,
       shares::float8 AS shares, usdc_amount::float8 AS usdc_amount, fee::float8 AS fee, fee_unit,
       is_taker
  FROM orderflow_trades
 WHERE %(until)s::timestamptz IS NULL OR "timestamp" < %(until)s::timestamptz
 ORDER BY chain_id, block_number, log_index
"""
MARKETS_SQL = """
SELECT condition_id, title, outcome_0_token_id::text AS outcome_0_token_id,
       outcome_1_token_id::text AS outcome_1_token_id, resolved_at,
       payout_fractions::float8[] AS payout_fractions
  FROM orderflow_market_outcomes
"""
TRADE_SCHEMA = {"chain_id": pl.Int64, "block_number": pl.Int64, "log_index": pl.Int64,
                "timestamp": pl.Datetime("us", "UTC"), "wallet_address": pl.String, "condition_id": pl.String,
                "token_id": pl.String, "outcome_index": pl.Int64, "side": pl.String, "price": pl.Float64,
                "shares": pl.Float64, "usdc_amount": pl.Float64, "fee": pl.Float64, "fee_unit": pl.String,
                "is_taker": pl.Boolean}
MARKET_SCHEMA = {"condition_id": pl.String, "title": pl.String, "outcome_0_token_id": pl.String,
                 "outcome_1_token_id": pl.String, "resolved_at": pl.Datetime("us", "UTC"),
                 "payout_fractions": pl.List(pl.Float64)}


@dataclass(frozen=True)
class Frames:
    trades: pl.DataFrame  # orderflow_trades, one row per wallet per fill, in chain order
    markets: pl.DataFrame  # orderflow_market_outcomes: tokens, resolution time, payout per share


def _frame(conn, sql: str, params: dict, schema: dict) -> pl.DataFrame:
    with conn.cursor() as cur:
        rows = cur.execute(sql, params).fetchall()
    return pl.DataFrame(rows, schema=schema, orient="row")


def load_frames(database_url: str, until: datetime | None = None) -> Frames:
    """Trades before `until` (all when None) and every market, from the dbt marts."""
    with connect(database_url) as conn:
        return Frames(_frame(conn, TRADES_SQL, {"until": until}, TRADE_SCHEMA),
                      _frame(conn, MARKETS_SQL, {}, MARKET_SCHEMA))
