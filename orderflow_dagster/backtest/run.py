"""One backtest: read the dbt models, walk [start, end) forward, write the report."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from orderflow_dagster.backtest.data import load_frames
from orderflow_dagster.backtest.engine import BacktestConfig, walk_forward
from orderflow_dagster.backtest.fills import FillModel
from orderflow_dagster.backtest.report import Report, build_report
from orderflow_dagster.trading.config import TradingSettings


def period(from_date: str | date, to_date: str | date) -> tuple[datetime, datetime]:
    """[start of from_date, end of to_date) in UTC: both days included."""
    days = [d if isinstance(d, date) else date.fromisoformat(d) for d in (from_date, to_date)]
    if days[1] < days[0]:
        raise ValueError(f"--to {days[1]} is before --from {days[0]}")
    start, last = (datetime.combine(d, time(0), tzinfo=timezone.utc) for d in days)
    return start, last + timedelta(days=1)


def fill_model_for(trading: TradingSettings, **overrides) -> FillModel:
    """The slippage model with the paper broker's fee rate and the live MAX_SLIPPAGE."""
    return FillModel(**{"fee_rate": trading.paper_fee_rate, "max_slippage": trading.max_slippage, **overrides})


def run_backtest(database_url: str, start: datetime, end: datetime, out_dir: Path, trading: TradingSettings,
                 n_resamples: int = 1000, **config) -> Report:
    frames = load_frames(database_url)
    cfg = BacktestConfig(start=start, end=end, trading=trading, fill=config.pop("fill", None) or fill_model_for(trading),
                         **config)
    result = walk_forward(frames, cfg)
    header = (f"# Backtest {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC\n\n"
              f"{frames.trades.height:,} fills and {frames.markets.height:,} markets read; stake ${cfg.stake_usd:g} "
              f"per entry; latency {cfg.fill.latency_seconds:g} s, half-spread {cfg.fill.half_spread:g}, "
              f"${cfg.fill.depth_usd_per_tick:g} per tick, fee rate {cfg.fill.fee_rate:g}, "
              f"max slippage {cfg.fill.max_slippage:g}.")
    return build_report(result, out_dir, header, n_resamples=n_resamples, seed=cfg.seed)
