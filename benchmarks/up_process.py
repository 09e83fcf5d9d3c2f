"""`orderflow up` as a benchmark's subprocess: start it in its own ORDERFLOW_HOME, wait on it,
stop it as Ctrl-C would (SIGTERM; bench-latency, bench-soak)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def start_up(env: dict[str, str], home: Path) -> subprocess.Popen:
    """`orderflow up` with env, its output in home/up.log, in a process group of its own."""
    with open(home / "up.log", "wb") as log:
        return subprocess.Popen([str(Path(sys.executable).parent / "orderflow"), "up"], cwd=REPO_ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_up(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to its group (`up` stops everything as on Ctrl-C), SIGKILL if it has not stopped
    within timeout. Not SIGINT: a benchmark started in the background (`make bench-soak &`)
    hands its children SIGINT ignored, so `up` would never see it, and its SIGKILL would orphan
    Postgres, the daemon and the code server (seen: a soak's whole tree left running)."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_for(what: str, check, timeout: float, proc: subprocess.Popen, poll: float = 1.0):
    """check()'s first truthy value; exits if `orderflow up` died or timeout passed first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"`orderflow up` exited ({proc.returncode}) while waiting for {what}")
        try:
            value = check()
        except Exception:  # noqa: BLE001 - the database or tables may not exist yet
            value = None
        if value:
            return value
        time.sleep(poll)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
