"""Simulator benchmark: one simulated week (default world, about 1,000 fills/hour) through the
whole pipeline.

`make bench-sim` (= `python -m benchmarks.bench_sim`). Steps, each timed:

1. chain: a fresh anvil (genesis a week ago) and `simulate(..., days=7)` in fast mode: real-shaped
   V1/V2 logs, one match per transaction, packed into `--block-seconds` blocks.
2. ingest: the real Ingestor follows the chain from block 0 into a fresh database (DATABASE_URL's
   server when set, else a new embedded Postgres).
3. dbt: `dbt build` (the venv's dbt, target in a temporary directory).
4. trading: the paper Executor (trading/executor.py) once over the last hour's trades, deciding
   as at the week's end, its books from the world's CLOB stand-in (sim_api.py).

The last line is `sim: <fills> fills, <wallets> wallets scored, <signals> signals, wall <s> s`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--fills-per-hour", type=float, default=1000.0)
    parser.add_argument("--block-seconds", type=float, default=300.0)  # fewer, fuller blocks: anvil slows with height
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import psycopg

    from benchmarks.bench_dbt import dbt_build
    from benchmarks.bench_ingest import fresh_database
    from orderflow_dagster.ingest import Ingestor
    from orderflow_dagster.settings import load_settings
    from orderflow_dagster.simulator.anvil import AnvilNode
    from orderflow_dagster.simulator.driver import Driver
    from orderflow_dagster.simulator.replayer import Replayer
    from orderflow_dagster.simulator.sim_api import SimApi
    from orderflow_dagster.simulator.world import DAY, World, WorldConfig
    from orderflow_dagster.trading.brokers import PaperBroker
    from orderflow_dagster.trading.config import load_trading_settings
    from orderflow_dagster.trading.executor import Executor

    started = time.perf_counter()
    start = time.time() - args.days * DAY  # the week ends now: the executor trades the last hour
    timings: dict[str, float] = {}
    with fresh_database(os.environ.get("DATABASE_URL")) as (db_url, where), \
            AnvilNode(genesis_timestamp=int(start) - 60) as node, \
            Replayer(node.url, seed=args.seed) as replayer, \
            tempfile.TemporaryDirectory(prefix="bench-sim-dbt-") as target:
        print(f"database: {where}", flush=True)
        world = World(WorldConfig(seed=args.seed, start=start, fills_per_hour=args.fills_per_hour))
        driver = Driver(replayer, world)
        t = time.perf_counter()
        result = driver.fast_forward(start + args.days * DAY, block_seconds=args.block_seconds)
        timings["chain"] = time.perf_counter() - t
        print(f"chain: {result.fills:,} fills, {result.matches:,} matches, {result.markets} markets, "
              f"{result.resolutions} resolved, blocks {result.first_block}-{result.last_block} in {timings['chain']:.1f} s",
              flush=True)

        t = time.perf_counter()
        settings = load_settings(polygon_rpc_url=node.url, database_url=db_url, start_block=0, confirmations=0,
                                 rpc_timeout_seconds=60.0)
        landed = Ingestor(settings, db_url).follow()
        timings["ingest"] = time.perf_counter() - t
        print(f"ingest: {landed.fills:,} fills, {landed.logs:,} logs in {timings['ingest']:.1f} s", flush=True)

        timings["dbt"] = dbt_build(db_url, Path(target))
        with psycopg.connect(db_url) as conn:
            tiers = dict(conn.execute("SELECT trader_tier, count(*) FROM orderflow_wallet_stats GROUP BY 1").fetchall())
            scored = conn.execute("SELECT count(*) FROM orderflow_wallet_stats WHERE reputation_score IS NOT NULL").fetchone()[0]
        print(f"dbt: {scored} wallets scored, tiers {tiers} in {timings['dbt']:.1f} s", flush=True)

        t = time.perf_counter()
        with SimApi(world, driver.lock) as api:
            cfg = load_trading_settings(clob_api_url=api.url, enable_paper_trading=True)
            broker = PaperBroker(cfg)
            try:
                with psycopg.connect(db_url, autocommit=True) as conn:
                    # decided as at the simulated week's end, as the fast path would have (the steps
                    # above took minutes, and SIGNAL_MAX_AGE_SECONDS would call every trade stale)
                    at_end = datetime.fromtimestamp(world.now + 1, tz=timezone.utc)
                    report = Executor(conn, cfg, broker, clock=lambda: at_end).run()
                    signals = conn.execute("SELECT count(*) FROM orderflow_signals").fetchone()[0]
            finally:
                broker.close()
        timings["trading"] = time.perf_counter() - t
        print(f"trading: {report.signals_made} signals made, {report.executed} executed, "
              f"rejected {dict(report.rejected)}, skipped {dict(report.skipped)} in {timings['trading']:.1f} s", flush=True)

    wall = time.perf_counter() - started
    print(f"sim: {result.fills} fills, {scored} wallets scored, {signals} signals, wall {wall:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
