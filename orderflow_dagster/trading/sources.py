"""What trading reads from the dbt models: the ONLY module that names their columns.

Assumed columns (issue 4's public interface; tests/integration/trading_fixtures.py creates
stand-ins with exactly these names until the dbt models exist):

  orderflow_trades            tx_hash, log_index, block_number, "timestamp", wallet_address,
                              condition_id, token_id, outcome_index, outcome_name, side
                              ('BUY'/'SELL'), price, shares, usdc_amount, neg_risk
  int_trades_since_refresh    the same columns, for fills landed since orderflow_trades' last refresh
  orderflow_wallet_stats      wallet_address, reputation_score, trader_tier, resolved_markets,
                              avg_trade_size_usd, is_market_maker
  orderflow_market_outcomes   condition_id, title, question, is_resolved, payout_numerators, resolved_at,
                              outcome_0_name, outcome_1_name, outcome_0_token_id, outcome_1_token_id,
                              uma_resolution_status

and from the raw tables of migrations/ (stable): raw_condition_tokens (the other outcome's token
when the model has none) and raw_market_metadata (Gamma's closed flag, the fallbacks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row

from orderflow_dagster.trading.config import TradingSettings


@dataclass(frozen=True)
class TriggerTrade:
    tx_hash: str
    log_index: int
    block_number: int
    timestamp: datetime
    wallet: str
    condition_id: str
    token_id: int
    outcome_index: int | None
    outcome_name: str | None
    side: str
    price: float
    shares: float
    usdc_amount: float
    neg_risk: bool


@dataclass(frozen=True)
class WalletView:
    score: float | None
    tier: str | None
    resolved_markets: int | None
    avg_trade_usdc: float | None
    is_market_maker: bool


@dataclass(frozen=True)
class MarketView:
    title: str
    resolved: bool
    closed: bool
    disputed: bool
    outcome_names: tuple[str, ...] | None
    other_token_id: int | None  # the binary complement of the traded token


@dataclass(frozen=True)
class Candidate:
    trade: TriggerTrade
    wallet: WalletView
    market: MarketView


_TRADE_COLUMNS = ('tx_hash, log_index, block_number, "timestamp", wallet_address, condition_id, token_id, '
                  "outcome_index, outcome_name, side, price, shares, usdc_amount, neg_risk")

_CANDIDATES_SQL = """
SELECT t.tx_hash, t.log_index, t.block_number, t."timestamp", lower(t.wallet_address) AS wallet,
       t.condition_id, t.token_id, t.outcome_index, t.outcome_name, upper(t.side) AS side,
       t.price, t.shares, t.usdc_amount, coalesce(t.neg_risk, false) AS neg_risk,
       w.reputation_score, w.trader_tier, w.resolved_markets, w.avg_trade_size_usd,
       coalesce(w.is_market_maker, false) AS is_market_maker,
       coalesce(m.title, m.question, md.question, t.condition_id) AS title,
       coalesce(m.is_resolved, false) AS resolved,
       coalesce(md.closed, false) AS closed,
       coalesce(coalesce(m.uma_resolution_status, md.uma_resolution_status) ILIKE '%%disput%%', false) AS disputed,
       CASE WHEN m.outcome_0_name IS NOT NULL AND m.outcome_1_name IS NOT NULL
            THEN ARRAY[m.outcome_0_name, m.outcome_1_name] ELSE md.outcomes END AS outcome_names,
       coalesce(CASE t.outcome_index WHEN 0 THEN m.outcome_1_token_id WHEN 1 THEN m.outcome_0_token_id END,
                (SELECT ct.token_id FROM raw_condition_tokens ct
                  WHERE ct.condition_id = t.condition_id AND ct.outcome_index = 1 - t.outcome_index
                  LIMIT 1)) AS other_token_id
FROM (SELECT {cols} FROM orderflow_trades
      UNION ALL  -- fills landed since the last dbt refresh: tradable at once (the fast path)
      SELECT {cols} FROM int_trades_since_refresh) t
JOIN orderflow_wallet_stats w ON lower(w.wallet_address) = lower(t.wallet_address)
LEFT JOIN orderflow_market_outcomes m ON m.condition_id = t.condition_id
LEFT JOIN raw_market_metadata md ON md.condition_id = t.condition_id
WHERE t."timestamp" > now() - make_interval(secs => %(lookback)s)
  AND t.condition_id IS NOT NULL  -- a new market's token is mapped by the next refresh
  AND w.reputation_score IS NOT NULL
  AND (
        (upper(t.side) = 'BUY' AND (
            (%(follow)s AND w.reputation_score >= %(min_whale)s)
         OR (%(fade)s AND w.reputation_score <= %(max_fade)s)))
     OR (upper(t.side) = 'SELL' AND EXISTS (
            SELECT 1 FROM orderflow_positions p JOIN orderflow_signals s ON s.id = p.signal_id
             WHERE p.status = 'OPEN' AND s.signal_type = 'WHALE_FOLLOW'
               AND s.trigger_wallet = lower(t.wallet_address) AND p.token_id = t.token_id))
  )
  AND NOT EXISTS (
        SELECT 1 FROM orderflow_signals s
         WHERE s.trigger_tx_hash = t.tx_hash AND s.trigger_log_index = t.log_index
           AND s.trigger_wallet = lower(t.wallet_address))
ORDER BY t."timestamp", t.block_number, t.log_index
LIMIT %(limit)s
""".replace("{cols}", _TRADE_COLUMNS)


def _f(x) -> float | None:
    return None if x is None else float(x)


def _candidate(r: dict) -> Candidate:
    trade = TriggerTrade(
        tx_hash=r["tx_hash"], log_index=int(r["log_index"]), block_number=int(r["block_number"]),
        timestamp=r["timestamp"], wallet=r["wallet"], condition_id=r["condition_id"], token_id=int(r["token_id"]),
        outcome_index=None if r["outcome_index"] is None else int(r["outcome_index"]),
        outcome_name=r["outcome_name"], side=r["side"], price=float(r["price"]), shares=float(r["shares"]),
        usdc_amount=float(r["usdc_amount"]), neg_risk=bool(r["neg_risk"]),
    )
    wallet = WalletView(
        score=_f(r["reputation_score"]), tier=r["trader_tier"],
        resolved_markets=None if r["resolved_markets"] is None else int(r["resolved_markets"]),
        avg_trade_usdc=_f(r["avg_trade_size_usd"]), is_market_maker=bool(r["is_market_maker"]),
    )
    market = MarketView(
        title=r["title"], resolved=bool(r["resolved"]), closed=bool(r["closed"]), disputed=bool(r["disputed"]),
        outcome_names=tuple(r["outcome_names"]) if r["outcome_names"] else None,
        other_token_id=None if r["other_token_id"] is None else int(r["other_token_id"]),
    )
    return Candidate(trade, wallet, market)


def fresh_candidates(conn: psycopg.Connection, cfg: TradingSettings) -> list[Candidate]:
    """Trades in the lookback window that may make a signal and have none yet, oldest first.

    Only BUYs by wallets a rule could act on, and SELLs by wallets we copied into a position
    still open, are returned; everything else is not a signal at all (and not recorded).
    """
    params = dict(lookback=cfg.signal_lookback_seconds, follow=cfg.enable_whale_following,
                  fade=cfg.enable_degen_fading, min_whale=cfg.min_whale_score, max_fade=cfg.max_fade_score,
                  limit=cfg.trading_batch_limit)
    with conn.cursor(row_factory=dict_row) as cur:
        return [_candidate(r) for r in cur.execute(_CANDIDATES_SQL, params).fetchall()]


def last_trade_prices(conn: psycopg.Connection, token_ids: list[int]) -> dict[int, Decimal]:
    """Last traded price per token (the mark for open positions, as the dbt P&L model marks)."""
    if not token_ids:
        return {}
    rows = conn.execute(
        """SELECT DISTINCT ON (token_id) token_id, price FROM orderflow_trades
            WHERE token_id = ANY(%s::numeric[])
            ORDER BY token_id, "timestamp" DESC, block_number DESC, log_index DESC""",
        ([Decimal(t) for t in token_ids],),
    ).fetchall()
    return {int(t): Decimal(p) for t, p in rows}


@dataclass(frozen=True)
class Resolution:
    condition_id: str
    payout_numerators: tuple[Decimal, ...]
    resolved_at: datetime | None

    def payout_per_share(self, outcome_index: int) -> Decimal:
        total = sum(self.payout_numerators)
        if total == 0 or outcome_index >= len(self.payout_numerators):
            return Decimal(0)
        return self.payout_numerators[outcome_index] / total


def resolutions_for_open_positions(conn: psycopg.Connection) -> list[Resolution]:
    rows = conn.execute(
        """SELECT m.condition_id, m.payout_numerators, m.resolved_at
             FROM orderflow_market_outcomes m
            WHERE m.is_resolved AND m.payout_numerators IS NOT NULL
              AND m.condition_id IN (SELECT condition_id FROM orderflow_positions WHERE status = 'OPEN')"""
    ).fetchall()
    return [Resolution(c, tuple(Decimal(x) for x in p), at) for c, p, at in rows]
