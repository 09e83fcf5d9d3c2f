"""Trading settings, read from the environment (names and defaults as in the README).

A bad value stops start-up with a `ConfigError` naming the variable. Secrets (the private key,
CLOB API credentials, the Discord webhook URL, which carries a token) are `SecretStr`: they
never appear in `repr`, logs or error messages.

Each secret may instead come from a file whose path is in `<NAME>_FILE` (e.g.
POLYMARKET_PRIVATE_KEY_FILE=/run/secrets/polymarket_key, as Docker and Kubernetes mount secrets);
setting both is an error.

Live trading needs two explicit switches (ENABLE_PAPER_TRADING=false and ENABLE_LIVE_TRADING=true),
a key, and MAX_POSITION_USD / MAX_DAILY_LOSS set explicitly rather than left at their defaults;
`announce_live_mode` prints a loud banner when it is on.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Annotated, Literal, TextIO

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from orderflow_dagster.settings import ConfigError, explain_validation_error

PUBLIC_CLOB_URL = "https://clob.polymarket.com"
_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")

Usd = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Fraction01 = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Score = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]


log = logging.getLogger(__name__)

SECRET_FIELDS = ("polymarket_private_key", "clob_api_key", "clob_api_secret", "clob_api_passphrase",
                 "discord_webhook_url")


class LiveModeError(ValueError):
    """A live-mode precondition is missing; the message names the variables."""


class _SecretFiles(PydanticBaseSettingsSource):
    """<NAME>_FILE: the path of a file holding the secret NAME (surrounding whitespace stripped)."""

    def get_field_value(self, field, field_name):  # abstract in the base; __call__ does the work
        return None, field_name, False

    def __call__(self) -> dict[str, str]:
        env = {k.upper(): v for k, v in os.environ.items()}
        out = {}
        for name in SECRET_FIELDS:
            var, file_var = name.upper(), f"{name.upper()}_FILE"
            path = env.get(file_var)
            if not path:
                continue
            if env.get(var):
                raise ConfigError(f"Invalid trading configuration:\n  set {var} or {file_var}, not both")
            try:
                with open(path, encoding="utf-8") as f:
                    out[name] = f.read().strip()
            except OSError as e:
                raise ConfigError(f"Invalid trading configuration:\n  {file_var}={path!r}: "
                                  f"cannot read it ({e.strerror})") from None
        return out


class TradingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        # explicit values, then the environment, then <NAME>_FILE
        return init_settings, env_settings, _SecretFiles(settings_cls), dotenv_settings, file_secret_settings

    # Strategies
    enable_whale_following: bool = True
    enable_degen_fading: bool = False

    # Brokers: paper by default; live needs both switches flipped and a key
    enable_paper_trading: bool = True
    enable_live_trading: bool = False
    clob_api_url: str = PUBLIC_CLOB_URL
    clob_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    order_type: Literal["FOK", "FAK"] = "FOK"
    chain_id: Annotated[int, Field(ge=1)] = 137
    polymarket_private_key: SecretStr | None = None
    clob_api_key: SecretStr | None = None
    clob_api_secret: SecretStr | None = None
    clob_api_passphrase: SecretStr | None = None
    clob_signature_type: Annotated[int, Field(ge=0, le=2)] = 0  # 0 EOA, 1 Polymarket proxy, 2 Gnosis safe
    clob_funder: str | None = None  # address holding the funds (proxy/safe); default: the key's address
    our_wallet_address: str | None = None  # never follow ourselves (the key's address is added in live mode)

    # Risk limits
    max_position_usd: Usd = 1000.0
    max_open_positions: Annotated[int, Field(ge=0)] = 5
    max_daily_loss: Usd = 500.0
    max_market_exposure_usd: Usd = 1000.0
    min_signal_confidence: Fraction01 = 0.7
    min_whale_score: Score = 7.0
    max_fade_score: Score = 3.0
    kelly_fraction: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.25
    bankroll_usd: Usd = 10_000.0

    # Signal filters
    signal_max_age_seconds: Annotated[float, Field(gt=0)] = 300.0
    signal_lookback_seconds: Annotated[float, Field(gt=0)] = 3600.0
    min_signal_price: Annotated[float, Field(gt=0, lt=0.5)] = 0.02
    max_signal_price: Annotated[float, Field(gt=0.5, lt=1)] = 0.98
    max_slippage: Annotated[float, Field(gt=0, lt=1)] = 0.03  # worst price = trigger price +/- this
    paper_fee_rate: Annotated[float, Field(ge=0, lt=1)] = 0.0  # fee = shares * rate * p * (1 - p)
    trading_batch_limit: Annotated[int, Field(ge=1, le=100_000)] = 500

    # Alerts
    discord_webhook_url: SecretStr | None = None
    alert_min_confidence: Fraction01 = 0.8

    @field_validator("polymarket_private_key")
    @classmethod
    def _key_shape(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or v.get_secret_value() == "":
            return None
        if not _HEX_KEY.match(v.get_secret_value()):
            raise ValueError("must be 32 bytes of hex (64 hex digits, optional 0x)")
        return v

    @field_validator("clob_funder", "our_wallet_address")
    @classmethod
    def _address_shape(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not _ADDRESS.match(v):
            raise ValueError("must be a 0x-prefixed 20-byte hex address")
        return v.lower()

    @field_validator("clob_api_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("discord_webhook_url")
    @classmethod
    def _webhook_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or v.get_secret_value() == "":
            return None
        if not v.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v

    @model_validator(mode="after")
    def _live_mode_is_explicit(self) -> TradingSettings:
        if self.min_signal_price >= self.max_signal_price:
            raise ValueError("MIN_SIGNAL_PRICE must be below MAX_SIGNAL_PRICE")
        if self.enable_paper_trading:
            if self.enable_live_trading:
                raise LiveModeError("ENABLE_LIVE_TRADING=true needs ENABLE_PAPER_TRADING=false too (two explicit switches)")
            return self
        missing = []
        if not self.enable_live_trading:
            missing.append("ENABLE_LIVE_TRADING=true (second switch)")
        if self.polymarket_private_key is None:
            missing.append("POLYMARKET_PRIVATE_KEY")
        for name in ("max_position_usd", "max_daily_loss"):
            if name not in self.model_fields_set:
                missing.append(f"{name.upper()} set explicitly")
        creds = [self.clob_api_key, self.clob_api_secret, self.clob_api_passphrase]
        if any(creds) and not all(creds):
            missing.append("all three of CLOB_API_KEY, CLOB_API_SECRET, CLOB_API_PASSPHRASE (or none, to derive them)")
        if missing:
            raise LiveModeError("ENABLE_PAPER_TRADING=false (live trading) needs: " + ", ".join(missing))
        return self

    @property
    def live(self) -> bool:
        return not self.enable_paper_trading

    def secret_values(self) -> list[str]:
        """Every configured secret, for scrubbing text that leaves the process (alerts)."""
        out = []
        for s in (self.polymarket_private_key, self.clob_api_key, self.clob_api_secret, self.clob_api_passphrase,
                  self.discord_webhook_url):
            if s is not None and s.get_secret_value():
                value = s.get_secret_value()
                out.append(value)
                if value.lower().startswith("0x"):
                    out.append(value[2:])
        return out


_SECRET_FIELDS = {name.upper() for name in SECRET_FIELDS}

_BANNER_RULE = "!" * 78


def live_banner(cfg: TradingSettings) -> str | None:
    """The loud start-up banner for live trading (None in paper mode). Names no secret."""
    if not cfg.live:
        return None
    from eth_account import Account

    signer = Account.from_key(cfg.polymarket_private_key.get_secret_value()).address
    lines = [
        "LIVE TRADING IS ON: real orders, real money",
        f"CLOB {cfg.clob_api_url} (chain {cfg.chain_id}), signer {signer}, funder {cfg.clob_funder or signer}",
        f"MAX_POSITION_USD={cfg.max_position_usd:g} MAX_DAILY_LOSS={cfg.max_daily_loss:g} "
        f"MAX_OPEN_POSITIONS={cfg.max_open_positions} ORDER_TYPE={cfg.order_type}",
        "to stop: ENABLE_PAPER_TRADING=true (or unset ENABLE_LIVE_TRADING) and restart",
    ]
    return "\n".join([_BANNER_RULE, *(f"!!! {line}" for line in lines), _BANNER_RULE])


def announce_live_mode(cfg: TradingSettings, stream: TextIO | None = None) -> str | None:
    """Print the live banner to stderr and log it (a warning); nothing in paper mode."""
    banner = live_banner(cfg)
    if banner:
        print(banner, file=stream or sys.stderr, flush=True)
        log.warning("%s", banner)
    return banner


def load_trading_settings(**overrides) -> TradingSettings:
    """Read trading settings from the environment; exit with a message naming the bad variable."""
    try:
        return TradingSettings(**overrides)
    except ValidationError as err:
        raise ConfigError(explain_validation_error(err, "Invalid trading configuration:", _SECRET_FIELDS)) from None
