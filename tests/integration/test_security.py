"""Security, on real servers: secrets never leak, sslmode is honoured, the analyst role reads models only.

`tls_pg` is a throwaway Postgres with TLS on and password (SCRAM) auth, started from the
system's Postgres binaries (the embedded wheel is built without SSL); tests that need it
skip with the reason when no such build is installed.
"""

import base64
import logging
import os
import pwd
import shutil
import subprocess
import sys
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from eth_account import Account
from psycopg import sql

from orderflow_dagster.defs.trading.assets import signals_and_executions
from orderflow_dagster.defs.trading.resources import Trading
from orderflow_dagster.simulator.anvil import free_port
from orderflow_dagster.trading.config import announce_live_mode, load_trading_settings
from orderflow_dagster.warehouse.db import connect
from orderflow_dagster.warehouse.migrate import apply_migrations
from tests.integration.trading_fixtures import StandInWorld
from tests.support.clob_server import ClobServer
from tests.support.discord_server import DiscordServer

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
APP_ROLE = "orderflow_app"


# --- a Postgres server with TLS and password authentication -----------------------------------

@dataclass
class TlsPostgres:
    port: int
    password: str
    root_cert: Path  # the server's self-signed certificate, for sslmode=verify-full

    @property
    def admin_url(self) -> str:  # the superuser, trusted on this throwaway server
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self, sslmode: str | None = "require", with_password: bool = True) -> str:
        name = f"t_{uuid.uuid4().hex[:10]}"
        with connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(APP_ROLE)))
        auth = f"{APP_ROLE}:{self.password}" if with_password else APP_ROLE
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{name}" + (f"?sslmode={sslmode}" if sslmode else "")


def _system_pg_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if not pg_config or not shutil.which("openssl"):
        return None
    bindir = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip())
    configure = subprocess.run([pg_config, "--configure"], capture_output=True, text=True).stdout
    return bindir if (bindir / "initdb").exists() and "--with-ssl" in configure or "--with-openssl" in configure else None


@pytest.fixture(scope="module")
def tls_pg(tmp_path_factory) -> Iterator[TlsPostgres]:
    bindir = _system_pg_bindir()
    if bindir is None:
        pytest.skip("no Postgres build with SSL (pg_config --configure shows --with-ssl) and openssl on this machine")
    root = tmp_path_factory.mktemp("tls-pg")
    ids = {}
    if os.geteuid() == 0:  # Postgres refuses to run as root
        user = pwd.getpwnam("postgres")
        ids = dict(user=user.pw_uid, group=user.pw_gid)
        os.chown(root, user.pw_uid, user.pw_gid)
        for parent in root.parents:
            os.chmod(parent, os.stat(parent).st_mode | 0o005)

    def run(*cmd: str) -> None:
        subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=root, timeout=120, **ids)

    data = root / "data"
    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth", "trust", "-E", "UTF8", "--locale", "C")
    run("openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(data / "server.key"), "-out", str(data / "server.crt"))
    shutil.copyfile(data / "server.crt", root / "root.crt")
    port = free_port()
    with open(data / "postgresql.conf", "a") as f:
        f.write(f"\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nssl = on\nfsync = off\n")
    # the superuser is trusted (test admin); everyone else needs TLS and a SCRAM password
    (data / "pg_hba.conf").write_text("host all postgres 127.0.0.1/32 trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "start")
    server = TlsPostgres(port, password=f"db-pw-{uuid.uuid4().hex[:12]}", root_cert=root / "root.crt")
    try:
        with connect(server.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(server.password)))
        yield server
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")


# --- scanning for secrets ----------------------------------------------------------------------

def _as_text(value) -> str:
    if isinstance(value, memoryview | bytes):
        raw = bytes(value)
        try:
            raw = zlib.decompress(raw)  # Dagster's snapshots table keeps zlib-compressed JSON
        except zlib.error:
            pass
        return raw.decode("utf-8", "replace")
    return str(value)


def dump_database(url: str) -> dict[str, str]:
    """Every row of every table in every schema of the database (Dagster's tables too), as text."""
    with connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')")]
        return {t: "\n".join(_as_text(v) for row in conn.execute(f"SELECT * FROM {t}") for v in row) for t in tables}


def dump_files(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file())


def leaks(secrets: set[str], haystacks: dict[str, str]) -> set[tuple[str, str]]:
    """(where, secret) for every secret found, case-insensitively."""
    return {(where, s) for where, text in haystacks.items() for s in secrets if s.lower() in text.lower()}


# --- secrets ------------------------------------------------------------------------------------

def test_live_runs_leak_no_secret_to_logs_event_log_or_warehouse(tls_pg, tmp_path, monkeypatch, caplog, capfd):
    tag = uuid.uuid4().hex[:12]
    key = "0x" + (("5ec7e7" + tag) * 4)[:64]  # 64 hex digits, recognisable
    signer = Account.from_key(key).address
    api = {"apiKey": f"ak-{tag}-{uuid.uuid4()}", "passphrase": f"pp{tag}passphrase",
           "secret": base64.urlsafe_b64encode(f"api-secret-{tag}-0123456789".encode()).decode()}
    bad_key_value = f"0xnot-a-key-{tag}-" + "9" * 30
    url = tls_pg.new_database()  # password and sslmode=require in DATABASE_URL
    apply_migrations(url)
    world = StandInWorld(url)
    whale = world.wallet("whale", 8.5, "WHALE")
    (tmp_path / "key").write_text(key + "\n")
    (tmp_path / "api_secret").write_text(api["secret"])
    caplog.set_level(logging.DEBUG)

    with ClobServer() as clob, DiscordServer() as discord:
        clob.state.api_keys[api["apiKey"]] = {"address": signer.lower(), **api}
        webhook = f"{discord.base_url}/api/webhooks/777/whk-{tag}"
        env = {"DATABASE_URL": url, "ENABLE_PAPER_TRADING": "false", "ENABLE_LIVE_TRADING": "true",
               "MAX_POSITION_USD": "500", "MAX_DAILY_LOSS": "200", "CLOB_API_URL": clob.url,
               "POLYMARKET_PRIVATE_KEY_FILE": str(tmp_path / "key"), "CLOB_API_KEY": api["apiKey"],
               "CLOB_API_SECRET_FILE": str(tmp_path / "api_secret"), "CLOB_API_PASSPHRASE": api["passphrase"],
               "DISCORD_WEBHOOK_URL": webhook}
        for var, value in env.items():
            monkeypatch.setenv(var, value)
        announce_live_mode(load_trading_settings())
        world.trade(whale, world.market("secret 1", clob))
        world.trade(whale, world.market("secret 2", clob))

        storage = {"storage": {"postgres": {"postgres_url": {"env": "DATABASE_URL"}}}}  # as dagster.yaml
        with dg.instance_for_test(overrides=storage) as instance:
            def run() -> dg.ExecuteInProcessResult:
                return dg.materialize([signals_and_executions], instance=instance, resources={"trading": Trading()},
                                      raise_on_error=False)

            live = run()
            clob.state.balances[signer.lower()] = 0  # the next order is rejected by the CLOB
            world.trade(whale, world.market("secret 3", clob))
            rejected = run()
            (tmp_path / "key").write_text(bad_key_value)  # a bad key: the run fails with a config error
            broken = run()
            files = dump_files(Path(instance.root_directory))
            run_ids = [r.run_id for r in instance.get_runs()]
        deliveries = list(discord.posts)

    assert live.success and rejected.success and not broken.success
    md = {k: v.value for k, v in live.asset_materializations_for_node("signals_and_executions")[0].metadata.items()}
    assert md["broker"] == "live" and md["executed"] == 2 and len(clob.state.orders) == 2  # real orders, signed
    assert "POLYMARKET_PRIVATE_KEY=<hidden>" in broken.failure_data_for_node("signals_and_executions").error.message
    assert deliveries and all(p["path"] == f"/api/webhooks/777/whk-{tag}" for p in deliveries)  # the webhook was used

    out, err = capfd.readouterr()
    tables = dump_database(url)
    assert {"public.event_logs", "public.runs", "public.snapshots", "public.orderflow_signals"} <= set(tables)
    assert "LIVE TRADING IS ON" in err and "LIVE TRADING IS ON" in tables["public.event_logs"]  # the banner
    assert "signals_and_executions" in tables["public.snapshots"] and all(r in tables["public.runs"] for r in run_ids)
    assert "not enough balance" in tables["public.orderflow_signals"]
    secrets = {key, key.removeprefix("0x"), api["apiKey"], api["secret"], api["passphrase"], webhook,
               f"whk-{tag}", tls_pg.password, bad_key_value}
    haystacks = {"logs": caplog.text, "stdout": out, "stderr": err, "dagster files": files, **tables}
    assert leaks(secrets, haystacks) == set()

    # The scan finds what is there: plant two secrets and look again.
    with connect(url, autocommit=True) as conn:
        conn.execute("UPDATE orderflow_signals SET status_reason = %s WHERE id = (SELECT min(id) FROM orderflow_signals)",
                     (f"leak {api['passphrase']}",))
    logging.getLogger("planted").warning("leak %s", key.removeprefix("0x"))
    assert leaks(secrets, {"logs": caplog.text, **dump_database(url)}) == {
        ("public.orderflow_signals", api["passphrase"]), ("logs", key.removeprefix("0x"))}


# --- sslmode on every connection the project makes ----------------------------------------------

def _app(url: str, tmp_path: Path) -> None:
    with connect(url) as conn:
        conn.execute("SELECT 1")


def _migrations(url: str, tmp_path: Path) -> None:
    apply_migrations(url)


def _dbt_cli(url: str, tmp_path: Path, *args: str) -> None:
    """The dbt CLI on the repo's project and profile; its target and logs in tmp_path (not the shared ones)."""
    project = REPO / "dbt_project"
    env = {**os.environ, "DATABASE_URL": url, "DBT_TARGET_PATH": str(tmp_path / "dbt-target"),
           "DBT_LOG_PATH": str(tmp_path / "dbt-logs")}
    done = subprocess.run([str(Path(sys.executable).parent / "dbt"), *args, "--project-dir", str(project),
                           "--profiles-dir", str(project)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    if done.returncode != 0:
        raise RuntimeError(done.stdout + done.stderr)


def _dbt(url: str, tmp_path: Path) -> None:
    _dbt_cli(url, tmp_path, "debug")


def _dagster(url: str, tmp_path: Path) -> None:
    """The instance config `orderflow up` installs: storage from DATABASE_URL."""
    home = tmp_path / f"dagster-{uuid.uuid4().hex[:6]}"
    home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    os.environ["DATABASE_URL"] = url  # restored by the calling test's monkeypatch
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)


PATHS = {"app": _app, "migrations": _migrations, "dbt": _dbt, "dagster storage": _dagster}


def failure(connect_path, url: str, tmp_path: Path) -> str:
    """The error (with its causes: Dagster wraps the driver's) of a connection that must fail."""
    try:
        connect_path(url, tmp_path)
    except Exception as e:  # noqa: BLE001 - each path raises its own driver's error
        chain, err = [], e
        while err is not None:
            chain.append(str(err))
            err = err.__cause__ or err.__context__
        return "\n".join(chain)
    raise AssertionError(f"connected to {url} where it must not")


@pytest.mark.parametrize("path", PATHS)
def test_sslmode_require_fails_against_a_server_without_ssl(path, pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg_url)
    sep = "&" if "?" in pg_url else "?"
    PATHS[path](pg_url, tmp_path)  # connects as given (the embedded server has no SSL) ...
    # ... and refuses once the URL requires SSL
    assert "server does not support SSL, but SSL was required" in failure(PATHS[path], f"{pg_url}{sep}sslmode=require", tmp_path)


@pytest.mark.parametrize("path", PATHS)
def test_verify_full_with_a_password_file_connects_and_plaintext_is_refused(path, tls_pg, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "")
    url = tls_pg.new_database(sslmode=None, with_password=False)  # the password comes from PGPASSFILE
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{tls_pg.port}:*:{APP_ROLE}:{tls_pg.password}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    assert "no encryption" in failure(PATHS[path], f"{url}?sslmode=disable", tmp_path)  # no plaintext on this server
    PATHS[path](f"{url}?sslmode=verify-full&sslrootcert={tls_pg.root_cert}", tmp_path)


# --- the analysts' read-only role ---------------------------------------------------------------

MART_MODELS = {p.stem for p in (REPO / "dbt_project" / "models" / "marts").glob("orderflow_*.sql")}


def test_analyst_role_reads_the_orderflow_models_only(db_url, tmp_path):
    # a mart (and a view mart) built after the migration: their grants come from dbt's post-hook
    _dbt_cli(db_url, tmp_path, "build", "--select", "+orderflow_market_outcomes", "+orderflow_wallet_positions",
             "--resource-type", "model", "--resource-type", "seed")
    login = f"analyst_{uuid.uuid4().hex[:8]}"
    with connect(db_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE orderflow_analyst").format(sql.Identifier(login)))
        tables = [r[0] for r in admin.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' UNION ALL "
                                              "SELECT viewname FROM pg_views WHERE schemaname = 'public'")]
    readable = MART_MODELS | {"orderflow_signals", "orderflow_positions", "orderflow_performance"}
    assert {"orderflow_market_outcomes", "orderflow_wallet_positions", "orderflow_signals", "raw_order_fills",
            "orderflow_risk_state", "orderflow_incremental_state", "ingest_cursor", "stg_chain__order_fills"} <= set(tables)
    try:
        with connect(db_url, user=login, autocommit=True) as analyst:
            for t in tables:
                query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))
                if t in readable:
                    analyst.execute(query)
                else:
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        analyst.execute(query)
            for write in ("INSERT INTO orderflow_signals (signal_type, status, trigger_wallet, trigger_tx_hash, "
                          "trigger_log_index, condition_id, token_id) VALUES ('EXIT', 'PENDING', 'w', 't', 0, 'c', 1)",
                          "DELETE FROM orderflow_market_outcomes", "UPDATE orderflow_performance SET paused = true",
                          "TRUNCATE orderflow_positions", "CREATE TABLE analyst_scratch (x int)"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    analyst.execute(write)
    finally:
        with connect(db_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))
