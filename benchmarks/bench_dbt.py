"""dbt benchmark: a full `dbt build` over 5,000,000 fills, then the incremental run after 50,000 more.

`make bench-dbt` (= `python -m benchmarks.bench_dbt`). One run, one machine:

0. A fresh database: a new database on DATABASE_URL's server when it is set, else a new embedded
   Postgres in a temporary directory; migrations/ applied.
1. Load (benchmarks/gen_fills.py), straight into the raw tables with COPY, what the ingestion
   would have landed: 20,000 markets (raw_conditions, raw_condition_tokens, V1
   raw_token_registrations), `--fills` fills over 200,000 wallets (raw_order_fills, plus one
   raw_orders_matched row per match), raw_resolutions for half the markets after the last fill,
   and ingest_ranges rows (20,000 blocks each) covering every landed block: the incremental
   models read ingest_ranges as their change log. Then VACUUM ANALYZE, as after a backfill.
2. Full: the scoring job's `dbt build` (seeds, models, data tests; unit tests run in CI, not in
   production runs: orderflow_dagster/defs/dbt/assets.py BUILD_ARGS) on the empty dbt schema,
   timed as a subprocess.
3. Append `--append` fills (open markets only) in new blocks after the last landed one, with
   their ingest_ranges row, as one landed range of the head follower would.
4. Incremental: the same `dbt build` again, timed, with the WAL the server wrote meanwhile (the
   random pages a run touches show there first: full-page images).
5. No change: the same build once more with nothing new (printed, not in the ratio): what every
   run pays whatever the new data.

Before each timed build the server is settled (CHECKPOINT, then the OS's dirty pages written
out), so that no build starts while the previous step's writeback is still running; an hourly
run does not follow a five-minute full build. The settle's own time is printed, not counted
(0.2 s after the full build on the twelfth session's VM: a guard more than a correction).

dbt's target and log directories go to a temporary directory (the project's manifest in
dbt_project/target is left alone). The last line is
`dbt: full <s> s, incremental <s> s, ratio <r>` with ratio = incremental / full.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import polars as pl

from benchmarks.bench_ingest import fresh_database, wal_mb_since, wal_position
from benchmarks.gen_fills import CHAIN_ID, FIRST_BLOCK, Universe, copy_frame, trades

LAST_LINE = re.compile(r"^dbt: full \d+\.\d s, incremental \d+\.\d s, ratio \d+\.\d{3}$")
REPO_ROOT = Path(__file__).resolve().parents[1]
DBT = str(Path(sys.executable).parent / "dbt")
RANGE_BLOCKS = 20_000


def ingest_ranges(fills: pl.DataFrame, matched: pl.DataFrame, from_block: int, to_block: int,
                  mode: str) -> list[tuple]:
    """ingest_ranges rows covering from_block..to_block in RANGE_BLOCKS spans, with their counts."""
    counts: dict[int, list[int]] = {}
    for df, k in ((fills, 0), (matched, 1)):
        per = df.group_by((pl.col("block_number") - from_block) // RANGE_BLOCKS).len()
        for span, n in per.iter_rows():
            counts.setdefault(span, [0, 0])[k] += n
    rows = []
    for a in range(from_block, to_block + 1, RANGE_BLOCKS):
        b = min(a + RANGE_BLOCKS - 1, to_block)
        f, m = counts.get((a - from_block) // RANGE_BLOCKS, (0, 0))
        rows.append((CHAIN_ID, a, b, mode, f + m, f, 0))
    return rows


def insert_ranges(conn, rows: list[tuple]) -> None:
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO ingest_ranges (chain_id, from_block, to_block, mode, logs, fills, quarantined)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)


def load_initial(url: str, n_fills: int, u: Universe) -> int:
    """Markets, n_fills fills, resolutions and ingest_ranges, in one transaction; the last block."""
    from orderflow_dagster.warehouse.db import connect

    fills, matched = trades(u, n_fills, FIRST_BLOCK, seed=42)
    last_fill = int(fills["block_number"].max()) if fills.height else FIRST_BLOCK
    resolved_at = last_fill + 1
    resolutions = u.resolutions(resolved_at)
    conditions = u.conditions()
    first = int(conditions["block_number"].min())
    with connect(url) as conn:
        copy_frame(conn, "raw_conditions", conditions)
        copy_frame(conn, "raw_condition_tokens", u.condition_tokens())
        copy_frame(conn, "raw_token_registrations", u.token_registrations())
        copy_frame(conn, "raw_order_fills", fills)
        copy_frame(conn, "raw_orders_matched", matched)
        copy_frame(conn, "raw_resolutions", resolutions)
        insert_ranges(conn, ingest_ranges(fills, matched, first, resolved_at, "backfill"))
        conn.execute("INSERT INTO chain_identity (chain_id, genesis_hash, simulated) VALUES (%s, %s, false)",
                     (CHAIN_ID, "0x" + "00" * 31 + "be"))
        conn.execute("INSERT INTO ingest_cursor (chain_id, next_block, head_block, final_block) VALUES (%s, %s, %s, %s)",
                     (CHAIN_ID, resolved_at + 1, resolved_at, resolved_at))
        conn.commit()
    with connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return resolved_at


def load_append(url: str, n_fills: int, u: Universe, after_block: int) -> tuple[int, int]:
    """n_fills more fills in blocks after after_block, as one landed range; (first, last) block."""
    from orderflow_dagster.warehouse.db import connect

    start = after_block + 10
    fills, matched = trades(u, n_fills, start, seed=4242, open_markets_only=True)
    last = int(fills["block_number"].max()) if fills.height else start
    with connect(url) as conn:
        copy_frame(conn, "raw_order_fills", fills)
        copy_frame(conn, "raw_orders_matched", matched)
        insert_ranges(conn, [(CHAIN_ID, after_block + 1, last, "follow", fills.height + matched.height, fills.height, 0)])
        conn.execute("UPDATE ingest_cursor SET next_block = %s, head_block = %s, final_block = %s, updated_at = now()"
                     " WHERE chain_id = %s", (last + 1, last, last, CHAIN_ID))
        conn.commit()
    return start, last


def slowest_nodes(workdir: Path, n: int = 8) -> str:
    """The n slowest nodes of the last dbt invocation (run_results.json), as `name s, ...`."""
    results = json.loads((workdir / "target" / "run_results.json").read_text())["results"]
    top = sorted(results, key=lambda r: r["execution_time"], reverse=True)[:n]
    return ", ".join(f"{r['unique_id'].split('.', 2)[-1]} {r['execution_time']:.1f}" for r in top)


def wal_lsn(url: str) -> str | None:
    """The server's current WAL position, or None where this role may not read it."""
    import psycopg

    from orderflow_dagster.warehouse.db import connect

    try:
        with connect(url) as conn:
            return wal_position(conn)
    except psycopg.Error:  # a managed server may refuse it: the figure is then omitted
        return None


def wal_written(url: str, since: str | None) -> str:
    """`, <n> MB of WAL` written on the server since `since` (every database on it), or ''."""
    from orderflow_dagster.warehouse.db import connect

    if since is None:
        return ""
    with connect(url) as conn:
        mb = wal_mb_since(conn, since)
    return f", {mb:,.0f} MB of WAL"


def settle(url: str) -> float:
    """CHECKPOINT, then the OS's dirty pages written out (sync): the timed build starts on a server
    that is not still writing back the previous step (the load, or a five-minute full build), as
    an hourly run would. Seconds it took. Where this role may not CHECKPOINT, only the sync."""
    import psycopg

    from orderflow_dagster.warehouse.db import connect

    t0 = time.perf_counter()
    try:
        with connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.Error:  # needs superuser or pg_checkpoint on a managed server
        pass
    os.sync()
    return time.perf_counter() - t0


def dbt_build(url: str, workdir: Path) -> float:
    """Seconds of one `dbt build` against url (raises with dbt's output tail when it fails)."""
    from orderflow_dagster.defs.dbt.assets import BUILD_ARGS  # the scoring job's own command

    cmd = [DBT, *BUILD_ARGS, "--project-dir", "dbt_project", "--profiles-dir", "dbt_project",
           "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    env.update(DATABASE_URL=url, DBT_SEND_ANONYMOUS_USAGE_STATS="false", DBT_USE_COLORS="false")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"dbt build failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}")
    return seconds


def run(n_fills: int = 5_000_000, n_append: int = 50_000, *, n_markets: int = 20_000, n_wallets: int = 200_000,
        server_url: str | None = None, out: Callable[[str], None] = print) -> dict:
    from orderflow_dagster.warehouse.db import connect

    with fresh_database(server_url) as (url, where), tempfile.TemporaryDirectory(prefix="bench-dbt-") as tmp:
        workdir = Path(tmp)
        out(f"database: {where}")
        u = Universe.make(n_markets, n_wallets, seed=1)
        t0 = time.perf_counter()
        last = load_initial(url, n_fills, u)
        with connect(url) as conn:
            n_ranges = conn.execute("SELECT count(*) FROM ingest_ranges").fetchone()[0]
            n_matched = conn.execute("SELECT count(*) FROM raw_orders_matched").fetchone()[0]
        out(f"load: {n_fills:,} fills, {n_matched:,} matches, {n_markets:,} markets ({n_markets // 2:,} resolved),"
            f" {n_wallets:,} wallets, blocks {FIRST_BLOCK:,}-{last:,}, {n_ranges} ingest_ranges,"
            f" {time.perf_counter() - t0:.1f} s (COPY + VACUUM ANALYZE)")

        out(f"settle: {settle(url):.1f} s (CHECKPOINT and sync before each timed build)")
        full = dbt_build(url, workdir)
        with connect(url) as conn:
            trades_n = conn.execute("SELECT count(*) FROM orderflow_trades").fetchone()[0]
        out(f"full build: {full:.1f} s, orderflow_trades {trades_n:,} rows; slowest: {slowest_nodes(workdir)}")

        t0 = time.perf_counter()
        a, b = load_append(url, n_append, u, last)
        out(f"append: {n_append:,} fills in blocks {a:,}-{b:,}, one ingest_ranges row, {time.perf_counter() - t0:.1f} s")

        # The WAL an incremental run writes is mostly full-page images of the random pages it
        # touches (see README): printed beside the times, as the figure that explains them.
        settled = settle(url)
        lsn = wal_lsn(url)
        inc = dbt_build(url, workdir)
        wal = wal_written(url, lsn)
        with connect(url) as conn:
            trades_after = conn.execute("SELECT count(*) FROM orderflow_trades").fetchone()[0]
        out(f"incremental build: {inc:.1f} s{wal} (settled {settled:.1f} s before),"
            f" orderflow_trades {trades_after:,} rows (+{trades_after - trades_n:,}); slowest: {slowest_nodes(workdir)}")
        # What every run pays whatever the new data (dbt's start, marking, scoring, wallet stats,
        # the history): the same build once more with nothing landed since. Not in the ratio.
        settle(url)
        lsn = wal_lsn(url)
        idle = dbt_build(url, workdir)
        wal = wal_written(url, lsn)
        out(f"no-change build: {idle:.1f} s{wal} ({idle / full:.3f} of the full build: what any run costs,"
            f" new fills or not); slowest: {slowest_nodes(workdir, 5)}")
        ratio = inc / full
        out(f"dbt: full {full:.1f} s, incremental {inc:.1f} s, ratio {ratio:.3f}")
        return {"full_s": full, "incremental_s": inc, "ratio": ratio, "no_change_s": idle,
                "trades": trades_n, "trades_after": trades_after}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fills", type=int, default=5_000_000)
    ap.add_argument("--append", type=int, default=50_000, help="fills added before the incremental run")
    ap.add_argument("--markets", type=int, default=20_000)
    ap.add_argument("--wallets", type=int, default=200_000)
    args = ap.parse_args(argv)
    run(args.fills, args.append, n_markets=args.markets, n_wallets=args.wallets,
        server_url=os.environ.get("DATABASE_URL") or None, out=lambda s: print(s, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
