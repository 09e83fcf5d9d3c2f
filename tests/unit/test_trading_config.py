"""Trading settings: bad values stop start-up naming the variable; live mode is explicit; secrets stay secret."""

import pytest

from orderflow_dagster.settings import ConfigError
from orderflow_dagster.trading.config import load_trading_settings

KEY = "0x" + "4c" * 32


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("ENABLE_PAPER_TRADING", "ENABLE_LIVE_TRADING", "POLYMARKET_PRIVATE_KEY", "MAX_POSITION_USD",
                "MAX_DAILY_LOSS", "DISCORD_WEBHOOK_URL"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("var, value", [
    ("MAX_POSITION_USD", "-5"), ("MAX_POSITION_USD", "lots"), ("MAX_OPEN_POSITIONS", "-1"),
    ("MAX_OPEN_POSITIONS", "2.5"), ("MAX_DAILY_LOSS", "0"), ("MIN_SIGNAL_CONFIDENCE", "1.2"),
    ("MIN_WHALE_SCORE", "11"), ("MAX_FADE_SCORE", "-1"), ("KELLY_FRACTION", "0"), ("KELLY_FRACTION", "1.5"),
    ("KELLY_FRACTION", "nan"), ("BANKROLL_USD", "-100"), ("MAX_MARKET_EXPOSURE_USD", "abc"),
    ("CLOB_API_URL", "ftp://clob"), ("ORDER_TYPE", "GTC"), ("ENABLE_WHALE_FOLLOWING", "perhaps"),
])
def test_bad_value_names_the_variable(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_trading_settings()
    assert var in str(err.value)


def test_defaults_are_the_documented_ones():
    s = load_trading_settings()
    assert (s.max_position_usd, s.max_open_positions, s.max_daily_loss, s.min_signal_confidence, s.min_whale_score,
            s.max_fade_score, s.kelly_fraction) == (1000, 5, 500, 0.7, 7.0, 3.0, 0.25)
    assert s.enable_whale_following and not s.enable_degen_fading and s.enable_paper_trading and not s.live


def test_kelly_fraction_of_one_is_allowed(monkeypatch):
    monkeypatch.setenv("KELLY_FRACTION", "1")
    assert load_trading_settings().kelly_fraction == 1.0


def test_live_mode_needs_two_switches_a_key_and_explicit_limits(monkeypatch):
    monkeypatch.setenv("ENABLE_PAPER_TRADING", "false")
    with pytest.raises(ConfigError) as err:
        load_trading_settings()
    msg = str(err.value)
    for needed in ("ENABLE_LIVE_TRADING", "POLYMARKET_PRIVATE_KEY", "MAX_POSITION_USD set explicitly",
                   "MAX_DAILY_LOSS set explicitly"):
        assert needed in msg
    monkeypatch.setenv("ENABLE_LIVE_TRADING", "true")
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", KEY)
    monkeypatch.setenv("MAX_POSITION_USD", "50")
    monkeypatch.setenv("MAX_DAILY_LOSS", "20")
    assert load_trading_settings().live


def test_live_switch_alone_is_refused(monkeypatch):
    monkeypatch.setenv("ENABLE_LIVE_TRADING", "true")
    with pytest.raises(ConfigError) as err:
        load_trading_settings()
    assert "ENABLE_PAPER_TRADING=false" in str(err.value)


def test_secrets_never_show(monkeypatch):
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", KEY)
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/1/tok3n-value")
    s = load_trading_settings()
    assert KEY not in repr(s) and "tok3n-value" not in repr(s) and KEY[2:] not in str(s)
    assert KEY in s.secret_values() and KEY[2:] in s.secret_values()
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", "0x1234-not-a-key-" + "9" * 40)
    with pytest.raises(ConfigError) as err:
        load_trading_settings()
    assert "POLYMARKET_PRIVATE_KEY=<hidden>" in str(err.value) and "9999" not in str(err.value)
