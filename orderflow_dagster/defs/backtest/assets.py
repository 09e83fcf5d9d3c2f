"""The backtest as an asset: materialized on demand (no automation), from the dbt marts it reads."""

import base64
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg

from orderflow_dagster.backtest.run import period, run_backtest
from orderflow_dagster.defs.trading.resources import Trading
from orderflow_dagster.settings import load_settings

# The dbt models it reads (dagster-dbt's default keys are the model names).
TRADES = dg.AssetKey(["orderflow_trades"])
MARKET_OUTCOMES = dg.AssetKey(["orderflow_market_outcomes"])


class BacktestRun(dg.Config):
    from_date: str = ""  # YYYY-MM-DD; empty: 30 days before to_date
    to_date: str = ""  # YYYY-MM-DD, included; empty: yesterday (UTC)
    out_dir: str = ""  # empty: $ORDERFLOW_HOME/dagster/backtests/<from>_<to>
    stake_usd: float = 100.0
    resamples: int = 1000
    seed: int = 0


def _png_markdown(title: str, path: Path) -> str:
    return f"![{title}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})"


@dg.asset(
    name="backtest_report",
    group_name="backtest",
    deps=[TRADES, MARKET_OUTCOMES],
    kinds={"postgres", "python"},
    description="Walk-forward evaluation of whale-follow, degen-fade and three controls over a period, with "
    "as-of reputations (no look-ahead), modelled fills and bootstrap intervals over markets. On demand only.",
)
def backtest_report(context: dg.AssetExecutionContext, config: BacktestRun, trading: Trading) -> dg.MaterializeResult:
    to_date = config.to_date or (datetime.now(timezone.utc).date() - timedelta(days=1)).isoformat()
    from_date = config.from_date or (datetime.fromisoformat(to_date).date() - timedelta(days=29)).isoformat()
    try:
        start, end = period(from_date, to_date)
    except ValueError as e:
        raise dg.Failure(description=str(e)) from None
    out = Path(config.out_dir) if config.out_dir else load_settings().dagster_home / "backtests" / f"{from_date}_{to_date}"
    report = run_backtest(trading.warehouse_url(), start, end, out, trading.settings(), n_resamples=config.resamples,
                          stake_usd=config.stake_usd, seed=config.seed)
    context.log.info(f"backtest {from_date}..{to_date}: report in {out}")
    values = {(r["strategy"], r["metric"]): r["value"] for r in report.table.iter_rows(named=True)}
    return dg.MaterializeResult(metadata={
        "summary": dg.MetadataValue.md(report.markdown),
        "equity_curves": dg.MetadataValue.md(_png_markdown("equity curves", report.files["equity_curves"])),
        "calibration": dg.MetadataValue.md(_png_markdown("calibration", report.files["calibration"])),
        "report_dir": dg.MetadataValue.path(str(out)),
        **{f"{s}_{m}": dg.MetadataValue.float(float(v)) for (s, m), v in values.items()
           if m in ("trades", "pnl", "roi") and v is not None},
    })
