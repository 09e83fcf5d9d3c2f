"""The dbt project's configuration, without a database: the contracts seed and the profile."""

from __future__ import annotations

import argparse
import csv

import pytest

from orderflow_dagster.chain.contracts import CONTRACTS
from tests.dbt.helpers import DBT_PROJECT_DIR


def test_contracts_seed_mirrors_the_registry():
    with open(DBT_PROJECT_DIR / "seeds" / "chain_contracts.csv", newline="") as f:
        seeded = {(r["address"], r["name"], r["kind"], int(r["generation"]), r["neg_risk"] == "true")
                  for r in csv.DictReader(f)}
    assert seeded == {(c.address, c.name, c.kind, c.generation, c.neg_risk) for c in CONTRACTS}


def _render_profile(monkeypatch, url: str):
    from dbt.config.profile import Profile, read_profile
    from dbt.config.renderer import ProfileRenderer
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context

    monkeypatch.setenv("DATABASE_URL", url)
    for var in ("DBT_SCHEMA", "DBT_THREADS"):
        monkeypatch.delenv(var, raising=False)
    set_from_args(argparse.Namespace(), None)
    set_invocation_context(dict(__import__("os").environ))
    profile = Profile.from_raw_profiles(read_profile(str(DBT_PROJECT_DIR)), "orderflow", ProfileRenderer({}))
    return profile.credentials


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://postgres@127.0.0.1:5432/orderflow",
         dict(host="127.0.0.1", port=5432, user="postgres", password="", database="orderflow", sslmode="prefer")),
        ("postgres://us%40er:p%40ss%3Aw:rd@db.example.com:6543/my%2Fdb?sslmode=require&sslrootcert=/x%20y/ca.pem",
         dict(host="db.example.com", port=6543, user="us@er", password="p@ss:w:rd", database="my/db",
              sslmode="require", sslrootcert="/x y/ca.pem")),
        ("postgresql://[::1]:5433/x", dict(host="::1", port=5433, user="postgres", database="x", sslmode="prefer")),
        ("postgresql://u:secret@localhost/db?application_name=a&sslmode=disable",
         dict(host="localhost", port=5432, user="u", password="secret", database="db", sslmode="disable")),
    ],
)
def test_profile_reads_everything_from_database_url(monkeypatch, url, expected):
    creds = _render_profile(monkeypatch, url)
    for key, value in expected.items():
        assert getattr(creds, key) == value, key
    assert creds.schema == "public"
