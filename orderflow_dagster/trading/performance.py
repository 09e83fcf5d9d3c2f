"""orderflow_performance: one row per UTC day, rewritten by every run of that day.

signals/executed/rejected/skipped/failed count the signals created that day; wins/losses and
realised P&L the positions closed that day; unrealised P&L is the open positions' mark at this
run; equity = BANKROLL_USD + every realised P&L so far + unrealised; drawdown is measured from
the highest equity any day's row has recorded.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import psycopg

from orderflow_dagster.trading.risk import RiskSnapshot, utc_day_start


def write_day(conn: psycopg.Connection, snapshot: RiskSnapshot, bankroll_usd: float) -> dict:
    """Upsert today's row from the tables and a fresh risk snapshot; return it."""
    start = utc_day_start(snapshot.now)
    end = start + timedelta(days=1)
    counts = conn.execute(
        """SELECT count(*), count(*) FILTER (WHERE status = 'EXECUTED'), count(*) FILTER (WHERE status = 'REJECTED'),
                  count(*) FILTER (WHERE status = 'SKIPPED'), count(*) FILTER (WHERE status = 'FAILED')
             FROM orderflow_signals WHERE created_at >= %s AND created_at < %s""", (start, end)).fetchone()
    closed = conn.execute(
        """SELECT count(*) FILTER (WHERE realised_pnl_usd > 0), count(*) FILTER (WHERE realised_pnl_usd <= 0),
                  coalesce(sum(realised_pnl_usd), 0)
             FROM orderflow_positions WHERE status = 'CLOSED' AND closed_at >= %s AND closed_at < %s""", (start, end)).fetchone()
    realised_all = conn.execute(
        "SELECT coalesce(sum(realised_pnl_usd), 0) FROM orderflow_positions WHERE status = 'CLOSED'").fetchone()[0]
    unrealised = Decimal(str(snapshot.unrealised_now_usd))
    equity = Decimal(str(bankroll_usd)) + realised_all + unrealised
    prior_peak = conn.execute("SELECT max(peak_equity_usd) FROM orderflow_performance").fetchone()[0]
    peak = max(equity, prior_peak or equity, Decimal(str(bankroll_usd)))
    drawdown = peak - equity
    row = dict(day=start.date(), signals=counts[0], executed=counts[1], rejected=counts[2], skipped=counts[3],
               failed=counts[4], wins=closed[0], losses=closed[1], realised_pnl_usd=closed[2],
               unrealised_pnl_usd=unrealised, daily_pnl_usd=Decimal(str(snapshot.daily_pnl_usd)), equity_usd=equity,
               peak_equity_usd=peak, drawdown_usd=drawdown,
               drawdown_pct=(drawdown / peak * 100).quantize(Decimal("0.0001")) if peak > 0 else Decimal(0),
               open_positions=snapshot.open_positions, open_exposure_usd=Decimal(str(snapshot.open_exposure_usd)),
               paused=snapshot.paused)
    cols = list(row)
    conn.execute(
        f"""INSERT INTO orderflow_performance ({', '.join(cols)}, updated_at) VALUES ({', '.join(['%s'] * len(cols))}, now())
            ON CONFLICT (day) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in cols[1:])}, updated_at = now()""",
        [row[c] for c in cols])
    return row
