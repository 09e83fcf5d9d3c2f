"""Soak: `orderflow up` on the simulated world at 10x the live rate, sampled for lag, memory, errors.

`make bench-soak` (= `python -m benchmarks.bench_soak`). One run:

1. `orderflow up` as a subprocess in its own ORDERFLOW_HOME (fresh embedded Postgres, local anvil
   with 2 s blocks, the simulated world at SIM_FILLS_PER_HOUR = 10 x 1,000, a short warm-up),
   Dagster webserver + daemon with every sensor and schedule as shipped, the fast path on.
2. Once the warm-up history has landed, every `--sample` seconds for `--minutes` minutes:
   - lag = the chain head's block timestamp - the newest landed block's timestamp (0 when the
     database has the head);
   - RSS of the long-lived processes we run: `orderflow up` (simulator + fast path), the daemon,
     the webserver and their code servers (anvil and Postgres are not ours to leak).
3. errors = runs that FAILED + fast-path tick failures (logged as warnings by up) during the soak.

Last line: `soak: <fills> fills, lag p95 <s> s, rss growth <MB> MB, errors <n>`, where fills are
the fills landed during the soak and rss growth = mean RSS of the last minute - of the first.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.bench_latency import percentile
from benchmarks.up_process import start_up, stop_up, wait_for
from orderflow_dagster.simulator.anvil import free_port, rpc_call
from orderflow_dagster.warehouse.db import connect
from orderflow_dagster.warehouse.embedded import EmbeddedPostgres

LONG_LIVED = ("orderflow up", "dagster-daemon", "dagster-webserver", "dagster api grpc", "dagster code-server")


def our_rss_mb(root: psutil.Process) -> dict[str, float]:
    """RSS (MB) of each long-lived Python process under `orderflow up`, keyed 'kind pid' (run workers
    come and go: not counted)."""
    out = {}
    for p in [root, *root.children(recursive=True)]:
        try:
            cmd = " ".join(p.cmdline())
            kind = next((k for k in LONG_LIVED if k in cmd), None)
            if kind and "execute_run" not in cmd:
                out[f"{kind} {p.pid}"] = p.memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            continue
    return out


def landed(db_url: str) -> tuple[int, int, float | None]:
    """(fills landed, newest landed block, its timestamp as epoch seconds)."""
    with connect(db_url) as conn:
        fills = conn.execute("SELECT count(*) FROM raw_order_fills").fetchone()[0]
        row = conn.execute("SELECT block_number, extract(epoch FROM block_timestamp) FROM chain_blocks "
                           "ORDER BY block_number DESC LIMIT 1").fetchone()
    return fills, (row[0] if row else -1), (float(row[1]) if row and row[1] is not None else None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=10_000.0, help="simulated fills per hour (live is about 1,000)")
    ap.add_argument("--warmup-days", type=float, default=0.25)
    ap.add_argument("--sample", type=float, default=5.0)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    home = Path(tempfile.mkdtemp(prefix="orderflow-soak-"))
    anvil_port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DAGSTER_HOME", "POLYGON_RPC_URL", "GAMMA_API_URL", "CLOB_API_URL")}
    env.update(ORDERFLOW_HOME=str(home), ANVIL_PORT=str(anvil_port), DAGSTER_PORT=str(free_port()),
               SIM_FILLS_PER_HOUR=str(args.rate), SIM_WARMUP_DAYS=str(args.warmup_days))
    rpc = f"http://127.0.0.1:{anvil_port}"
    print(f"starting `orderflow up` at {args.rate:,.0f} simulated fills/hour (logs in {home})", flush=True)
    proc = start_up(env, home)
    try:
        db_url = wait_for("the embedded Postgres", EmbeddedPostgres(home / "pg").running_url, 180, proc)
        # the warm-up is done when `up` prints that it runs live; then wait for the history to land
        wait_for("the warm-up history", lambda: b"simulator    live" in (home / "up.log").read_bytes(), 900, proc, 2.0)

        def caught_up():
            head = int(rpc_call(rpc, "eth_blockNumber"), 16)
            return landed(db_url)[1] >= head - 2

        wait_for("the fast path to land the history", caught_up, 900, proc, 2.0)
        root = psutil.Process(proc.pid)
        with connect(db_url) as conn:
            failed_before = conn.execute("SELECT count(*) FROM runs WHERE status = 'FAILURE'").fetchone()[0]
        warnings_before = (home / "up.log").read_bytes().count(b"fast path tick failed")
        fills_before = landed(db_url)[0]
        print(f"soaking for {args.minutes:g} minutes", flush=True)
        lags, rss = [], []
        end = time.monotonic() + args.minutes * 60
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise SystemExit(f"`orderflow up` exited ({proc.returncode}) during the soak; see {home}")
            head = rpc_call(rpc, "eth_getBlockByNumber", "latest", False)
            _, newest, newest_ts = landed(db_url)
            lags.append(0.0 if newest >= int(head["number"], 16) or newest_ts is None
                        else max(0.0, int(head["timestamp"], 16) - newest_ts))
            rss.append((time.monotonic(), our_rss_mb(root)))
            time.sleep(args.sample)
        fills = landed(db_url)[0] - fills_before
        with connect(db_url) as conn:
            failed = conn.execute("SELECT count(*) FROM runs WHERE status = 'FAILURE'").fetchone()[0] - failed_before
        errors = failed + (home / "up.log").read_bytes().count(b"fast path tick failed") - warnings_before
    finally:
        stop_up(proc, 90)
    t0, t1 = rss[0][0], rss[-1][0]
    first = [sum(m.values()) for t, m in rss if t - t0 <= 60]
    last = [sum(m.values()) for t, m in rss if t1 - t <= 60]
    growth = sum(last) / len(last) - sum(first) / len(first)
    print(f"samples {len(lags)}, lag max {max(lags):.1f} s, rss first minute {sum(first) / len(first):.0f} MB")
    # the total over time, to tell warm-up (growth that stops) from a leak (growth that goes on)
    marks = []
    for minute in range(0, int(args.minutes) + 1, 5):
        near = min(rss, key=lambda s: abs(s[0] - t0 - 60 * minute))
        marks.append(f"{minute} min {sum(near[1].values()):.0f}")
    print(f"rss total: {', '.join(marks)} MB")
    start, end = rss[0][1], rss[-1][1]
    for key in sorted(set(start) | set(end), key=lambda k: end.get(k, 0) - start.get(k, 0), reverse=True):
        print(f"  {key}: {start.get(key, 0):.0f} -> {end.get(key, 0):.0f} MB")
    print(f"soak: {fills} fills, lag p95 {percentile(lags, 95):.1f} s, rss growth {growth:.1f} MB, errors {errors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
