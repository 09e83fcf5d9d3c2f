"""Backfill benchmark: a history backfill of block-range partitions as parallel Dagster runs.

`make bench-backfill` (= `python -m benchmarks.bench_backfill`). One run, one machine, every
configuration measured side by side:

1. chain: a fresh anvil (genesis BENCH_BACKFILL_DAYS ago, default 2) filled by the simulator's
   fast mode (`simulate`: the default world at 1,000 fills/hour, one block per simulated minute).
2. partitions: PARTITION_SIZE_BLOCKS chosen so blocks 0..last make BENCH_BACKFILL_PARTITIONS
   (default 8) `block_ranges` partitions (`chunk_keys`), registered as the head sensor registers them.
3. per backfill tag limit in BENCH_BACKFILL_LIMITS (default 1,2,3):
   - a fresh database (a new one on DATABASE_URL's server when set, else on one embedded Postgres
     started for the benchmark), migrations applied; Dagster's storage in it, as `orderflow up` does;
   - a DAGSTER_HOME whose dagster.yaml is the repo's (QueuedRunCoordinator, DefaultRunLauncher,
     run monitoring and retries) with only the `dagster/backfill` tag limit set to N;
   - the code location of workspace.yaml (the whole project, as deployed) loaded once to stop its
     sensors and schedules (the head sensor would land the chain itself, the dbt sensor would
     start dbt runs), then a backfill of every partition of `chain_logs` launched (what the UI's
     "Materialize all" does: an asset backfill, PartitionBackfill.from_asset_partitions);
   - `dagster-daemon run` started right after the launch: its backfill daemon submits one run per
     partition on its first tick, the queued run coordinator starts at most N at once, each run
     lands its range through `Ingestor.backfill` (eth_getLogs from anvil, decode, COPY).
   Measured: wall = launch -> the last run's end (every run SUCCESS); the part before the first
   run exists (daemon start + first tick) is printed apart. Then raw_order_fills and
   raw_orders_matched are counted and must equal what the simulator put on chain, with no key twice.

A running daemon picks a backfill up on its next tick (every 30 s) instead of on its start, so a
user sees 0-30 s there instead of the daemon's start-up.

The last line is `backfill: <fills> fills, 1 run <f1> fills/s, 2 runs <f2> fills/s[, 3 runs <f3>
fills/s], speedup <f2/f1> x[, 3 runs speedup <f3/f1> x]`, fills/s = fills / wall.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
LAST_LINE = re.compile(r"^backfill: \d+ fills, 1 run \d+ fills/s, 2 runs \d+ fills/s(, \d+ runs \d+ fills/s)*, "
                       r"speedup \d+\.\d\d x(, \d+ runs speedup \d+\.\d\d x)*$")
BACKFILL_TAG = "dagster/backfill"
PARTITION_TAG = "dagster/partition"
# settings the benchmark sets for Dagster's processes; the caller's own values must not leak in
OWNED_ENV = ("DATABASE_URL", "DAGSTER_HOME", "POLYGON_RPC_URL", "CONFIRMATIONS", "PARTITION_SIZE_BLOCKS",
             "GAMMA_API_URL", "CLOB_API_URL")


@dataclass
class Chain:
    url: str
    fills: int
    matches: int
    last_block: int
    partition_size: int
    partitions: list[str]


@dataclass
class Measured:
    limit: int
    fills: int
    wall: float  # launch -> the last run's end
    to_first_run: float  # launch -> the first run created (the daemon's start and first tick)
    runs: int
    failed: int
    max_parallel: int  # most runs STARTED at one instant
    phases: dict[str, float]  # mean seconds per run, see run_phases
    dagster_cpu: float  # CPU-seconds of the daemon and its descendants (code server, run workers), at least
    busy_cpu: float  # CPU-seconds the whole machine spent over the wall (every process, ours or not)
    load: tuple[float, float]  # 1-minute load average at launch and at the end

    @property
    def rate(self) -> float:
        return self.fills / self.wall


def dagster_yaml(limit: int) -> str:
    """The repo's dagster.yaml with the backfill tag limit set to `limit` (and room for that many runs)."""
    cfg = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    coordinator = cfg["run_coordinator"]["config"]
    [entry] = [t for t in coordinator["tag_concurrency_limits"] if t["key"] == BACKFILL_TAG and "value" not in t]
    entry["limit"] = limit
    coordinator["max_concurrent_runs"] = max(coordinator["max_concurrent_runs"], limit)
    return yaml.safe_dump(cfg, sort_keys=False)


def make_chain(node_url: str, days: float, n_partitions: int, *, seed: int, fills_per_hour: float,
               world_scale: float, out: Callable[[str], None]) -> Chain:
    from orderflow_dagster.defs.ingestion.partitions import chunk_keys
    from orderflow_dagster.simulator.driver import simulate
    from orderflow_dagster.simulator.world import WorldConfig

    config = WorldConfig(seed=seed, fills_per_hour=fills_per_hour)
    if world_scale != 1.0:
        config = config.scaled(world_scale)
    t0 = time.perf_counter()
    sim = simulate(node_url, config, days)  # fast mode, one block per simulated minute with events
    last = sim.last_block
    size = max(100, math.ceil((last + 1) / n_partitions))  # PARTITION_SIZE_BLOCKS is at least 100
    keys = chunk_keys(0, last, size)
    out(f"chain: {sim.fills:,} fills, {sim.matches:,} matches, {sim.markets} markets, blocks 0-{last:,} "
        f"({days:g} simulated days at {config.fills_per_hour:,.0f} fills/h) in {time.perf_counter() - t0:.1f} s")
    out(f"partitions: {len(keys)} of {size} blocks (PARTITION_SIZE_BLOCKS), {keys[0]} .. {keys[-1]}")
    return Chain(node_url, sim.fills, sim.matches, last, size, keys)


def stop_instigators(context, instance) -> list[str]:
    """Stop every sensor and schedule of the loaded code locations; their names."""
    stopped = []
    for location in context.code_locations:
        for repo in location.get_repositories().values():
            for sensor in repo.get_sensors():
                instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)
                stopped.append(sensor.name)
            for schedule in repo.get_schedules():
                instance.stop_schedule(schedule.get_remote_origin_id(), schedule.selector_id, schedule)
                stopped.append(schedule.name)
    return stopped


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant."""
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda e: (e[0], e[1]))
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


PHASES = {
    "queued": "waiting for a slot",
    "run process": "run worker start",
    "step process": "chain_logs step start",
    "chain_logs": "chain_logs step",
    "landing": "of it Ingestor.backfill",
    "checks": "the 2 asset checks and the run's end",
}


def run_phases(instance, run_id: str) -> dict[str, float]:
    """Seconds of each part of one successful run, from its event log (keys of PHASES)."""
    from dagster import DagsterEventType as T

    at: dict[tuple[str, str | None], float] = {}
    landing = 0.0
    for e in instance.all_logs(run_id):
        ev = e.dagster_event
        if ev is None:
            continue
        at.setdefault((ev.event_type_value, e.step_key), e.timestamp)  # the first of each kind
        if ev.event_type == T.ASSET_MATERIALIZATION and ev.asset_key.path[-1] == "raw_order_fills":
            landing = float(ev.event_specific_data.materialization.metadata["seconds"].value)
    step = "chain_logs"
    return {
        "queued": at[(T.RUN_STARTING.value, None)] - at[(T.RUN_ENQUEUED.value, None)],
        "run process": at[(T.RUN_START.value, None)] - at[(T.RUN_STARTING.value, None)],
        # the in-process executor (definitions.py) starts no step worker: the step follows the run's start
        "step process": at[(T.STEP_START.value, step)] - at.get((T.STEP_WORKER_STARTING.value, step),
                                                                at[(T.RUN_START.value, None)]),
        "chain_logs": at[(T.STEP_SUCCESS.value, step)] - at[(T.STEP_START.value, step)],
        "landing": landing,
        "checks": at[(T.RUN_SUCCESS.value, None)] - at[(T.STEP_SUCCESS.value, step)],
    }


def launch_backfill(instance, limit: int) -> tuple[str, float, list[str]]:
    """Load workspace.yaml's code location, stop its sensors and schedules, launch a backfill of every
    partition of chain_logs as the UI's "Materialize all" does; (backfill id, launch time, stopped)."""
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    from orderflow_dagster.defs.ingestion.assets import chain_logs

    target = WorkspaceFileTarget(paths=[str(REPO_ROOT / "workspace.yaml")])
    with WorkspaceProcessContext(instance, target, code_server_log_level="WARNING") as process_context:
        context = process_context.create_request_context()
        if context.code_location_errors():
            raise RuntimeError(f"code location failed to load: {context.code_location_errors()[0].to_string()}")
        stopped = stop_instigators(context, instance)
        launched = time.time()
        backfill = PartitionBackfill.from_asset_partitions(
            backfill_id=make_new_backfill_id(), asset_graph=context.asset_graph, partition_names=None,
            asset_selection=sorted(chain_logs.keys), backfill_timestamp=launched, tags={},
            dynamic_partitions_store=instance, all_partitions=True, title=f"bench-backfill limit {limit}",
            description=None, run_config=None)
        instance.add_backfill(backfill)
    return backfill.backfill_id, launched, stopped


class TreeCpu:
    """CPU-seconds (user + system) of a process and all its descendants, sampled: each process counts
    with its last sample, so what a process spends after its last sample is missed (a lower bound)."""

    def __init__(self, pid: int):
        import psutil

        self.root = psutil.Process(pid)
        self.seen: dict[tuple[int, float], float] = {}

    def sample(self) -> None:
        import psutil

        with contextlib.suppress(psutil.Error):
            for p in [self.root, *self.root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    self.seen[(p.pid, p.create_time())] = t.user + t.system

    @property
    def total(self) -> float:
        return sum(self.seen.values())


def wait_for_runs(instance, backfill_id: str, partitions: list[str], daemon, cpu: TreeCpu, timeout: float,
                  home: Path) -> list:
    """The backfill's run records once every partition has a successful run (sampling cpu meanwhile)."""
    import dagster as dg

    deadline = time.monotonic() + timeout
    while True:
        cpu.sample()
        records = instance.get_run_records(dg.RunsFilter(tags={BACKFILL_TAG: backfill_id}))
        done = {r.dagster_run.tags.get(PARTITION_TAG) for r in records if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS}
        if done >= set(partitions):
            return records
        if daemon.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited ({daemon.returncode}); see {home / 'daemon.log'}")
        status = instance.get_backfill(backfill_id).status
        if status.value not in ("REQUESTED", "COMPLETED", "COMPLETED_SUCCESS"):  # failed, canceled: no run will come
            raise RuntimeError(f"backfill {backfill_id} is {status.value}; see {home / 'daemon.log'}")
        if time.monotonic() > deadline:
            states = sorted(f"{r.dagster_run.tags.get(PARTITION_TAG)} {r.dagster_run.status.value}" for r in records)
            raise RuntimeError(f"not every partition succeeded within {timeout:.0f} s: {states}; see {home / 'daemon.log'}")
        time.sleep(0.25)


def measure(chain: Chain, limit: int, server_url: str, *, timeout: float, out: Callable[[str], None]) -> Measured:
    """One configuration, from a fresh database and DAGSTER_HOME to the landed rows checked."""
    import dagster as dg

    from benchmarks.bench_ingest import _busy_cpu_seconds, fresh_database
    from orderflow_dagster.defs.ingestion.partitions import block_range_partitions
    from orderflow_dagster.up import _spawn, _terminate, with_malloc_tuning
    from orderflow_dagster.warehouse.db import connect

    with contextlib.ExitStack() as stack:
        db_url, where = stack.enter_context(fresh_database(server_url))
        home = Path(tempfile.mkdtemp(prefix=f"bench-backfill-{limit}-"))
        kept: list[bool] = [True]  # home (its daemon.log) is kept when this configuration fails
        stack.callback(lambda: kept[0] or shutil.rmtree(home, ignore_errors=True))
        (home / "dagster.yaml").write_text(dagster_yaml(limit))
        env = {k: v for k, v in os.environ.items() if k not in OWNED_ENV}
        env.update(DATABASE_URL=db_url, DAGSTER_HOME=str(home), POLYGON_RPC_URL=chain.url, CONFIRMATIONS="0",
                   PARTITION_SIZE_BLOCKS=str(chain.partition_size))
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        with_malloc_tuning(env)  # the daemon as `orderflow up` runs it
        # our own process reads dagster.yaml's env too (DATABASE_URL); restored after
        stack.enter_context(mock.patch.dict(os.environ, {k: env[k] for k in OWNED_ENV if k in env}))
        instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))
        instance.add_dynamic_partitions(block_range_partitions.name, chain.partitions)

        backfill_id, launched, stopped = launch_backfill(instance, limit)
        load_before, busy_before = os.getloadavg()[0], _busy_cpu_seconds()
        daemon = _spawn([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(REPO_ROOT / "workspace.yaml")],
                        env, home / "daemon.log", stack)
        out(f"limit {limit}: {where}; DAGSTER_HOME {home}; stopped {', '.join(stopped)}; "
            f"backfill {backfill_id} of {len(chain.partitions)} partitions launched, then the daemon started")
        cpu = TreeCpu(daemon.pid)
        records = wait_for_runs(instance, backfill_id, chain.partitions, daemon, cpu, timeout, home)
        cpu.sample()
        load_after, busy_after = os.getloadavg()[0], _busy_cpu_seconds()
        ok = [r for r in records if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS]
        failed = sum(r.dagster_run.status == dg.DagsterRunStatus.FAILURE for r in records)
        ended = max(r.end_time for r in ok)
        per_run = [run_phases(instance, r.dagster_run.run_id) for r in ok]
        _terminate(daemon)

        with connect(db_url) as conn:
            fills, keys, matches = conn.execute(
                "SELECT (SELECT count(*) FROM raw_order_fills),"
                " (SELECT count(*) FROM (SELECT DISTINCT chain_id, tx_hash, log_index FROM raw_order_fills) k),"
                " (SELECT count(*) FROM raw_orders_matched)").fetchone()
        if not (fills == keys == chain.fills and matches == chain.matches):
            raise RuntimeError(f"limit {limit}: landed {fills} fills ({keys} distinct keys), {matches} matches; "
                               f"the chain has {chain.fills} fills, {chain.matches} matches")
        m = Measured(limit=limit, fills=fills, wall=ended - launched,
                     to_first_run=min(r.create_timestamp.timestamp() for r in records) - launched,
                     runs=len(ok), failed=failed, max_parallel=max_overlap([(r.start_time, r.end_time) for r in ok]),
                     phases={k: sum(p[k] for p in per_run) / len(per_run) for k in PHASES},
                     dagster_cpu=cpu.total, busy_cpu=busy_after - busy_before, load=(load_before, load_after))
        kept[0] = False
    runs_word = "run" if limit == 1 else "runs"
    out(f"limit {limit}: {m.fills:,} fills in {m.wall:.1f} s = {m.rate:,.0f} fills/s ({limit} {runs_word} at once allowed; "
        f"launch -> first run {m.to_first_run:.1f} s, first run -> last run's end {m.wall - m.to_first_run:.1f} s)")
    out(f"  {m.runs} runs succeeded, {m.failed} failed, at most {m.max_parallel} at once; a run on average: "
        + ", ".join(f"{PHASES[k]} {v:.1f} s" for k, v in m.phases.items()))
    out(f"  CPU: the daemon and every process under it (its code server and run workers) at least "
        f"{m.dagster_cpu:.0f} CPU-s, its start included ({m.dagster_cpu / m.runs:.1f} per run); the whole machine was busy {m.busy_cpu:.0f} of "
        f"{os.cpu_count() * m.wall:.0f} CPU-s (Postgres, anvil, anything else running); load average {m.load[0]:.2f} -> {m.load[1]:.2f}")
    out(f"  exactly once: {fills:,} fills = the chain's {chain.fills:,}, {matches:,} matches = the chain's, no key twice")
    return m


def summary_line(results: list[Measured]) -> str:
    by = {m.limit: m for m in results}
    parts = [f"backfill: {results[0].fills} fills"]
    parts += [f"{n} {'run' if n == 1 else 'runs'} {by[n].rate:.0f} fills/s" for n in sorted(by)]
    parts.append(f"speedup {by[2].rate / by[1].rate:.2f} x")
    parts += [f"{n} runs speedup {by[n].rate / by[1].rate:.2f} x" for n in sorted(by) if n > 2]
    return ", ".join(parts)


def run(days: float = 2.0, n_partitions: int = 8, limits: tuple[int, ...] = (1, 2, 3), *, seed: int = 0,
        fills_per_hour: float = 1000.0, world_scale: float = 1.0, timeout: float = 1800.0,
        server_url: str | None = None, out: Callable[[str], None] = print) -> dict:
    from orderflow_dagster.simulator.anvil import AnvilNode
    from orderflow_dagster.simulator.world import DAY

    if not {1, 2} <= set(limits):
        raise ValueError("limits must hold 1 and 2 (the summary compares them)")
    out(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with contextlib.ExitStack() as stack:
        node = stack.enter_context(AnvilNode(genesis_timestamp=int(time.time() - days * DAY) - 3600))
        chain = make_chain(node.url, days, n_partitions, seed=seed, fills_per_hour=fills_per_hour,
                           world_scale=world_scale, out=out)
        if not server_url:
            from orderflow_dagster.warehouse.embedded import EmbeddedPostgres

            pg = stack.enter_context(EmbeddedPostgres(Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="bench-backfill-pg-")))))
            server_url = pg.url
        results = [measure(chain, limit, server_url, timeout=timeout, out=out) for limit in limits]
    line = summary_line(results)
    out(line)
    return {"chain": chain, "results": {m.limit: m for m in results}, "line": line}


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=float(env("BENCH_BACKFILL_DAYS", "2")), help="simulated days of history")
    ap.add_argument("--partitions", type=int, default=int(env("BENCH_BACKFILL_PARTITIONS", "8")))
    ap.add_argument("--limits", default=env("BENCH_BACKFILL_LIMITS", "1,2,3"), help="backfill tag limits to measure")
    ap.add_argument("--fills-per-hour", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per configuration")
    args = ap.parse_args(argv)
    limits = tuple(int(x) for x in args.limits.split(","))
    run(args.days, args.partitions, limits, seed=args.seed, fills_per_hour=args.fills_per_hour, timeout=args.timeout,
        server_url=os.environ.get("DATABASE_URL") or None, out=lambda s: print(s, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
