"""Postgres for tests: DATABASE_URL when set, otherwise an embedded server for the session.

pg_server_url  session: URL of a database on the server (DATABASE_URL as given, or the embedded
               server's 'orderflow' database); used as the admin connection for pg_url.
pg_url         per test: URL of a fresh, uniquely named database, dropped (WITH (FORCE)) after.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest
from psycopg import sql

from orderflow_dagster.warehouse.db import connect, url_with_database


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from orderflow_dagster.warehouse.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(tmp_path_factory.mktemp("embedded-pg"))
    url = pg.start()
    try:
        yield url
    finally:
        pg.stop()


@pytest.fixture
def pg_url(pg_server_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40]
    name = f"t_{slug}_{uuid.uuid4().hex[:8]}"  # <= 63 bytes, Postgres's identifier limit
    with connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url_with_database(pg_server_url, name)
    finally:
        with connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def make_database(pg_server_url: str) -> Iterator:
    """Factory for extra fresh databases in one test (e.g. a clean run beside a faulty one)."""
    names: list[str] = []

    def make(label: str = "extra") -> str:
        name = f"t_{label}_{uuid.uuid4().hex[:8]}"
        with connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        names.append(name)
        return url_with_database(pg_server_url, name)

    yield make
    with connect(pg_server_url, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
