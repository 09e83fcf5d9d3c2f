"""deploy/ against real parts: the compose code-server command serves the definitions with
deploy/dagster.yaml as the instance, on Postgres storage."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest
import yaml

from orderflow_dagster.simulator.anvil import free_port
from orderflow_dagster.up import code_server_serving
from tests.unit.test_deploy_config import BIN, DEPLOY, REPO, load

pytestmark = pytest.mark.integration


def test_code_server_as_composed_serves_definitions_with_the_deploy_instance(pg_url, tmp_path):
    """The compose code-server command (on 127.0.0.1 and a free port), reached through
    deploy/workspace.yaml's gRPC entry, validates with deploy/dagster.yaml as the instance."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "DATABASE_URL": pg_url}
    env.pop("ENABLE_PAPER_TRADING", None)
    port = free_port()
    args = list(load("docker-compose.yml")["services"]["code-server"]["command"])
    args[0] = str(BIN / args[0])
    args[args.index("--host") + 1], args[args.index("--port") + 1] = "127.0.0.1", str(port)
    workspace = load("workspace.yaml")
    workspace["load_from"][0]["grpc_server"].update(host="127.0.0.1", port=port)
    (tmp_path / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    with open(tmp_path / "code-server.log", "wb") as log:
        server = subprocess.Popen(args, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # its own group: the proxy and its code server
    try:
        deadline = time.monotonic() + 240
        while not code_server_serving(port):  # the health check `orderflow up` waits with
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "code-server.log").read_text()
            time.sleep(2)
        done = subprocess.run([str(BIN / "dagster"), "definitions", "validate", "-w", str(tmp_path / "workspace.yaml")],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    finally:
        # Stop the proxy and the code server it spawned. Its shutdown is not what this test checks,
        # and once (CI, 2026-11-26) the proxy outlived SIGTERM by 30 s: kill the group after 60.
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All code locations passed validation" in done.stdout + done.stderr
