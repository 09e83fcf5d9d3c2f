"""Trade-to-order latency: from a WHALE's fill's block timestamp to our paper position.

`make bench-latency` (= `python -m benchmarks.bench_latency`). One run, as `make up` runs:

1. anvil with 2-second blocks (chain 137) and a CLOB stand-in serving deep books (a real local
   HTTP server, tests/support/clob_server.py) for the markets the whale will buy.
2. A whale's record on that chain: 22 markets bought at 0.40 for $6,000 each, all won.
3. `orderflow up` as a subprocess with POLYGON_RPC_URL pointing at that anvil and a fresh
   embedded Postgres (its own ORDERFLOW_HOME): Dagster webserver and daemon, the head sensor,
   the trades sensor (whose first run scores every wallet) and the fast path (FAST_PATH=true, as
   by default). The benchmark waits until the daemon's scoring makes the whale a WHALE.
4. `--buys` (default 30) whale buys, each in a new market, one every `--spacing` seconds.
5. Latency of each = orderflow_positions.opened_at - the fill's block timestamp (whole seconds,
   as the chain gives it). Last line: `latency: p50 <s> s, p95 <s> s, n <count>`.
Run with FAST_PATH=false in the environment to measure the sensor path alone.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.up_process import start_up, stop_up, wait_for
from orderflow_dagster.simulator.anvil import AnvilNode, free_port
from orderflow_dagster.simulator.replayer import Replayer
from orderflow_dagster.warehouse.db import connect
from tests.support.clob_server import ClobServer

WHALE = "0x" + "5a" * 20
MAKER = "0x" + "3c" * 20


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n q / 100)
    return ordered[int(rank) - 1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buys", type=int, default=30)
    ap.add_argument("--spacing", type=float, default=3.0, help="seconds between whale buys")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the `orderflow up` it started

    home = Path(tempfile.mkdtemp(prefix="orderflow-latency-"))
    with AnvilNode(block_time=2.0) as node, Replayer(node.url, seed=11) as chain, ClobServer() as clob:
        history = [chain.create_market(2, neg_risk=False) for _ in range(22)]
        live = [chain.create_market(2, neg_risk=False) for _ in range(args.buys)]
        for m in history:
            chain.match(m, WHALE, "BUY", 0, [(MAKER, 15_000, "0.40")])
        for m in history:
            chain.resolve(m, [1, 0])
        for m in live:
            clob.add_market(m.condition_id, m.token_ids[0], bids=[("0.49", 1_000_000)], asks=[("0.51", 1_000_000)])
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAGSTER_HOME")}
        env.update(ORDERFLOW_HOME=str(home), POLYGON_RPC_URL=node.url, START_BLOCK="0", CONFIRMATIONS="0",
                   CLOB_API_URL=clob.url, ENABLE_METADATA="false", MAX_OPEN_POSITIONS=str(args.buys + 10),
                   MAX_MARKET_EXPOSURE_USD="100000", BANKROLL_USD="1000000", MAX_POSITION_USD="1000",
                   # every entry pays the spread and is marked at the bid: 30 of them can reach the
                   # default 500 daily loss, and a paused day would be a risk test, not a latency one
                   MAX_DAILY_LOSS="1000000", DAGSTER_PORT=str(free_port()))
        print(f"starting `orderflow up` (logs in {home})", flush=True)
        proc = start_up(env, home)
        try:
            from orderflow_dagster.warehouse.embedded import EmbeddedPostgres

            db_url = wait_for("the embedded Postgres", EmbeddedPostgres(home / "pg").running_url, 120, proc)
            started = time.monotonic()

            def whale_tier():
                with connect(db_url) as conn:
                    row = conn.execute("SELECT trader_tier FROM orderflow_wallet_stats WHERE wallet_address = %s",
                                       (WHALE,)).fetchone()
                return row and row[0] == "WHALE"

            wait_for("the daemon's first scoring to rate the whale", whale_tier, 600, proc, poll=2.0)
            print(f"whale rated WHALE by the daemon's scoring after {time.monotonic() - started:.0f} s", flush=True)

            for m in live:
                chain.match(m, WHALE, "BUY", 0, [(MAKER, 12_000, "0.50")])
                time.sleep(args.spacing)

            tokens = [str(m.token_ids[0]) for m in live]

            def measured() -> list[float]:
                with connect(db_url) as conn:
                    rows = conn.execute(
                        """SELECT extract(epoch FROM p.opened_at - s.trigger_timestamp)
                             FROM orderflow_positions p JOIN orderflow_signals s ON s.id = p.signal_id
                            WHERE s.trigger_wallet = %s AND p.token_id = ANY(%s::numeric[])""",
                        (WHALE, tokens)).fetchall()
                return [float(r[0]) for r in rows]

            try:
                found = wait_for("a paper position for every whale buy", lambda: len(measured()) >= len(live), 120, proc)
                found = measured()
            except SystemExit as e:
                print(f"{e}; reporting the buys that were executed", flush=True)
                found = measured()
        finally:
            stop_up(proc, 60)
    if not found:
        raise SystemExit("no whale buy was executed; see the logs in " + str(home))
    print(f"path: {'sensor only (FAST_PATH=false)' if os.environ.get('FAST_PATH', '').lower() == 'false' else 'fast path + sensor'}; "
          f"mean {statistics.fmean(found):.2f} s, max {max(found):.2f} s")
    print(f"latency: p50 {percentile(found, 50):.2f} s, p95 {percentile(found, 95):.2f} s, n {len(found)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
