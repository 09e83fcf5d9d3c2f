"""The backtest on dbt-built models: scripted markets replayed on anvil over two weeks of chain time,
landed by the real Ingestor, built by `dbt build`, then read back by the backtest.

- As-of scoring equals dbt's: the reputation of every wallet computed in Python as of T, from all
  the data, equals orderflow_wallet_stats built by dbt with scored_at = T from only the data
  before T (T mid-way, then at the end after an incremental build).
- The report, the CLI and the Dagster asset run end to end on the same database.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from psycopg import sql

from orderflow_dagster.backtest.data import load_frames
from orderflow_dagster.backtest.run import run_backtest
from orderflow_dagster.backtest.scoring import load_params, position_states, score_as_of
from orderflow_dagster.defs.backtest.assets import backtest_report
from orderflow_dagster.defs.trading.resources import Trading
from orderflow_dagster.ingest import Ingestor
from orderflow_dagster.simulator.anvil import AnvilNode
from orderflow_dagster.simulator.replayer import Replayer
from orderflow_dagster.trading.config import load_trading_settings
from orderflow_dagster.warehouse.db import connect, url_with_database
from orderflow_dagster.warehouse.migrate import apply_migrations
from tests.dbt.helpers import REPO_ROOT, dbt, sync_condition_tokens
from tests.integration.conftest import ingest_settings

pytestmark = pytest.mark.integration

DAY = 86_400
INFORMED = ["0x" + "1" * 39 + str(i) for i in range(2)]
DEGEN = "0x" + "2" * 40
NOISE = ["0x" + "3" * 39 + str(i) for i in range(4)]
MARKETS_PER_DAY = 3
STATS = ("reputation_score", "trader_tier", "resolved_markets", "wins", "losses", "is_market_maker")


class ScriptedWorld:
    """Three markets a day, each resolved about 20 h after it opens: the informed wallets buy the
    outcome that will win (big), the degen the one that will lose, a noise wallet either; noise
    wallets make every match. Block timestamps are set, so two weeks pass in seconds."""

    def __init__(self, replayer: Replayer, t0: int, seed: int = 5):
        self.r, self.t0, self.rng = replayer, t0, random.Random(seed)
        self.events: list[tuple[int, object]] = []
        self.last_ts = 0

    def at(self, ts: int) -> None:
        self.last_ts = max(ts, self.last_ts + 1)
        self.r.rpc("evm_setNextBlockTimestamp", self.last_ts)

    def plan(self, first_day: int, days: int) -> list[tuple[int, str, tuple]]:
        plan = []
        for day in range(first_day, first_day + days):
            for k in range(MARKETS_PER_DAY):
                opened = self.t0 + day * DAY + k * 6 * 3600
                p, won = self.rng.randint(30, 70) / 100, self.rng.randrange(2)
                key = (day, k)
                plan.append((opened, "open", (key, self.rng.choice((1, 2)))))
                takers = [*((w, won, 20_000) for w in INFORMED), (DEGEN, 1 - won, 300),
                          (self.rng.choice(NOISE), self.rng.randrange(2), 200)]
                self.rng.shuffle(takers)
                for i, (wallet, outcome, shares) in enumerate(takers):
                    price = round((p if outcome == 0 else 1 - p) + self.rng.choice((-0.01, 0, 0.01)), 2)
                    maker = self.rng.choice([w for w in NOISE if w != wallet])
                    plan.append((opened + 600 + i * 900, "match", (key, wallet, outcome, [(maker, shares, str(price))])))
                plan.append((opened + 20 * 3600, "resolve", (key, [1, 0] if won == 0 else [0, 1])))
        return sorted(plan, key=lambda e: e[0])

    def play(self, plan, markets: dict) -> None:
        for ts, kind, args in plan:
            self.at(ts)
            if kind == "open":
                markets[args[0]] = self.r.create_market(args[1], neg_risk=False)
            elif kind == "match":
                key, wallet, outcome, makers = args
                self.r.match(markets[key], wallet, "BUY", outcome, makers)
            else:
                self.r.resolve(markets[args[0]], args[1])


def dbt_stats(db_url: str) -> pl.DataFrame:
    with connect(db_url) as conn:
        rows = conn.execute("SELECT wallet_address, reputation_score::float8, trader_tier, resolved_markets, wins, losses,"
                            " is_market_maker FROM orderflow_wallet_stats ORDER BY wallet_address").fetchall()
    return pl.DataFrame(rows, schema=["wallet_address", *STATS], orient="row")


def assert_same_scores(ours: pl.DataFrame, theirs: pl.DataFrame) -> None:
    ours = ours.select("wallet_address", *STATS).sort("wallet_address")
    assert ours["wallet_address"].to_list() == theirs["wallet_address"].to_list()
    for col in ("trader_tier", "resolved_markets", "wins", "losses", "is_market_maker"):
        assert ours[col].to_list() == theirs[col].to_list(), col
    both = ours["reputation_score"].is_not_null()
    assert both.to_list() == theirs["reputation_score"].is_not_null().to_list()
    diff = (ours.filter(both)["reputation_score"] - theirs.filter(both)["reputation_score"]).abs()
    assert diff.max() <= 0.0011  # both round to 3 decimals; float vs numeric can differ in the last place


@pytest.fixture(scope="module")
def built(tmp_path_factory, pg_server_url):
    """The world in two halves, each landed and built by dbt pinned at its end: (db, stats at T1, T1, stats at T2, T2)."""
    name = f"t_backtest_{uuid.uuid4().hex[:8]}"
    with connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    db = url_with_database(pg_server_url, name)
    apply_migrations(db)
    target = tmp_path_factory.mktemp("dbt-target")
    t0 = (int(time.time()) // DAY - 20) * DAY  # midnight UTC, 20 days ago
    try:
        with AnvilNode(genesis_timestamp=t0 - 3600) as node, Replayer(node.url, seed=11) as replayer:
            world, markets = ScriptedWorld(replayer, t0), {}
            ingestor = Ingestor(ingest_settings(node.url, db, log_range_initial=500, log_range_max=5000), db)
            snapshots = []
            for first_day, days in ((0, 9), (9, 5)):
                world.play(world.plan(first_day, days), markets)
                ingestor.follow()
                sync_condition_tokens(db)
                scored_at = datetime.fromtimestamp(world.last_ts + 60, tz=timezone.utc)
                dbt(db, "build", "--threads", "1", target_path=target, vars={"scored_at": scored_at.isoformat()})
                snapshots += [dbt_stats(db), scored_at]
        yield (db, t0, *snapshots)
    finally:
        with connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_as_of_scores_equal_dbt_s(built):
    db, _, stats_1, t1, stats_2, t2 = built
    frames = load_frames(db)
    states, params = position_states(frames.trades), load_params()
    # half-way: dbt saw only the first nine days; we score all fourteen as of then
    assert frames.trades["timestamp"].max() > t1
    assert_same_scores(score_as_of(states, frames.markets, t1, params), stats_1)
    assert_same_scores(score_as_of(states, frames.markets, t2, params), stats_2)
    # the formula was exercised: rated wallets in several tiers, the informed ones on top
    assert {"WHALE", "DEGEN"} <= set(stats_1["trader_tier"])
    assert set(stats_2.filter(pl.col("trader_tier") == "WHALE")["wallet_address"]) == set(INFORMED)


def test_report_cli_and_asset(built, tmp_path):
    db, t0, *_ = built
    start = datetime.fromtimestamp(t0, tz=timezone.utc) + timedelta(days=8)
    report = run_backtest(db, start, start + timedelta(days=6), tmp_path / "api", load_trading_settings(), n_resamples=200)
    values = {(r["strategy"], r["metric"]): r for r in report.table.iter_rows(named=True)}
    assert values[("whale_follow", "trades")]["value"] >= 5
    assert values[("whale_follow", "win_rate")]["value"] == 1.0  # the informed wallets are always right here
    assert values[("whale_follow", "pnl")]["value"] > 0 > values[("whale_follow_opposite", "pnl")]["value"]
    for f in ("equity_curves", "calibration"):
        assert report.files[f].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| whale_follow |" in report.files["report"].read_text()

    day = start.date()
    env = {**os.environ, "DATABASE_URL": db}
    out = tmp_path / "cli"
    proc = subprocess.run([sys.executable, "-m", "orderflow_dagster.cli", "backtest", "--from", str(day),
                           "--to", str(day + timedelta(days=5)), "--out", str(out), "--resamples", "200"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| whale_follow |" in proc.stdout and (out / "calibration.png").exists()
    assert pl.read_csv(out / "metrics.csv").equals(pl.read_csv(tmp_path / "api" / "metrics.csv"))  # the same run

    bad = subprocess.run([sys.executable, "-m", "orderflow_dagster.cli", "backtest", "--from", str(day), "--to",
                          str(day - timedelta(days=1)), "--out", str(out)], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "before --from" in bad.stderr

    result = dg.materialize([backtest_report], resources={"trading": Trading(database_url=db)}, run_config={
        "ops": {"backtest_report": {"config": {"from_date": str(day), "to_date": str(day + timedelta(days=5)),
                                                "out_dir": str(tmp_path / "asset"), "resamples": 200}}}})
    assert result.success
    md = result.get_asset_materialization_events()[0].materialization.metadata
    assert "| whale_follow |" in md["summary"].value
    assert md["equity_curves"].value.startswith("![equity curves](data:image/png;base64,")
    assert md["whale_follow_trades"].value == values[("whale_follow", "trades")]["value"]
