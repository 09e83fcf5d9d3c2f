"""The backtest's report: metrics table with intervals, equity curves, calibration, markdown."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only, never a window

from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from orderflow_dagster.backtest.engine import STRATEGIES, WalkResult  # noqa: E402
from orderflow_dagster.backtest.metrics import METRICS, Settled, bootstrap_over_markets, metrics  # noqa: E402

CALIBRATION_BINS = np.linspace(0.0, 1.0, 11)


@dataclass
class Report:
    table: pl.DataFrame  # strategy, metric, value, ci_low, ci_high
    counts: pl.DataFrame  # strategy, status, reason, n
    open_fills: dict[str, int]  # strategy -> fills in markets unresolved when the data ends (excluded)
    markdown: str
    files: dict[str, Path]


def metrics_table(fills: pl.DataFrame, n_resamples: int, seed: int) -> pl.DataFrame:
    rows = []
    for strategy in STRATEGIES:
        s = Settled.from_frame(fills.filter(pl.col("strategy") == strategy))
        point, ci = metrics(s), bootstrap_over_markets(s, n_resamples, seed=seed)
        rows += [{"strategy": strategy, "metric": k, "value": point[k],
                  "ci_low": ci[k][0] if ci[k] else None, "ci_high": ci[k][1] if ci[k] else None} for k in METRICS]
    return pl.DataFrame(rows, schema={"strategy": pl.String, "metric": pl.String, "value": pl.Float64,
                                      "ci_low": pl.Float64, "ci_high": pl.Float64})


def calibration(fills: pl.DataFrame) -> pl.DataFrame:
    """Per strategy and bin of predicted win probability: mean predicted, how often the outcome bought won, fills."""
    resolved = fills.filter(pl.col("outcome_won").is_not_null())
    bins = np.clip(np.digitize(resolved["predicted_q"].to_numpy(), CALIBRATION_BINS[1:-1]), 0, 9)
    return (resolved.with_columns(pl.Series("bin", bins, dtype=pl.Int64)).group_by("strategy", "bin")
            .agg(pl.col("predicted_q").mean().alias("predicted"),
                 pl.col("outcome_won").cast(pl.Float64).mean().alias("realised"),
                 pl.len().alias("fills")).sort("strategy", "bin"))


def plot_equity(fills: pl.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 5))
    for strategy in STRATEGIES:
        f = fills.filter((pl.col("strategy") == strategy) & pl.col("closed_at").is_not_null()).sort("closed_at")
        if f.height:
            ax.step(f["closed_at"].to_list(), np.cumsum(f["pnl"].to_numpy()), where="post", label=f"{strategy} ({f.height})")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(title="Cumulative P&L of closed positions, per strategy (flat stake)", xlabel="closed at (UTC)",
           ylabel="P&L (USD)")
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_calibration(cal: pl.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfect calibration")
    for strategy in STRATEGIES:
        c = cal.filter(pl.col("strategy") == strategy)
        if c.height:
            ax.plot(c["predicted"], c["realised"], marker="o", label=f"{strategy} ({int(c['fills'].sum())})")
    ax.set(title="Predicted (sizing q) vs realised: did the outcome bought win?", xlabel="predicted win probability",
           ylabel="share of outcomes bought that won", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _fmt(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    if metric == "trades":
        return f"{v:.0f}"
    if metric in ("win_rate", "edge_per_dollar", "roi"):
        return f"{v * 100:.1f}%"
    return f"{v:,.2f}"


def markdown(table: pl.DataFrame, counts: pl.DataFrame, open_fills: dict[str, int], header: str) -> str:
    lines = [header, "", "| strategy | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    for strategy in STRATEGIES:
        cells = []
        for r in table.filter(pl.col("strategy") == strategy).iter_rows(named=True):
            ci = f" [{_fmt(r['metric'], r['ci_low'])}, {_fmt(r['metric'], r['ci_high'])}]" if r["ci_low"] is not None else ""
            cells.append(_fmt(r["metric"], r["value"]) + ci)
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    lines += ["", "95% intervals by bootstrap over markets. Fills in markets unresolved when the data ends "
              "are excluded: " + ", ".join(f"{s} {n}" for s, n in open_fills.items()) + ".", "",
              "| strategy | decision | status | reason | count |", "|---|---|---|---|---|"]
    lines += [f"| {r['strategy']} | {r['kind']} | {r['status']} | {r['reason'] or ''} | {r['n']} |"
              for r in counts.iter_rows(named=True)]
    return "\n".join(lines) + "\n"


def build_report(result: WalkResult, out_dir: Path, header: str, n_resamples: int = 1000, seed: int = 0) -> Report:
    """Metrics with intervals, the two pictures and report.md (plus the fills as CSV) in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = metrics_table(result.fills, n_resamples, seed)
    counts = (result.decisions.group_by("strategy", "kind", "status", "reason").agg(pl.len().alias("n"))
              .sort("strategy", "kind", "status", "n", descending=[False, False, False, True]))
    open_fills = {s: result.fills.filter((pl.col("strategy") == s) & pl.col("closed_at").is_null()).height
                  for s in STRATEGIES}
    md = markdown(table, counts, open_fills, header)
    files = {"equity_curves": plot_equity(result.fills, out_dir / "equity_curves.png"),
             "calibration": plot_calibration(calibration(result.fills), out_dir / "calibration.png"),
             "report": out_dir / "report.md", "fills": out_dir / "fills.csv", "metrics": out_dir / "metrics.csv"}
    files["report"].write_text(md + "\n![equity curves](equity_curves.png)\n\n![calibration](calibration.png)\n")
    result.fills.write_csv(files["fills"])
    table.write_csv(files["metrics"])
    return Report(table, counts, open_fills, md, files)
