"""The backtest domain: one on-demand asset. Its `trading` resource comes from the trading domain."""

import dagster as dg

from orderflow_dagster.defs.backtest.assets import backtest_report

defs = dg.Definitions(assets=[backtest_report])
