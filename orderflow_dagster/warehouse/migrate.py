"""Apply migrations/ in order, each exactly once, each inside a transaction (yoyo-migrations).

yoyo records applied migrations in its own table and holds a lock while applying, so two
processes starting at once (webserver and daemon) apply nothing twice.
"""

from __future__ import annotations

import logging
from pathlib import Path

from yoyo import get_backend, read_migrations

from orderflow_dagster.settings import REPO_ROOT

log = logging.getLogger(__name__)
MIGRATIONS_DIR = REPO_ROOT / "migrations"


def _yoyo_url(url: str) -> str:
    # psycopg 3 driver; the rest of the URL (host, sslmode, ...) passes through unchanged.
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg://{rest}"


def apply_migrations(url: str, migrations_dir: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration; return the ids applied now (empty when up to date)."""
    backend = get_backend(_yoyo_url(url))
    try:
        migrations = read_migrations(str(migrations_dir))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    finally:
        # yoyo has no close(): its connection sits in a reference cycle and stayed open (a server
        # slot taken) until the garbage collector ran, whenever that was
        backend.connection.close()
    applied = [m.id for m in pending]
    for mid in applied:
        log.info("applied migration %s", mid)
    return applied
