"""Trading decided by the fast path (outside any run) recorded as a runless materialization of the
trading asset, with the same metadata as a run's, so the UI shows every decision's counts."""


import dagster as dg

from orderflow_dagster.trading.executor import RunReport

TRADING_ASSET = dg.AssetKey(["signals_and_executions"])


def report_trading(instance: dg.DagsterInstance, report: RunReport) -> None:
    md = {**report.as_metadata(), "path": "fast path (runless)"}
    instance.report_runless_asset_event(dg.AssetMaterialization(TRADING_ASSET, metadata=md))
