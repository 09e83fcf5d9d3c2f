"""History benchmark: what one scoring run's append to orderflow_reputation_history costs once the
history is long, in one table against daily partitions.

`make bench-history` (= `python -m benchmarks.bench_history`). One run, one machine, one server:

0. A fresh database: a new database on DATABASE_URL's server when it is set, else a new embedded
   Postgres in a temporary directory.
1. For each layout: the history table with the model's columns and indexes (the unique
   (scored_at, wallet_address) and the (wallet_address) of
   dbt_project/models/marts/orderflow_reputation_history.sql), either one table or partitioned
   by day of scored_at as history_partitions.sql makes it; `--runs` hourly scoring runs of
   `--wallets` wallets already in it (loaded in bulk, then indexed and vacuumed, untimed).
2. Then `--timed` more hourly runs, each appending one row per wallet in random order, as a
   scoring run does, after a CHECKPOINT (production checkpoints every few minutes, so an hourly
   run's first touch of a page always writes a full-page image): time and WAL written.

Why it matters: the (wallet_address) index takes each run's rows at random, and once a wallet's
entries fill a leaf of their own (about 1,300 runs: B-tree deduplication keeps ~6 bytes per
entry), every run dirties one leaf per wallet; in daily partitions a run only touches its own
day's indexes. The default is 10,000 wallets (the same effect per wallet as at 200,000: one
leaf each) after 1,500 runs, about 62 days of hourly scoring.
The last line is `history: one table <s> s <MB> MB WAL, daily partitions <s> s <MB> MB WAL per
run, ratio <r>` with ratio = partitioned time / one-table time (medians of the timed runs).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from typing import Callable

from benchmarks.bench_ingest import fresh_database, wal_mb_since, wal_position

LAST_LINE = re.compile(r"^history: one table \d+\.\d{2} s [\d,]+ MB WAL, daily partitions \d+\.\d{2} s [\d,]+ MB WAL"
                       r" per run, ratio \d+\.\d{3}$")
# The columns of orderflow_reputation_history (its enforced contract), in order.
COLUMNS = """
    wallet_address text not null, scored_at timestamptz not null, reputation_score numeric(6, 3), trader_tier text,
    is_market_maker boolean, resolved_markets bigint, evidence_weight double precision, mean_edge double precision,
    posterior_edge double precision, posterior_edge_sd double precision, prior_mean double precision,
    market_edge_sd double precision, skill_sd double precision, capital_at_risk_usd numeric(38, 6), invocation_id text
"""
EPOCH = "timestamptz '2026-01-01 00:00:00+00'"


def _row(run: str) -> str:
    """One scored wallet's history row at run number `run` (an SQL expression), from wallets w."""
    return (f"w.wallet_address, {EPOCH} + ({run}) * interval '1 hour', (abs(hashtext(w.wallet_address || ({run})::text)) % 10000)"
            f" / 1000.0, 'SMART', false, 25, 3.5, 0.02, 0.015, 0.01, 0.001, 0.2, 0.05, 1234.5, 'bench'")


def build(conn, layout: str, wallets: int, runs: int) -> None:
    """The history table in `layout` ('table' | 'daily') with `runs` runs of `wallets` wallets."""
    conn.execute("DROP TABLE IF EXISTS bench_history CASCADE")
    if layout == "table":
        conn.execute(f"CREATE TABLE bench_history ({COLUMNS})")
    else:
        conn.execute(f"CREATE TABLE bench_history ({COLUMNS}) PARTITION BY RANGE (scored_at)")
        for day in range(runs // 24 + 2):  # every day the loaded and the timed runs fall on
            conn.execute(f"CREATE TABLE bench_history_p{day} PARTITION OF bench_history FOR VALUES"
                         f" FROM ({EPOCH} + interval '{day} days') TO ({EPOCH} + interval '{day + 1} days')")
    conn.execute(f"INSERT INTO bench_history SELECT {_row('r')} FROM generate_series(0, {runs - 1}) AS r"
                 f" CROSS JOIN bench_wallets AS w")
    conn.execute("CREATE UNIQUE INDEX ON bench_history (scored_at, wallet_address)")
    conn.execute("CREATE INDEX ON bench_history (wallet_address)")
    conn.execute("VACUUM ANALYZE bench_history")


def timed_runs(conn, first_run: int, n: int) -> list[tuple[float, float]]:
    """(seconds, MB of WAL) of n scoring runs' appends, each after a CHECKPOINT."""
    out = []
    for run in range(first_run, first_run + n):
        conn.execute("CHECKPOINT")
        lsn = wal_position(conn)
        t0 = time.perf_counter()
        conn.execute(f"INSERT INTO bench_history SELECT {_row(str(run))} FROM bench_wallets AS w ORDER BY random()")
        seconds = time.perf_counter() - t0
        out.append((seconds, wal_mb_since(conn, lsn)))
    return out


def run(wallets: int = 10_000, runs: int = 1_500, timed: int = 3, *, server_url: str | None = None,
        out: Callable[[str], None] = print) -> dict:
    from orderflow_dagster.warehouse.db import connect

    result = {}
    with fresh_database(server_url) as (url, where), connect(url, autocommit=True) as conn:
        out(f"database: {where}")
        conn.execute(f"CREATE TABLE bench_wallets AS SELECT '0x' || md5(g::text) || substr(md5((g + 1)::text), 1, 8)"
                     f" AS wallet_address FROM generate_series(1, {wallets}) AS g")
        for layout in ("table", "daily"):
            t0 = time.perf_counter()
            build(conn, layout, wallets, runs)
            loaded = time.perf_counter() - t0
            times = timed_runs(conn, runs, timed)
            seconds = statistics.median(s for s, _ in times)
            mb = statistics.median(m for _, m in times)
            result[layout] = (seconds, mb)
            out(f"{layout}: {runs:,} runs of {wallets:,} wallets loaded in {loaded:.0f} s; next {timed} runs: "
                + ", ".join(f"{s:.2f} s {m:,.0f} MB" for s, m in times))
        conn.execute("DROP TABLE bench_history CASCADE")
    (ts, tm), (ds, dm) = result["table"], result["daily"]
    ratio = ds / ts
    out(f"history: one table {ts:.2f} s {tm:,.0f} MB WAL, daily partitions {ds:.2f} s {dm:,.0f} MB WAL per run,"
        f" ratio {ratio:.3f}")
    return {"table_s": ts, "table_wal_mb": tm, "daily_s": ds, "daily_wal_mb": dm, "ratio": ratio}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wallets", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=1_500, help="hourly runs already in the history")
    ap.add_argument("--timed", type=int, default=3, help="runs timed after them")
    args = ap.parse_args(argv)
    run(args.wallets, args.runs, args.timed, server_url=os.environ.get("DATABASE_URL") or None,
        out=lambda s: print(s, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
