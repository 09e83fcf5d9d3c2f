"""The trading asset: fresh scored trades -> signals -> risk-checked orders -> positions -> settlement."""


import dagster as dg

from orderflow_dagster.defs.trading.resources import Trading
from orderflow_dagster.trading.config import live_banner
from orderflow_dagster.trading.executor import Executor
from orderflow_dagster.warehouse.db import connect

# The dbt models this reads (dagster-dbt's default keys are the model names).
TRADES = dg.AssetKey(["orderflow_trades"])
WALLET_STATS = dg.AssetKey(["orderflow_wallet_stats"])
MARKET_OUTCOMES = dg.AssetKey(["orderflow_market_outcomes"])
ALERT_FLUSH_SECONDS = 5.0  # a bounded wait so queued alerts leave before the run process exits


@dg.asset(
    name="signals_and_executions",
    group_name="trading",
    deps=[TRADES, WALLET_STATS, MARKET_OUTCOMES],
    kinds={"postgres", "python"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Signals from fresh WHALE/SMART (and, when enabled, DEGEN) trades, executed under every risk "
    "limit in one locked transaction per decision (paper by default, live with two switches and a key); "
    "settles positions of resolved markets and writes the day's performance row.",
)
def signals_and_executions(context: dg.AssetExecutionContext, trading: Trading) -> dg.MaterializeResult:
    cfg = trading.settings()
    if cfg.live:  # in the run's event log too, where whoever watches the runs looks
        context.log.warning(live_banner(cfg))
    broker = trading.broker(cfg)
    alerter = trading.alerter(cfg)
    our_wallets = getattr(broker, "addresses", frozenset())
    try:
        with connect(trading.warehouse_url(), autocommit=True) as conn:
            report = Executor(conn, cfg, broker, alerter, our_wallets=our_wallets).run()
    finally:
        broker.close()
        alerter.flush(ALERT_FLUSH_SECONDS)
    md = report.as_metadata()
    context.log.info(
        f"{md['signals_made']} signals: {md['executed']} executed, {md['rejected']} rejected {md['rejected_reasons']}, "
        f"{md['skipped']} skipped, {md['failed']} failed; {md['open_positions']} open (${md['open_exposure_usd']}), "
        f"daily P&L ${md['daily_pnl_usd']}{' PAUSED' if md['paused'] else ''}")
    return dg.MaterializeResult(metadata={**md, "broker": broker.name, "alerts": alerter.enabled})
