"""Fault suite fixtures: a dedicated embedded Postgres that tests may kill, and the shared parts.

The session's shared server (tests/conftest.py) is never killed; scenarios that crash or starve
the database use `fault_pg`, a server of their own in a temporary directory.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from psycopg import sql

from orderflow_dagster.warehouse.db import connect, url_with_database
from orderflow_dagster.warehouse.embedded import EmbeddedPostgres
from orderflow_dagster.warehouse.migrate import apply_migrations
from tests.integration.conftest import anvil, db_url, replayer  # noqa: F401 - fixtures reused here
from tests.integration.test_trading import clob  # noqa: F401 - fixture reused here

# Small, so the connection-limit scenario can occupy every slot cheaply.
FAULT_PG_MAX_CONNECTIONS = 12


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults_long: slow fault scenario, left out of the short form (make test)")


@pytest.fixture(scope="session")
def fault_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A Postgres server only the fault tests use (they kill it); restarted by `fault_db` if down."""
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("fault-pg"))
    pg.start()
    with connect(pg.admin_url, autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET max_connections = {FAULT_PG_MAX_CONNECTIONS}")
    pg.stop()
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture
def make_fault_db(fault_pg: EmbeddedPostgres) -> Iterator:
    """Factory of fresh, migrated databases on the dedicated server, dropped after the test."""
    names: list[str] = []

    def make() -> str:
        fault_pg.start()  # a no-op when running; brings it back after a test that killed it and failed
        name = f"f_{uuid.uuid4().hex[:10]}"
        with connect(fault_pg.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        names.append(name)
        url = url_with_database(fault_pg.admin_url, name)
        apply_migrations(url)
        return url

    yield make
    fault_pg.start()
    with connect(fault_pg.admin_url, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def fault_db(make_fault_db) -> str:
    return make_fault_db()
