"""Secrets from the environment or a file named in it; live mode is loud and its limits explicit."""

import io
import logging

import pytest
from eth_account import Account

from orderflow_dagster.settings import ConfigError
from orderflow_dagster.trading.config import (
    SECRET_FIELDS, TradingSettings, announce_live_mode, live_banner, load_trading_settings,
)

KEY = "0x" + "5d" * 32
LIVE_ENV = {"ENABLE_PAPER_TRADING": "false", "ENABLE_LIVE_TRADING": "true", "MAX_POSITION_USD": "40",
            "MAX_DAILY_LOSS": "15"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in SECRET_FIELDS:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(f"{name.upper()}_FILE", raising=False)
    for var in (*LIVE_ENV, "CLOB_FUNDER"):
        monkeypatch.delenv(var, raising=False)


def test_every_secret_field_is_a_secret_str():
    for name in SECRET_FIELDS:
        assert "SecretStr" in repr(TradingSettings.model_fields[name].annotation), name


def test_secret_from_a_file_named_in_the_environment(monkeypatch, tmp_path):
    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "hook").write_text("https://discord.test/api/webhooks/9/t0ken-in-a-file")
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("DISCORD_WEBHOOK_URL_FILE", str(tmp_path / "hook"))
    s = load_trading_settings()
    assert s.polymarket_private_key.get_secret_value() == KEY  # trailing newline stripped
    assert s.discord_webhook_url.get_secret_value().endswith("t0ken-in-a-file")
    assert KEY not in repr(s) and "t0ken" not in repr(s)


def test_a_secret_file_is_validated_like_the_variable(monkeypatch, tmp_path):
    (tmp_path / "key").write_text("not-a-key-" + "7" * 40)
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY_FILE", str(tmp_path / "key"))
    with pytest.raises(ConfigError) as err:
        load_trading_settings()
    assert "POLYMARKET_PRIVATE_KEY=<hidden>" in str(err.value) and "7777" not in str(err.value)


def test_missing_secret_file_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("CLOB_API_SECRET_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigError) as err:
        load_trading_settings()
    assert "CLOB_API_SECRET_FILE" in str(err.value) and "cannot read" in str(err.value)


def test_variable_and_file_together_are_refused(monkeypatch, tmp_path):
    (tmp_path / "key").write_text(KEY)
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", KEY)
    with pytest.raises(ConfigError) as err:
        load_trading_settings()
    assert "POLYMARKET_PRIVATE_KEY or POLYMARKET_PRIVATE_KEY_FILE" in str(err.value)


def test_a_file_key_counts_as_the_key_present_switch(monkeypatch, tmp_path):
    for var, value in LIVE_ENV.items():
        monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match="POLYMARKET_PRIVATE_KEY"):
        load_trading_settings()
    (tmp_path / "key").write_text(KEY)
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY_FILE", str(tmp_path / "key"))
    assert load_trading_settings().live


@pytest.mark.parametrize("limit", ["MAX_POSITION_USD", "MAX_DAILY_LOSS"])
def test_live_mode_needs_each_limit_set_explicitly(monkeypatch, limit):
    for var, value in LIVE_ENV.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", KEY)
    monkeypatch.delenv(limit)
    with pytest.raises(ConfigError) as err:
        load_trading_settings()
    assert f"{limit} set explicitly" in str(err.value)
    other = ({"MAX_POSITION_USD", "MAX_DAILY_LOSS"} - {limit}).pop()
    assert f"{other} set explicitly" not in str(err.value)


def test_live_banner_is_loud_names_limits_and_no_secret(monkeypatch, caplog):
    for var, value in LIVE_ENV.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", KEY)
    monkeypatch.setenv("CLOB_API_SECRET", "c2VjcmV0LWZvci10aGUtYmFubmVyLXRlc3Q=")
    monkeypatch.setenv("CLOB_API_KEY", "banner-api-key")
    monkeypatch.setenv("CLOB_API_PASSPHRASE", "banner-passphrase")
    cfg = load_trading_settings()
    out = io.StringIO()
    with caplog.at_level(logging.WARNING):
        banner = announce_live_mode(cfg, stream=out)
    assert banner and out.getvalue().strip() == banner and banner in caplog.text
    assert "LIVE TRADING IS ON" in banner and "MAX_POSITION_USD=40" in banner and "MAX_DAILY_LOSS=15" in banner
    assert Account.from_key(KEY).address in banner
    for secret in cfg.secret_values():
        assert secret not in banner


def test_paper_mode_has_no_banner():
    cfg = load_trading_settings()
    out = io.StringIO()
    assert live_banner(cfg) is None and announce_live_mode(cfg, stream=out) is None and out.getvalue() == ""


# --- scrubbing secrets from text that leaves the process ---------------------------------------

def test_a_short_secret_inside_a_longer_one_does_not_shield_the_rest_of_it():
    from orderflow_dagster.trading.alerts import scrub

    hook = "http://127.0.0.1:8080/api/webhooks/777/whk-s3cr3t-token"
    # "http://" was registered by another (broken) alerter in the same process
    out = scrub(f"POST {hook} 204", ["http://", hook])
    assert "whk-s3cr3t-token" not in out and out == "POST [redacted] 204"


def test_a_webhook_token_is_scrubbed_even_where_the_url_is_spelled_differently():
    from orderflow_dagster.trading.alerts import scrub, url_secrets

    hook = "https://discord.com/api/webhooks/777/whk-s3cr3t-token"
    secrets = url_secrets(hook)
    assert secrets == [hook, "whk-s3cr3t-token"] and url_secrets("http://") == ["http://"] and url_secrets(None) == []
    out = scrub("POST https://DISCORD.com/api/webhooks/777/whk-s3cr3t-token?wait=true", secrets)
    assert "whk-s3cr3t-token" not in out
