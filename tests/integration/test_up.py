"""`orderflow up` end to end, as a new user runs it (no DATABASE_URL, no POLYGON_RPC_URL): the
embedded Postgres, the simulated chain, one code server shared by the webserver and the daemon,
fills landing, the code location loaded in the UI; then SIGTERM stops everything it started."""

from __future__ import annotations

import os
import signal
import time

import httpx
import psutil
import pytest

from benchmarks.up_process import start_up, wait_for
from orderflow_dagster.simulator.anvil import free_port
from orderflow_dagster.warehouse.db import connect
from orderflow_dagster.warehouse.embedded import EmbeddedPostgres

pytestmark = pytest.mark.integration

LOCATIONS = '{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }'


def test_up_lands_fills_with_one_code_server_and_sigterm_stops_everything(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    ui = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DAGSTER_HOME", "POLYGON_RPC_URL", "GAMMA_API_URL", "CLOB_API_URL")}
    env.update(ORDERFLOW_HOME=str(home), ANVIL_PORT=str(free_port()), DAGSTER_PORT=str(ui), SIM_WARMUP_DAYS="0.1")
    proc = start_up(env, home)
    started = time.monotonic()
    try:
        db = wait_for("the embedded Postgres", EmbeddedPostgres(home / "pg").running_url, 180, proc)

        def fills() -> int:
            with connect(db) as conn:
                return conn.execute("SELECT count(*) FROM raw_order_fills").fetchone()[0]

        wait_for("fills to land", lambda: fills() > 0, 120, proc, 2.0)
        landed_after = time.monotonic() - started

        def location_loaded():
            try:
                r = httpx.post(f"http://127.0.0.1:{ui}/graphql", json={"query": LOCATIONS}, timeout=10)
                entries = r.json()["data"]["workspaceOrError"]["locationEntries"]
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                return None
            return entries if entries and entries[0]["loadStatus"] == "LOADED" else None

        entries = wait_for("the code location in the UI", location_loaded, 180, proc, 2.0)
        assert [e["name"] for e in entries] == ["orderflow"]
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        cmds = [" ".join(p.cmdline()) for p in tree if p.is_running()]
        # one code server (the proxy and the server it loads), none started by the daemon or webserver
        assert sum("code-server start" in c for c in cmds) == 1, cmds
        assert not [c for c in cmds if "api grpc" in c and "--location-name orderflow" not in c], cmds
        workspace = (home / "dagster" / "workspace.yaml").read_text()
        assert "grpc_server" in workspace and "127.0.0.1" in workspace
    finally:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)] if proc.poll() is None else []
        os.kill(proc.pid, signal.SIGTERM)  # what `kill`, systemd and docker stop send
        proc.wait(120)
    out = (home / "up.log").read_text()
    assert proc.returncode == 0 and "stopped." in out, out[-3000:]
    assert " INFO alembic." not in out  # Dagster's storage schema check is not news for the user
    _, alive = psutil.wait_procs([p for p in tree if p.pid != proc.pid], timeout=30)
    assert not alive, [" ".join(p.cmdline()) for p in alive]
    print(f"\nfirst fills landed {landed_after:.0f} s after `orderflow up` started")
