"""A local anvil node (chain id 137) as a context manager, plus a tiny JSON-RPC helper.

    with AnvilNode() as node:            # automine: every transaction is mined at once
        rpc_call(node.url, "eth_blockNumber")
    with AnvilNode(block_time=2.0):      # interval mining, like a live chain

Binary lookup: $ANVIL_BIN, else <repo root>/node_modules/.bin/anvil, else `anvil` on PATH.
`node_modules/.bin/anvil` is a Node wrapper that spawns the real binary; killing only the
wrapper would orphan that binary, so we run the platform binary the wrapper points at when
it is installed, and in every case start anvil in its own process group and stop the group.

No orphans: a failed start kills the process before raising, `stop()` runs on context exit
and at interpreter exit, and on Linux the kernel sends SIGTERM to anvil when the thread
that started it dies (PR_SET_PDEATHSIG; pass die_with_parent=False when starting from a
short-lived thread).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import httpx
import psutil

from orderflow_dagster.chain.contracts import POLYGON_CHAIN_ID

REPO_ROOT = Path(__file__).resolve().parents[2]
NPM_WRAPPER = REPO_ROOT / "node_modules" / ".bin" / "anvil"


class AnvilError(RuntimeError):
    """anvil could not be found, did not start, or an RPC call failed."""


class AnvilPortInUse(AnvilError):
    """anvil could not bind its port."""


def rpc_call(url: str, method: str, *params: Any, client: httpx.Client | None = None, timeout: float = 10.0) -> Any:
    """One JSON-RPC call; returns `result` or raises AnvilError with the node's error."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    response = client.post(url, json=body) if client else httpx.post(url, json=body, timeout=timeout)
    response.raise_for_status()
    payload = response.json()
    if "error" in payload:
        raise AnvilError(f"{method} failed: {payload['error']}")
    return payload["result"]


def find_anvil_binary() -> str:
    """The anvil executable to run (see the module docstring for the lookup order)."""
    candidates = [os.environ.get("ANVIL_BIN"), str(NPM_WRAPPER) if NPM_WRAPPER.exists() else None,
                  shutil.which("anvil")]
    for candidate in candidates:
        if candidate:
            return _native_binary_behind_npm_wrapper(Path(candidate)) or candidate
    raise AnvilError("anvil not found: set ANVIL_BIN, run `npm install` in the repo root, or put anvil on PATH")


def _native_binary_behind_npm_wrapper(path: Path) -> str | None:
    """The @foundry-rs platform binary a Node wrapper script would spawn, if installed."""
    real = path.resolve()
    if real.suffix != ".mjs":
        return None
    scope_dir = real.parent.parent  # node_modules/@foundry-rs
    for binary in sorted(scope_dir.glob("anvil-*/bin/anvil")):
        if os.access(binary, os.X_OK):
            return str(binary)
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel for SIGTERM when the parent dies."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


# Far above Polygon's ~30M: a fast-forwarded block packs many simulated minutes of matches, and
# transactions past a full block were seen to vanish from anvil's pool (leaving a nonce gap that
# queued every later transaction for ever).
LOCAL_BLOCK_GAS_LIMIT = 4_000_000_000


class AnvilNode:
    """An anvil subprocess on 127.0.0.1; `.url` / `.ws_url` once started."""

    def __init__(
        self,
        port: int | None = None,
        block_time: float | None = None,
        log_file: str | os.PathLike[str] | None = None,
        start_timeout: float = 15.0,
        extra_args: tuple[str, ...] = (),
        binary: str | None = None,
        die_with_parent: bool = True,
        genesis_timestamp: int | None = None,
    ) -> None:
        self.requested_port = port
        self.block_time = block_time
        self.log_file = Path(log_file) if log_file else None
        self.start_timeout = start_timeout
        self.extra_args = extra_args
        self.binary = binary
        self.genesis_timestamp = genesis_timestamp  # unix seconds; in the past to replay history
        self.die_with_parent = die_with_parent and sys.platform.startswith("linux")
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._started_port()}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self._started_port()}"

    def _started_port(self) -> int:
        if self.port is None:
            raise AnvilError("AnvilNode is not started")
        return self.port

    def command(self, port: int) -> list[str]:
        cmd = [self.binary or find_anvil_binary(), "--chain-id", str(POLYGON_CHAIN_ID),
               "--host", "127.0.0.1", "--port", str(port), "--gas-limit", str(LOCAL_BLOCK_GAS_LIMIT)]
        if self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
        if self.genesis_timestamp is not None:
            cmd += ["--timestamp", str(int(self.genesis_timestamp))]
        if self.log_file is None:
            cmd.append("--silent")
        return cmd + list(self.extra_args)

    def start(self) -> AnvilNode:
        if self.process is not None:
            raise AnvilError("AnvilNode already started")
        # A free port can be taken between our probe and anvil's bind: retry with a new one.
        attempts = 1 if self.requested_port else 3
        for attempt in range(attempts):
            try:
                self._start_once(self.requested_port or free_port())
                atexit.register(self.stop)
                return self
            except AnvilPortInUse:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _start_once(self, port: int) -> None:
        command = self.command(port)
        # Output goes to the log file, or to a scratch file read back only to explain a failure.
        if self.log_file:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._output = open(self.log_file, "ab") if self.log_file else tempfile.TemporaryFile()
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=self._output, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        except OSError as exc:
            self.stop()
            raise AnvilError(f"cannot run {command[0]}: {exc}") from exc
        try:
            self.port = port
            self._wait_until_ready()
        except BaseException as exc:
            detail = self._output_tail()
            self.stop()
            if isinstance(exc, AnvilError):
                error = AnvilPortInUse if "Address already in use" in detail else AnvilError
                raise error(f"{exc}\n--- anvil output ---\n{detail}") from None
            raise

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AnvilError(f"anvil exited with code {self.process.returncode} during startup")
                if not self._listening():
                    # (another node may hold the port: only our process's answer counts)
                    time.sleep(0.05)
                    continue
                try:
                    chain_id = int(rpc_call(self.url, "eth_chainId", client=client), 16)
                except (httpx.HTTPError, AnvilError):
                    time.sleep(0.05)
                    continue
                if chain_id != POLYGON_CHAIN_ID:
                    raise AnvilError(f"anvil answered chain id {chain_id}, expected {POLYGON_CHAIN_ID}")
                return
        raise AnvilError(f"anvil did not answer eth_chainId on {self.url} within {self.start_timeout}s")

    def _listening(self) -> bool:
        """Whether our anvil process holds a listening socket on self.port."""
        assert self.process is not None
        try:
            connections = psutil.Process(self.process.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(c.status == psutil.CONN_LISTEN and c.laddr.port == self.port for c in connections)

    def _output_tail(self, max_bytes: int = 4000) -> str:
        if self._output is None or self._output.closed:
            return ""
        self._output.flush()
        self._output.seek(0, os.SEEK_END)
        self._output.seek(max(0, self._output.tell() - max_bytes))
        return self._output.read().decode(errors="replace")

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate anvil's process group (SIGTERM, then SIGKILL); safe to call twice."""
        process, self.process = self.process, None
        if process is not None:
            _terminate_group(process, timeout)
        if self._output is not None:
            self._output.close()
            self._output = None
        self.port = None
        atexit.unregister(self.stop)

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _terminate_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    # start_new_session made anvil a group leader: its group id is its pid.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue
