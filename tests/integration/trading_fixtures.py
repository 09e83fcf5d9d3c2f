"""Trading test world: STAND-INS for the dbt models, markets on the CLOB stand-in, trade helpers.

!! orderflow_trades, int_trades_since_refresh, orderflow_wallet_stats and orderflow_market_outcomes are built by dbt
(issue 4). Until those models exist in a test database, `StandInWorld` creates minimal tables
with the column names trading reads (listed in orderflow_dagster/trading/sources.py) so the
trading tests run on real Postgres without dbt. Nothing here is used outside tests.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

import psycopg
from eth_account import Account
from eth_utils import keccak

from orderflow_dagster.trading.config import TradingSettings, load_trading_settings

STAND_IN_DBT_MODELS = """
CREATE TABLE orderflow_trades (
    tx_hash text NOT NULL, log_index integer NOT NULL, block_number bigint NOT NULL, "timestamp" timestamptz NOT NULL,
    wallet_address text NOT NULL, counterparty text, condition_id text NOT NULL, token_id numeric(78,0) NOT NULL,
    outcome_index smallint, outcome_name text, side text NOT NULL, price numeric(12,6) NOT NULL,
    shares numeric(20,6) NOT NULL, usdc_amount numeric(20,6) NOT NULL, neg_risk boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tx_hash, log_index)
);
CREATE VIEW int_trades_since_refresh AS SELECT * FROM orderflow_trades WHERE false;
CREATE TABLE orderflow_wallet_stats (
    wallet_address text PRIMARY KEY, reputation_score numeric(6,3), trader_tier text NOT NULL, win_rate numeric,
    total_trades integer, total_pnl_usd numeric, last_trade_at timestamptz, resolved_markets integer,
    avg_trade_size_usd numeric, is_market_maker boolean NOT NULL DEFAULT false
);
CREATE TABLE orderflow_market_outcomes (
    condition_id text PRIMARY KEY, title text, question text, outcome_0_name text, outcome_1_name text,
    outcome_0_token_id numeric(78,0), outcome_1_token_id numeric(78,0), uma_resolution_status text,
    is_resolved boolean NOT NULL DEFAULT false, payout_numerators numeric(78,0)[], resolved_at timestamptz
);
"""

_counter = itertools.count(1)


def address(label: str) -> str:
    return "0x" + keccak(text=label)[-20:].hex()


def condition(label: str) -> str:
    return "0x" + keccak(text=f"condition {label}").hex()


@dataclass(frozen=True)
class MarketIds:
    condition_id: str
    title: str
    tokens: tuple[int, int]  # outcome 0 (Yes), outcome 1 (No)


class StandInWorld:
    """Wallets, markets and trades written straight into the stand-in dbt tables."""

    def __init__(self, db_url: str):
        self.db_url = db_url
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(STAND_IN_DBT_MODELS)

    def _exec(self, q: str, params=()) -> None:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            conn.execute(q, params)

    def wallet(self, label: str, score: float | None, tier: str, resolved: int = 60, avg_usd: float = 500.0,
               market_maker: bool = False) -> str:
        addr = address(label)
        self._exec("""INSERT INTO orderflow_wallet_stats (wallet_address, reputation_score, trader_tier, win_rate,
                      total_trades, total_pnl_usd, resolved_markets, avg_trade_size_usd, is_market_maker)
                      VALUES (%s, %s, %s, 0.6, 100, 1000, %s, %s, %s)""",
                   (addr, score, tier, resolved, avg_usd, market_maker))
        return addr

    def market(self, label: str, clob=None, yes_asks=((0.50, 400), (0.52, 2000)), yes_bids=((0.48, 2000),),
               no_asks=((0.50, 400), (0.52, 2000)), no_bids=((0.48, 2000),), neg_risk: bool = False,
               outcomes: tuple[str, str] | None = ("Yes", "No")) -> MarketIds:
        cid = condition(label)
        base = int.from_bytes(keccak(text=f"tokens {label}"), "big") >> 8
        tokens = (base, base + 1)
        title = f"Will {label} happen?"
        self._exec("""INSERT INTO orderflow_market_outcomes (condition_id, title, question, outcome_0_name, outcome_1_name,
                      outcome_0_token_id, outcome_1_token_id) VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                   (cid, title, title, *outcomes, *(Decimal(t) for t in tokens)) if outcomes else
                   (cid, title, title, None, None, None, None))
        for i, t in enumerate(tokens):  # the raw fallback trading uses when the model has no token ids
            self._exec("""INSERT INTO raw_condition_tokens (chain_id, block_number, block_hash, tx_hash, log_index,
                          contract_address, generation, condition_id, outcome_index, token_id, collateral, neg_risk)
                          VALUES (137, 1, '0x', %s, 0, '0x', 0, %s, %s, %s, '0x', %s)""",
                       ("0x" + keccak(text=f"prep {label}").hex(), cid, i, Decimal(t), neg_risk))
        if clob is not None:
            clob.add_market(cid, tokens[0], bids=yes_bids, asks=yes_asks, neg_risk=neg_risk)
            clob.add_market(cid, tokens[1], bids=no_bids, asks=no_asks, neg_risk=neg_risk)
        return MarketIds(cid, title, tokens)

    def trade(self, wallet: str, market: MarketIds, outcome_index: int = 0, side: str = "BUY", price: float = 0.50,
              usdc: float = 1000.0, at: datetime | None = None) -> tuple[str, int]:
        n = next(_counter)
        tx = "0x" + keccak(text=f"tx {n} {os.getpid()}").hex()
        self._exec("""INSERT INTO orderflow_trades (tx_hash, log_index, block_number, "timestamp", wallet_address,
                      condition_id, token_id, outcome_index, outcome_name, side, price, shares, usdc_amount)
                      VALUES (%s, 3, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                   (tx, n, at or datetime.now(timezone.utc), wallet, market.condition_id,
                    Decimal(market.tokens[outcome_index]), outcome_index, ("Yes", "No")[outcome_index], side,
                    price, round(usdc / price, 6), usdc))
        return tx, 3

    def resolve(self, market: MarketIds, payout: tuple[int, int]) -> None:
        self._exec("""UPDATE orderflow_market_outcomes SET is_resolved = true, payout_numerators = %s, resolved_at = now()
                      WHERE condition_id = %s""", (list(payout), market.condition_id))


def paper_settings(clob_url: str, **overrides) -> TradingSettings:
    values = dict(clob_api_url=clob_url, paper_fee_rate=0.02)
    values.update(overrides)
    return load_trading_settings(**values)


def live_settings(clob_url: str, key: str, **overrides) -> TradingSettings:
    values = dict(clob_api_url=clob_url, enable_paper_trading=False, enable_live_trading=True,
                  polymarket_private_key=key, max_position_usd=500, max_daily_loss=200)
    values.update(overrides)
    return load_trading_settings(**values)


def new_key() -> str:
    return "0x" + Account.create().key.hex().removeprefix("0x")
