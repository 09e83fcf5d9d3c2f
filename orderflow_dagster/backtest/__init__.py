"""Walk-forward evaluation of the signal strategies on the dbt models (pure: no Dagster).

scoring.py  the dbt reputation formula as of any time (only trades and resolutions before it)
data.py     reads orderflow_trades / orderflow_market_outcomes into polars
fills.py    the slippage model: entry at the next traded price after a latency, through the broker's book walk
engine.py   strategies side by side, day by day
metrics.py  per-strategy metrics and the bootstrap over markets
report.py   equity curves, calibration plot, markdown summary
run.py      load -> walk -> report, for the CLI and the Dagster asset
"""
