"""`orderflow up`: everything a new user needs, started in order and stopped on Ctrl-C.

1. Postgres: DATABASE_URL, or the embedded server with its data in .orderflow/pg.
2. Migrations.
3. The chain: POLYGON_RPC_URL, or a local anvil (chain id 137) driven by the simulated market
   world (simulator/world.py, driver.py): SIM_WARMUP_DAYS of history fast-forwarded, then live
   with 2 s blocks, real-shaped Polymarket logs at the real addresses (SIMULATED data); its
   Gamma/CLOB stand-in (sim_api.py) serves GAMMA_API_URL / CLOB_API_URL unless they are set.
4. Dagster webserver and daemon sharing DAGSTER_HOME=.orderflow/dagster; the head sensor is
   on by default, so fills start landing as soon as the daemon ticks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from orderflow_dagster.settings import REPO_ROOT, Settings
from orderflow_dagster.warehouse.db import redact_url


def _start_postgres(settings: Settings, stack: contextlib.ExitStack) -> str:
    if settings.database_url:
        print(f"postgres     {redact_url(settings.database_url)} (DATABASE_URL)")
        return settings.database_url
    from orderflow_dagster.warehouse.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(settings.embedded_pg_dir)
    url = pg.start()
    stack.callback(pg.stop)
    print(f"postgres     {url} (embedded, data in {settings.embedded_pg_dir})")
    return url


def _start_local_chain(settings: Settings, stack: contextlib.ExitStack) -> str:
    """anvil with its genesis SIM_WARMUP_DAYS ago, the simulated world fast-forwarded to now, then
    live (interval mining); the world's Gamma/CLOB endpoints serve enrichment and paper fills."""
    from orderflow_dagster.simulator.anvil import AnvilNode
    from orderflow_dagster.simulator.driver import Driver
    from orderflow_dagster.simulator.replayer import Replayer
    from orderflow_dagster.simulator.sim_api import SimApi
    from orderflow_dagster.simulator.world import DAY, World, WorldConfig

    start = time.time() - settings.sim_warmup_days * DAY
    node = AnvilNode(port=settings.anvil_port, log_file=settings.orderflow_home / "anvil.log",
                     genesis_timestamp=int(start) - 60)
    node.start()
    stack.callback(node.stop)
    world = World(WorldConfig(seed=settings.sim_seed, start=start, fills_per_hour=settings.sim_fills_per_hour))
    replayer = Replayer(node.url, seed=settings.sim_seed)
    driver = Driver(replayer, world)
    api = SimApi(world, driver.lock).start()
    stack.callback(api.stop)
    # Dagster's processes and the fast path read these from the environment; the user's own win.
    for var in ("GAMMA_API_URL", "CLOB_API_URL"):
        os.environ.setdefault(var, api.url)
    print(f"chain        {node.url} (local anvil, chain id 137)")
    print("SIMULATED    *** the markets, wallets and trades are SIMULATED (simulator/world.py), not Polymarket's ***")
    print(f"simulator    {settings.sim_fills_per_hour:,.0f} fills/hour, seed {settings.sim_seed}; Gamma/CLOB stand-in at {api.url}")
    if settings.sim_warmup_days > 0:
        print(f"simulator    fast-forwarding {settings.sim_warmup_days:g} simulated days of history ...", flush=True)
        while world.now < time.time() - 2 * settings.anvil_block_time:
            driver.fast_forward(time.time(), block_seconds=settings.sim_warmup_block_seconds)
        result = driver.result
        print(f"simulator    history: {result.fills:,} fills, {result.markets:,} markets, {result.resolutions:,} resolved, "
              f"{result.last_block:,} blocks in {result.wall_seconds:.0f} s", flush=True)
    stop = threading.Event()
    thread = threading.Thread(target=driver.run_live, name="simulator", daemon=True,
                              args=(stop, settings.anvil_block_time))
    thread.start()
    stack.callback(lambda: (stop.set(), thread.join(timeout=10), replayer.close()))
    print(f"simulator    live: {settings.anvil_block_time:g} s blocks, SIMULATED trades as their time comes")
    return node.url


def _forget_previous_local_chain(settings: Settings, database_url: str) -> None:
    """A restarted anvil is a new chain (new genesis): clear the rows landed from the old one now,
    before the sensor compares cursors with a head that starts again at zero."""
    from orderflow_dagster.ingest import Ingestor
    from orderflow_dagster.warehouse.db import connect

    with connect(database_url, autocommit=True) as conn:
        Ingestor(settings, database_url).check_chain(conn)


def _start_fast_path(settings: Settings, database_url: str, stack: contextlib.ExitStack) -> None:
    """Each new block landed and traded on at once (fastpath.py); the sensor path stays as the safety net."""
    import logging

    from orderflow_dagster.fastpath import run_fast_path

    logging.getLogger("orderflow_dagster.ingest").setLevel(logging.WARNING)  # a line per block; progress says it

    stop = threading.Event()
    thread = threading.Thread(target=run_fast_path, name="fast-path", daemon=True,
                              args=(settings, database_url, stop, settings.fast_path_poll_seconds,
                                    str(settings.dagster_home)))
    thread.start()
    stack.callback(lambda: (stop.set(), thread.join(timeout=15)))
    print(f"fast path    lands each block and trades on it at once (every {settings.fast_path_poll_seconds} s; "
          "FAST_PATH=false leaves it to the sensor)")


def _dagster_env(settings: Settings, database_url: str) -> dict[str, str]:
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url, DAGSTER_HOME=str(home))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return with_malloc_tuning(env)


def with_malloc_tuning(env: dict[str, str]) -> dict[str, str]:
    """glibc malloc tuning for the long-lived Dagster processes (unless env sets its own). Each
    thread that allocates gets its own arena (up to 8 per core); the gRPC code server and the
    daemon run sensors and RPCs on thread pools, so freed memory stays spread over half-empty
    arenas: two are plenty. And a fixed mmap threshold: glibc raises it after each large free,
    after which the multi-MB snapshot payloads these processes serialise come from the heap and
    fragment it. (deploy/Dockerfile sets the same.)"""
    env.setdefault("MALLOC_ARENA_MAX", "2")
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(128 * 1024))
    return env


CODE_SERVER_START_SECONDS = 300.0


def _start_code_server(settings: Settings, env: dict[str, str], logs: Path,
                       stack: contextlib.ExitStack) -> tuple[subprocess.Popen, Path]:
    """One code server for the webserver and the daemon, as deploy/ runs it; returns it and the
    workspace file that points both at it. With the repo's workspace.yaml each of them would start and
    manage a code server of its own (about 300 MB each), load it lazily, and the daemon replaces
    its own now and then: memory twice over and a moving baseline. `dagster code-server start` loads
    the definitions once, before either starts, and still reloads them from the UI."""
    from orderflow_dagster.simulator.anvil import free_port

    port = settings.dagster_code_server_port or free_port()
    bindir = Path(sys.executable).parent
    proc = _spawn([str(bindir / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(port),
                   "-m", "orderflow_dagster.definitions", "-d", str(REPO_ROOT), "--location-name", "orderflow"],
                  env, logs / "code-server.log", stack)
    deadline = time.monotonic() + CODE_SERVER_START_SECONDS
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the Dagster code server exited with code {proc.returncode}; see {logs}/code-server.log")
        if code_server_serving(port):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"the Dagster code server did not answer on port {port} within "
                             f"{CODE_SERVER_START_SECONDS:.0f} s; see {logs}/code-server.log")
        time.sleep(1.0)
    workspace = settings.dagster_home / "workspace.yaml"
    workspace.write_text("# written by `orderflow up`: the webserver and the daemon share its code server\n"
                         "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
                         f"      port: {port}\n      location_name: orderflow\n")
    print(f"code server  127.0.0.1:{port} (orderflow_dagster.definitions; logs in {logs}/code-server.log)")
    return proc, workspace


def code_server_serving(port: int, timeout: float = 2.0) -> bool:
    """True once the code server on 127.0.0.1:port answers the standard gRPC health check with
    SERVING for its "DagsterApi" service (what `dagster api grpc-health-check` asks, without
    starting a Python process that imports dagster for each try: ~1 CPU-s each, taken from the
    code server loading the definitions beside it)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="DagsterApi"), timeout=timeout)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def _cancel_orphaned_runs(settings: Settings, env: dict[str, str]) -> int:
    """Runs a previous `orderflow up` left queued or running (it was stopped, so their processes are
    gone) would hold the run queue's slots forever: mark them canceled before the daemon starts."""
    import dagster as dg

    orphaned = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
    os.environ["DATABASE_URL"] = env["DATABASE_URL"]  # dagster.yaml reads the storage URL from it
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        records = instance.get_run_records(dg.RunsFilter(statuses=orphaned))
        for record in records:
            instance.report_run_canceled(record.dagster_run, message="left unfinished by a previous `orderflow up`")
    if records:
        print(f"dagster      canceled {len(records)} run(s) left unfinished by the previous session")
    return len(records)


def _spawn(cmd: list[str], env: dict, log_path: Path, stack: contextlib.ExitStack) -> subprocess.Popen:
    out = open(log_path, "ab")
    proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    stack.callback(out.close)
    stack.callback(_terminate, proc)
    return proc


def _terminate(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    import psutil

    if proc.poll() is not None:
        return
    # Code servers the daemon and webserver start can leave their process group and were seen
    # alive long after `up` stopped: remember every descendant now, end the stragglers after.
    descendants: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        descendants = psutil.Process(proc.pid).children(recursive=True)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    alive = [p for p in descendants if p.is_running()]
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, still = psutil.wait_procs(alive, timeout=10)
    for p in still:
        with contextlib.suppress(psutil.Error):
            p.kill()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_up(settings: Settings) -> int:
    from orderflow_dagster.status import collect_status
    from orderflow_dagster.warehouse.migrate import apply_migrations

    from orderflow_dagster.trading.config import announce_live_mode, load_trading_settings

    # Bad trading settings stop start-up here, with the variable named, rather than later
    # inside Dagster's code server where a new user would not look.
    trading = load_trading_settings()
    # `kill`, systemd and docker stop with SIGTERM: stop everything as Ctrl-C does, rather than
    # die at once and leave Postgres, anvil, the code server, the daemon and the webserver behind
    signal.signal(signal.SIGTERM, _interrupt)
    settings.orderflow_home.mkdir(parents=True, exist_ok=True)
    bindir = Path(sys.executable).parent
    with contextlib.ExitStack() as stack:
        database_url = _start_postgres(settings, stack)
        applied = apply_migrations(database_url)
        print(f"migrations   {len(applied)} applied" if applied else "migrations   up to date")
        if settings.uses_local_chain:
            _start_local_chain(settings, stack)
            _forget_previous_local_chain(settings, database_url)
        else:
            print(f"chain        {redact_url(settings.rpc_url)} (live Polygon)")
        env = _dagster_env(settings, database_url)
        _cancel_orphaned_runs(settings, env)
        logs = settings.orderflow_home
        code_server, workspace_file = _start_code_server(settings, env, logs, stack)
        workspace = str(workspace_file)
        daemon = _spawn([str(bindir / "dagster-daemon"), "run", "-w", workspace], env, logs / "daemon.log", stack)
        web = _spawn([str(bindir / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(settings.dagster_port)],
                     env, logs / "webserver.log", stack)
        if settings.fast_path:
            _start_fast_path(settings, database_url, stack)
        print(f"dagster UI   http://127.0.0.1:{settings.dagster_port}  (logs in {logs}/daemon.log, webserver.log;"
              " run logs in code-server.log)")
        print("ingesting    Polymarket V1+V2 exchanges, ConditionalTokens, NegRiskAdapter; sensor chain_head_sensor is on")
        mode = "PAPER trading" if trading.enable_paper_trading else "LIVE trading (real orders)"
        print(f"trading      {mode}; signals need rated wallets (>= 20 resolved markets each)")
        announce_live_mode(trading, stream=sys.stdout)  # prints nothing in paper mode
        print("Ctrl-C stops everything started here.")
        try:
            while True:
                for name, proc in (("dagster-daemon", daemon), ("dagster-webserver", web), ("dagster code server", code_server)):
                    if proc.poll() is not None:
                        print(f"{name} exited with code {proc.returncode}; see {logs}", file=sys.stderr)
                        return 1
                time.sleep(15)
                _print_progress(collect_status, settings, database_url)
        except KeyboardInterrupt:
            print("\nstopping ...")
    print("stopped.")
    return 0


def _print_progress(collect_status, settings: Settings, database_url: str) -> None:
    try:
        st = collect_status(settings, database_url)
    except Exception as e:  # noqa: BLE001 - progress output must never stop the stack
        print(f"status unavailable: {e}")
        return
    print(
        f"{time.strftime('%H:%M:%S')}  head {st.head_block}  next {st.next_block}  lag {st.lag_blocks} blocks  "
        f"fills {st.rows.get('raw_order_fills', 0):,}  matches {st.rows.get('raw_orders_matched', 0):,}  "
        f"quarantined {st.rows.get('raw_quarantine', 0):,}",
        flush=True,
    )
