"""The fast path: land each new block as soon as the node has it, and trade on it at once.

The sensor path costs a sensor tick (about 5 s), a follow run, a dbt refresh run and an eager
trading run, each a process that takes seconds to start: tens of seconds from a whale's fill to
our order. This loop (started by `orderflow up` unless FAST_PATH=false, or alone with
`orderflow fast-path`) polls the head and, when a block appears:
- lands it with the same `Ingestor.follow` as the Dagster asset (one transaction under the
  chain's advisory lock, cursor included), so the two never land a block twice;
- runs the same `Executor` (risk limits in one locked transaction per decision), which reads the
  new fills through the dbt view int_trades_since_refresh before any dbt run.
Each landing is handed to `on_landed` (the CLI reports it to Dagster as a runless
materialization of the raw assets, so the UI's history stays whole and the refresh sensor fires).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from orderflow_dagster.ingest import IngestResult, Ingestor
from orderflow_dagster.settings import Settings
from orderflow_dagster.trading.alerts import make_alerter
from orderflow_dagster.trading.brokers import make_broker
from orderflow_dagster.trading.config import TradingSettings
from orderflow_dagster.trading.executor import Executor, RunReport
from orderflow_dagster.warehouse.db import connect

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 30.0


@dataclass
class FastPathStats:
    ticks: int = 0
    landings: int = 0
    fills: int = 0
    executed: int = 0
    errors: int = 0
    last_error: str | None = None
    last_block: int | None = None
    waiting_for_models: bool = False


TRADING_READS = ("orderflow_trades", "int_trades_since_refresh", "orderflow_wallet_stats", "orderflow_market_outcomes")


def models_built(conn) -> bool:
    """Whether dbt has built every model the executor reads (not yet on a new install)."""
    row = conn.execute("SELECT bool_and(to_regclass(t) IS NOT NULL) FROM unnest(%s::text[]) AS t",
                       (list(TRADING_READS),)).fetchone()
    return bool(row[0])


class FastPath:
    def __init__(self, settings: Settings, trading: TradingSettings, database_url: str,
                 on_landed: Callable[[IngestResult], None] | None = None,
                 on_traded: Callable[[RunReport], None] | None = None):
        self.settings = settings
        self.trading = trading
        self.database_url = database_url
        self.ingestor = Ingestor(settings, database_url)
        self.on_landed = on_landed
        self.on_traded = on_traded
        self.stats = FastPathStats()
        self.broker = make_broker(trading)  # kept: a live broker's client derives credentials once
        self.alerter = make_alerter(trading)

    def close(self) -> None:
        self.broker.close()
        self.alerter.flush(5.0)

    def tick(self) -> IngestResult | None:
        """Land what is new (reorgs repaired first) and, if anything landed, trade on it."""
        self.stats.ticks += 1
        head = self.ingestor.client.block_number()
        if self.stats.last_block is not None and head <= self.stats.last_block:
            return None  # nothing new: one cheap call per poll
        result = self.ingestor.follow()
        self.stats.last_block = result.to_block if result.to_block is not None else head
        if result.from_block is None:
            return result
        self.stats.landings += 1
        self.stats.fills += result.fills
        if self.on_landed is not None:
            self.on_landed(result)
        # also right after a pause for missing models (a dbt run rebuilding them), so signals
        # held back then go out at the next block, not at the next block with fills
        if result.fills or self.stats.waiting_for_models:
            report = self.trade()
            self.stats.executed += report.executed
            if self.on_traded is not None and (report.signals_made or report.settled):
                self.on_traded(report)
        return result

    def trade(self) -> RunReport:
        with connect(self.database_url, autocommit=True) as conn:
            if not models_built(conn):
                if not self.stats.waiting_for_models:
                    log.info("fast path: landing only until dbt has built the models trading reads "
                             "(the first scoring, or a run rebuilding them)")
                self.stats.waiting_for_models = True
                return RunReport()
            self.stats.waiting_for_models = False
            our = getattr(self.broker, "addresses", frozenset())
            return Executor(conn, self.trading, self.broker, self.alerter, our_wallets=our).run()

    def run_forever(self, stop: threading.Event, poll_seconds: float) -> FastPathStats:
        """Tick every poll_seconds until stop is set; errors are logged and retried with backoff."""
        backoff = poll_seconds
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.tick()
                backoff = poll_seconds
            except Exception as e:  # noqa: BLE001 - the loop must outlive a flaky node or database
                self.stats.errors += 1
                self.stats.last_error = f"{type(e).__name__}: {e}"
                log.warning("fast path tick failed (retrying in %.1f s): %s", backoff, self.stats.last_error)
                self.stats.last_block = None  # look again from the database cursor
                stop.wait(backoff)
                backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)
                continue
            stop.wait(max(0.0, poll_seconds - (time.monotonic() - started)))
        return self.stats


def run_fast_path(settings: Settings, database_url: str, stop: threading.Event, poll_seconds: float,
                  dagster_home: str | None = None) -> FastPathStats:
    """The loop, its landings reported to the Dagster instance in dagster_home (default: $DAGSTER_HOME) if any."""
    import os

    from orderflow_dagster.trading.config import load_trading_settings

    on_landed = on_traded = None
    instance = None
    dagster_home = dagster_home or os.environ.get("DAGSTER_HOME")
    if dagster_home:
        import dagster as dg

        from orderflow_dagster.defs.ingestion.runless import report_landing

        from orderflow_dagster.defs.trading.runless import report_trading

        instance = dg.DagsterInstance.from_config(dagster_home)
        on_landed = lambda result: report_landing(instance, result, settings.partition_size_blocks)  # noqa: E731
        on_traded = lambda report: report_trading(instance, report)  # noqa: E731
    fast = FastPath(settings, load_trading_settings(), database_url, on_landed=on_landed, on_traded=on_traded)
    log.info("fast path: polling the head every %.2f s", poll_seconds)
    try:
        return fast.run_forever(stop, poll_seconds)
    finally:
        fast.close()
        if instance is not None:
            instance.dispose()
