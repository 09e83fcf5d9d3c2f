"""The trading resource: settings from the environment (or explicit values in tests), broker, alerter."""


import dagster as dg

from orderflow_dagster.settings import ConfigError, load_settings
from orderflow_dagster.trading.alerts import DiscordAlerter, make_alerter
from orderflow_dagster.trading.brokers import Broker, LiveTradingRefused, make_broker
from orderflow_dagster.trading.config import TradingSettings, load_trading_settings


class Trading(dg.ConfigurableResource):
    """Where trading reads and writes. Unset values come from the environment (see the README)."""

    database_url: str | None = None
    clob_api_url: str | None = None

    def settings(self) -> TradingSettings:
        overrides = {"clob_api_url": self.clob_api_url} if self.clob_api_url else {}
        try:
            return load_trading_settings(**overrides)
        except ConfigError as e:  # SystemExit inside a run worker would hide the message
            raise dg.Failure(description=str(e)) from None

    def warehouse_url(self) -> str:
        try:
            return self.database_url or load_settings().require_database_url()
        except ConfigError as e:
            raise dg.Failure(description=str(e)) from None

    def broker(self, cfg: TradingSettings) -> Broker:
        try:
            return make_broker(cfg)
        except LiveTradingRefused as e:
            raise dg.Failure(description=str(e)) from None

    @staticmethod
    def alerter(cfg: TradingSettings) -> DiscordAlerter:
        return make_alerter(cfg)
