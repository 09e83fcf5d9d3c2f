"""Reads and writes of the trading tables (migrations/0004_trading.sql).

Every writer here is called inside a transaction that holds `lock_trading` (executor.py):
the lock serialises all trading decisions across runs and processes, so a check and the
write it guards can never interleave with another run's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from orderflow_dagster.trading.risk import RiskSnapshot, utc_day_start
from orderflow_dagster.trading.sources import last_trade_prices

# pg_advisory_xact_lock key: "orderflow trading" (any constant not used by the ingestion lock).
TRADING_LOCK_KEY = 0x6F66_7472_6164_65  # 'oftrade'


def lock_trading(conn: psycopg.Connection) -> None:
    """Take the trading lock for the current transaction (released at commit/rollback, or if the process dies)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (TRADING_LOCK_KEY,))


def signal_exists(conn: psycopg.Connection, tx_hash: str, log_index: int, wallet: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM orderflow_signals WHERE trigger_tx_hash = %s AND trigger_log_index = %s AND trigger_wallet = %s",
        (tx_hash, log_index, wallet)).fetchone() is not None


def has_entry_signal(conn: psycopg.Connection, wallet: str, condition_id: str) -> bool:
    return conn.execute(
        """SELECT 1 FROM orderflow_signals WHERE trigger_wallet = %s AND condition_id = %s
            AND signal_type <> 'EXIT' AND status <> 'SKIPPED'""", (wallet, condition_id)).fetchone() is not None


@dataclass(frozen=True)
class OpenPosition:
    id: int
    signal_id: int
    condition_id: str
    token_id: int
    shares: Decimal
    entry_price: Decimal
    cost_usd: Decimal
    fees_usd: Decimal
    outcome_index: int | None
    market_title: str | None
    outcome: str | None
    confidence: Decimal | None


def _open_position(r: dict) -> OpenPosition:
    return OpenPosition(r["id"], r["signal_id"], r["condition_id"], int(r["token_id"]), r["shares"], r["entry_price"],
                        r["cost_usd"], r["fees_usd"], r["outcome_index"], r["market_title"], r["outcome"], r["confidence"])


_OPEN_POSITIONS = """
SELECT p.id, p.signal_id, p.condition_id, p.token_id, p.shares, p.entry_price, p.cost_usd, p.fees_usd,
       p.outcome_index, p.market_title, p.outcome, s.confidence
  FROM orderflow_positions p JOIN orderflow_signals s ON s.id = p.signal_id
 WHERE p.status = 'OPEN' {where}
 ORDER BY p.id
 FOR UPDATE OF p
"""


def copied_open_positions(conn: psycopg.Connection, wallet: str, token_id: int) -> list[OpenPosition]:
    """Open positions we copied from `wallet` in `token_id` (what its SELL exits)."""
    # A position whose exit is already in flight (live, PENDING) is not exited twice.
    q = _OPEN_POSITIONS.format(where="""AND s.signal_type = 'WHALE_FOLLOW' AND s.trigger_wallet = %s AND p.token_id = %s
        AND NOT EXISTS (SELECT 1 FROM orderflow_signals x WHERE x.parent_signal_id = p.signal_id AND x.status = 'PENDING')""")
    with conn.cursor(row_factory=dict_row) as cur:
        return [_open_position(r) for r in cur.execute(q, (wallet, Decimal(token_id))).fetchall()]


def open_positions(conn: psycopg.Connection, condition_id: str | None = None) -> list[OpenPosition]:
    q = _OPEN_POSITIONS.format(where="AND p.condition_id = %s" if condition_id else "")
    with conn.cursor(row_factory=dict_row) as cur:
        return [_open_position(r) for r in cur.execute(q, (condition_id,) if condition_id else ()).fetchall()]


def insert_signal(conn: psycopg.Connection, **cols) -> int:
    names = list(cols)
    q = sql.SQL("INSERT INTO orderflow_signals ({}) VALUES ({}) RETURNING id").format(
        sql.SQL(", ").join(map(sql.Identifier, names)), sql.SQL(", ").join(sql.Placeholder() * len(names)))
    return conn.execute(q, [cols[n] for n in names]).fetchone()[0]


def update_signal(conn: psycopg.Connection, signal_id: int, **cols) -> None:
    sets = sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder()) for k in cols)
    conn.execute(sql.SQL("UPDATE orderflow_signals SET {} WHERE id = {}").format(sets, sql.Placeholder()),
                 [*cols.values(), signal_id])


def insert_position(conn: psycopg.Connection, **cols) -> int:
    names = list(cols)
    q = sql.SQL("INSERT INTO orderflow_positions ({}) VALUES ({}) RETURNING id").format(
        sql.SQL(", ").join(map(sql.Identifier, names)), sql.SQL(", ").join(sql.Placeholder() * len(names)))
    return conn.execute(q, [cols[n] for n in names]).fetchone()[0]


def close_position(conn: psycopg.Connection, position_id: int, *, exit_price: Decimal, realised: Decimal,
                   extra_fees: Decimal, reason: str, exit_signal_id: int | None, now: datetime) -> None:
    conn.execute(
        """UPDATE orderflow_positions SET status = 'CLOSED', exit_price = %s, realised_pnl_usd = %s,
                  fees_usd = fees_usd + %s, close_reason = %s, exit_signal_id = %s, closed_at = %s,
                  mark_price = NULL, unrealised_pnl_usd = NULL
            WHERE id = %s AND status = 'OPEN'""",
        (exit_price, realised, extra_fees, reason, exit_signal_id, now, position_id))


def set_outcome_status(conn: psycopg.Connection, signal_id: int, outcome_status: str) -> None:
    conn.execute("UPDATE orderflow_signals SET outcome_status = %s WHERE id = %s", (outcome_status, signal_id))


def pending_live_signals(conn: psycopg.Connection, older_than_seconds: float) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT * FROM orderflow_signals WHERE status = 'PENDING'
                AND created_at < now() - make_interval(secs => %s) ORDER BY id""", (older_than_seconds,)).fetchall()


# --- marks and the risk snapshot ------------------------------------------------------------

def mark_open_positions(conn: psycopg.Connection, now: datetime) -> Decimal:
    """Mark open positions at the last traded price (entry price when none); return total unrealised P&L."""
    positions = open_positions(conn)
    marks = last_trade_prices(conn, sorted({p.token_id for p in positions}))
    total = Decimal(0)
    for p in positions:
        mark = marks.get(p.token_id, p.entry_price)
        unrealised = p.shares * mark - p.cost_usd - p.fees_usd
        total += unrealised
        conn.execute("UPDATE orderflow_positions SET mark_price = %s, unrealised_pnl_usd = %s, marked_at = %s WHERE id = %s",
                     (mark, unrealised, now, p.id))
    return total


def _risk_state(conn: psycopg.Connection) -> dict:
    # FOR UPDATE: a second line of serialisation behind the advisory lock.
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM orderflow_risk_state WHERE id = 1 FOR UPDATE").fetchone()


def roll_day_if_needed(conn: psycopg.Connection, now: datetime, unrealised_now: Decimal) -> Decimal:
    """On the first run of a UTC day, store the unrealised P&L as the day's baseline; return the baseline."""
    state = _risk_state(conn)
    today = utc_day_start(now).date()
    if state["day"] == today:
        return state["day_start_unrealised_usd"]
    conn.execute("UPDATE orderflow_risk_state SET day = %s, day_start_unrealised_usd = %s, updated_at = %s WHERE id = 1",
                 (today, unrealised_now, now))
    return unrealised_now


def set_pause(conn: psycopg.Connection, until: datetime, reason: str, now: datetime) -> None:
    conn.execute("UPDATE orderflow_risk_state SET paused_until = %s, paused_at = %s, pause_reason = %s, updated_at = %s "
                 "WHERE id = 1", (until, now, reason, now))


def risk_snapshot(conn: psycopg.Connection, now: datetime, condition_id: str | None) -> RiskSnapshot:
    """Everything the limits look at, read under the lock (marks refreshed, the day rolled)."""
    unrealised = mark_open_positions(conn, now)
    baseline = roll_day_if_needed(conn, now, unrealised)
    exposure = conn.execute(
        """SELECT count(*), coalesce(sum(cost), 0), coalesce(sum(cost) FILTER (WHERE condition_id = %s), 0) FROM (
             SELECT condition_id, cost_usd AS cost FROM orderflow_positions WHERE status = 'OPEN'
             UNION ALL
             SELECT condition_id, coalesce(stake_usd, 0) FROM orderflow_signals
              WHERE status = 'PENDING' AND signal_type <> 'EXIT') x""", (condition_id,)).fetchone()
    realised_today = conn.execute(
        "SELECT coalesce(sum(realised_pnl_usd), 0) FROM orderflow_positions WHERE status = 'CLOSED' AND closed_at >= %s",
        (utc_day_start(now),)).fetchone()[0]
    paused_until = conn.execute("SELECT paused_until FROM orderflow_risk_state WHERE id = 1").fetchone()[0]
    return RiskSnapshot(now=now, open_positions=int(exposure[0]), open_exposure_usd=float(exposure[1]),
                        market_exposure_usd=float(exposure[2]), realised_today_usd=float(realised_today),
                        unrealised_now_usd=float(unrealised), day_start_unrealised_usd=float(baseline),
                        paused_until=paused_until)
