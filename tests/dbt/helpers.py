"""Running the dbt project from tests: the venv's dbt in a subprocess, DATABASE_URL in its env."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from orderflow_dagster.chain.markets import CONDITION_TOKEN_COLUMNS, condition_tokens
from orderflow_dagster.warehouse.db import connect

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DBT = str(Path(sys.executable).parent / "dbt")


def dbt(db_url: str, *args: str, target_path: Path | None = None, vars: dict | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    """`dbt <args> --project-dir dbt_project --profiles-dir dbt_project` from the repo root."""
    cmd = [DBT, *args, "--project-dir", "dbt_project", "--profiles-dir", "dbt_project"]
    if vars:
        cmd += ["--vars", json.dumps(vars)]
    if target_path is not None:
        cmd += ["--target-path", str(target_path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    env.update(DATABASE_URL=db_url, DBT_SEND_ANONYMOUS_USAGE_STATS="false", DBT_USE_COLORS="false")
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}")
    return proc


def sync_condition_tokens(db_url: str) -> int:
    """Make raw_condition_tokens hold the outcome tokens of every raw_conditions row.

    Stands in for the ingestion while it does not land raw_condition_tokens itself; a no-op once
    it does (rows already there are kept). Returns the rows inserted.
    """
    with connect(db_url) as conn:
        conn.execute(
            "DELETE FROM raw_condition_tokens ct WHERE NOT EXISTS (SELECT 1 FROM raw_conditions c"
            " WHERE c.chain_id = ct.chain_id AND c.tx_hash = ct.tx_hash AND c.log_index = ct.log_index)"
        )
        missing = pl.read_database(
            "SELECT c.* FROM raw_conditions c WHERE NOT EXISTS (SELECT 1 FROM raw_condition_tokens ct"
            " WHERE ct.chain_id = c.chain_id AND ct.tx_hash = c.tx_hash AND ct.log_index = c.log_index)",
            conn,
        )
        rows = condition_tokens(missing) if missing.height else None
        if rows is not None and rows.height:
            with conn.cursor() as cur, cur.copy(
                f"COPY raw_condition_tokens ({', '.join(CONDITION_TOKEN_COLUMNS)}) FROM STDIN"
            ) as cp:
                for row in rows.select(CONDITION_TOKEN_COLUMNS).iter_rows():
                    cp.write_row(row)
        conn.commit()
        return 0 if rows is None else rows.height


def table_snapshot(db_url: str, table: str, exclude: tuple[str, ...] = ("dbt_updated_at",)) -> list[tuple]:
    """Every row of a table or view as sorted tuples (numerics compared exactly), without the
    bookkeeping column saying when a row was last rebuilt."""
    with connect(db_url) as conn:
        cols = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall() if r[0] not in exclude]
        assert cols, f"no table {table}"
        select = ", ".join(f'"{c}"' for c in cols)
        rows = conn.execute(f"SELECT {select} FROM {table}").fetchall()
    return sorted(rows, key=lambda r: tuple((x is None, str(x)) for x in r))
