"""Bad configuration stops start-up with a message naming the variable."""

import pytest

from orderflow_dagster.cli import main
from orderflow_dagster.settings import ConfigError, load_settings


@pytest.mark.parametrize(
    "var, value",
    [
        ("CONFIRMATIONS", "-1"),
        ("CONFIRMATIONS", "many"),
        ("POLYGON_RPC_URL", "ftp://node"),
        ("DATABASE_URL", "mysql://x"),
        ("DATABASE_URL", "postgres://u@h/db"),  # libpq takes it, Dagster's storage does not
        ("RPC_TIMEOUT_SECONDS", "0"),
        ("RPC_CONCURRENCY", "0"),
        ("START_BLOCK", "-5"),
        ("SENSOR_INTERVAL_SECONDS", "1.5x"),
        ("HISTORY_RETENTION_DAYS", "0"),
        ("HISTORY_RETENTION_DAYS", "90d"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert var in str(err.value)


def test_secrets_are_not_echoed(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://user:hunter2@db/x")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "hunter2" not in str(err.value) and "DATABASE_URL" in str(err.value)


def test_defaults_use_the_local_chain(monkeypatch):
    monkeypatch.delenv("POLYGON_RPC_URL", raising=False)
    monkeypatch.setenv("ANVIL_PORT", "9545")
    s = load_settings()
    assert s.uses_local_chain and s.rpc_url == "http://127.0.0.1:9545" and s.confirmations == 5


def test_cli_exits_2_with_the_message(monkeypatch, capsys):
    monkeypatch.setenv("RPC_MAX_RETRIES", "-3")
    assert main(["status"]) == 2
    assert "RPC_MAX_RETRIES" in capsys.readouterr().err


def test_up_refuses_bad_trading_settings_before_starting_anything(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("ORDERFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KELLY_FRACTION", "1.5")
    assert main(["up"]) == 2
    assert "KELLY_FRACTION" in capsys.readouterr().err
    assert not (tmp_path / "home").exists()  # nothing was started or created
