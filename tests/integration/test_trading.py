"""Trading on real Postgres against real local HTTP stand-ins of the CLOB and a Discord webhook.

The dbt models are stand-ins (tests/integration/trading_fixtures.py) until issue 4 lands.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from orderflow_dagster.defs.trading.assets import signals_and_executions
from orderflow_dagster.defs.trading.resources import Trading
from orderflow_dagster.trading.alerts import DiscordAlerter
from orderflow_dagster.trading.brokers import LiveBroker, OrderUnknown, PaperBroker
from orderflow_dagster.trading.executor import Executor, RunReport
from orderflow_dagster.trading.sources import fresh_candidates
from tests.integration.trading_fixtures import StandInWorld, live_settings, new_key, paper_settings
from tests.support.clob_server import ClobServer
from tests.support.discord_server import DiscordServer

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

ANALYST_SIGNALS_24H = """
SELECT s.id, s.signal_type, s.market_title, s.outcome, s.confidence, s.wallet_score, s.status, s.created_at, w.trader_tier
FROM orderflow_signals s JOIN orderflow_wallet_stats w ON s.trigger_wallet = w.wallet_address
WHERE s.created_at > NOW() - INTERVAL '24 hours' AND s.confidence > 0.7 ORDER BY s.created_at DESC;
"""
ANALYST_DAILY = """
SELECT DATE(created_at) as date, COUNT(*) as signals_generated, COUNT(CASE WHEN status = 'EXECUTED' THEN 1 END) as executed,
  AVG(confidence) as avg_confidence, COUNT(CASE WHEN outcome_status = 'WIN' THEN 1 END) as wins,
  COUNT(CASE WHEN outcome_status = 'LOSS' THEN 1 END) as losses
FROM orderflow_signals WHERE created_at > NOW() - INTERVAL '7 days' GROUP BY DATE(created_at) ORDER BY date DESC;
"""


@pytest.fixture
def world(db_url) -> StandInWorld:
    return StandInWorld(db_url)


@pytest.fixture
def clob():
    with ClobServer() as server:
        yield server


def run_paper(db_url: str, cfg, **kw):
    broker = PaperBroker(cfg)
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            return Executor(conn, cfg, broker, **kw).run()
    finally:
        broker.close()


def rows(db_url: str, q: str, params=()) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(q, params).fetchall()


def test_whale_buy_becomes_an_executed_paper_position(db_url, world, clob):
    whale = world.wallet("whale", 8.5, "WHALE")
    m = world.market("rain", clob)
    tx, _ = world.trade(whale, m, outcome_index=0, price=0.50, usdc=1000)
    cfg = paper_settings(clob.url)

    report = run_paper(db_url, cfg)

    assert report.executed == 1 and report.signals_made == 1
    (sig,) = rows(db_url, """SELECT signal_type, status, outcome, market_title, confidence, wallet_score, trigger_tx_hash,
                             outcome_status, stake_usd, our_size, our_price, our_cost_usd, fee_usd, slippage_bps, broker
                             FROM orderflow_signals""")
    assert sig[:4] == ("WHALE_FOLLOW", "EXECUTED", "Yes", m.title) and sig[6] == tx and sig[7] == "OPEN"
    assert sig[4] == Decimal("0.8250") and sig[5] == Decimal("8.500")
    # Kelly: q = 0.5 + 0.7 * 0.2 * 0.5 = 0.57, f* = 0.14, stake = 0.25 * 0.14 * 10000 = 350 USD;
    # the walk takes 400 shares at 0.50 ($200) and $150 / 0.52 at 0.52.
    stake, shares, price, cost, fee, slip = sig[8:14]
    assert stake == Decimal("350") and cost == Decimal("350")
    assert shares == Decimal("400") + (Decimal(150) / Decimal("0.52")).quantize(Decimal("0.000001"), "ROUND_DOWN")
    assert price == (cost / shares).quantize(Decimal("0.000001")) and slip > 0
    assert fee == (Decimal(400) * Decimal("0.02") * Decimal("0.25") + (shares - 400) * Decimal("0.02") * Decimal("0.52") * Decimal("0.48")).quantize(Decimal("0.000001"))
    (pos,) = rows(db_url, "SELECT status, shares, entry_price, cost_usd, fees_usd, token_id FROM orderflow_positions")
    assert pos == ("OPEN", shares, price, cost, fee, Decimal(m.tokens[0]))
    # the analysts' queries run unchanged
    (a,) = rows(db_url, ANALYST_SIGNALS_24H)
    assert a[1] == "WHALE_FOLLOW" and a[6] == "EXECUTED" and a[8] == "WHALE"
    (d,) = rows(db_url, ANALYST_DAILY)
    assert d[1:3] == (1, 1) and d[4:] == (0, 0)
    (perf,) = rows(db_url, "SELECT signals, executed, open_positions, open_exposure_usd, paused FROM orderflow_performance")
    assert perf == (1, 1, 1, Decimal("350"), False)
    # a second run finds nothing new
    again = run_paper(db_url, cfg)
    assert again.signals_made == 0 and rows(db_url, "SELECT count(*) FROM orderflow_positions") == [(1,)]


def test_skips_and_rejections_are_recorded_with_reasons(db_url, world, clob):
    whale = world.wallet("whale", 8.5, "WHALE")
    weak = world.wallet("weak whale", 7.0, "SMART", resolved=20, avg_usd=1000)
    mm = world.wallet("market maker", 9.0, "MARKET_MAKER", market_maker=True)
    m1, m2, m3 = world.market("a", clob), world.market("b", clob), world.market("c", clob)
    world.resolve(m3, (1, 0))
    world.trade(whale, m1, price=0.50)
    world.trade(whale, m1, price=0.51)  # second signal for this wallet and market
    world.trade(whale, m2, price=0.99)  # price too close to 1
    world.trade(whale, m3, price=0.50)  # resolved market
    world.trade(weak, m2, price=0.50, usdc=1000)  # confidence 0.675 < 0.7
    world.trade(mm, m2, price=0.50)
    world.trade(whale, m2, price=0.50, at=datetime.now(timezone.utc) - timedelta(minutes=30))  # stale

    report = run_paper(db_url, paper_settings(clob.url))

    assert report.executed == 1
    assert dict(report.skipped) == {"duplicate_wallet_market": 1, "extreme_price": 1, "market_resolved": 1,
                                    "market_maker": 1, "stale_trade": 1}
    assert dict(report.rejected) == {"low_confidence": 1}
    reasons = [r[0] for r in rows(db_url, "SELECT status_reason FROM orderflow_signals WHERE status_reason IS NOT NULL")]
    assert any(r.startswith("low_confidence: confidence 0.6750 below MIN_SIGNAL_CONFIDENCE 0.7") for r in reasons)


@pytest.mark.parametrize("outcomes", [("Up", "Down"), None], ids=["from the model", "raw fallback"])
def test_degen_fade_buys_the_other_outcome(db_url, world, clob, outcomes):
    degen = world.wallet("degen", 1.5, "DEGEN", resolved=80, avg_usd=200)
    m = world.market("fade", clob, outcomes=outcomes)
    world.trade(degen, m, outcome_index=0, price=0.45, usdc=600)

    off = run_paper(db_url, paper_settings(clob.url))
    assert off.signals_made == 0  # fading is off by default
    report = run_paper(db_url, paper_settings(clob.url, enable_degen_fading=True))

    assert report.executed == 1
    (sig,) = rows(db_url, "SELECT signal_type, outcome, token_id, outcome_index FROM orderflow_signals")
    assert sig == ("DEGEN_FADE", "Down" if outcomes else "No", Decimal(m.tokens[1]), 1)


def test_limits_hold_under_two_concurrent_runs(db_url, world, clob):
    whales = [world.wallet(f"whale {i}", 8.5, "WHALE") for i in range(8)]
    shared = world.market("shared", clob)
    markets = [world.market(f"m{i}", clob) for i in range(5)]
    for w in whales[5:]:  # three whales pile into one market: the per-market cap (800) admits at most 350 + 350 + 100
        world.trade(w, shared)
    for i, w in enumerate(whales[:5]):
        world.trade(w, markets[i])
    # Limit 1: two unlocked runs deciding their first trades at once would both see 0 open and end at 2.
    cfg = paper_settings(clob.url, max_open_positions=1, max_market_exposure_usd=800, paper_fee_rate=0)
    clob.state.book_delay_seconds = 0.1  # each decision spans a slow book fetch: without the lock both runs pass the checks
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def racer(backwards: bool):
        # Two overlapping runs that meet the same trades in opposite orders (e.g. a follow run and a late one).
        try:
            broker = PaperBroker(cfg)
            with psycopg.connect(db_url, autocommit=True) as conn:
                executor = Executor(conn, cfg, broker)
                barrier.wait()
                if backwards:
                    report = RunReport()
                    for cand in reversed(fresh_candidates(conn, cfg)):
                        executor.process(cand, report)
                    reports.append(report)
                else:
                    reports.append(executor.run())
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=racer, args=(backwards,)) for backwards in (False, True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert not errors
    assert rows(db_url, "SELECT count(*) FROM orderflow_positions WHERE status = 'OPEN'") == [(1,)]
    assert rows(db_url, "SELECT count(*), count(DISTINCT (trigger_tx_hash, trigger_log_index)) FROM orderflow_signals") == [(8, 8)]
    per_market = dict(rows(db_url, "SELECT condition_id, sum(cost_usd) FROM orderflow_positions GROUP BY 1"))
    assert all(v <= 800 for v in per_market.values())
    assert sum(r.executed for r in reports) == 1
    assert sum(sum(r.rejected.values()) for r in reports) == 7


CRASHING_RUN = """
import os, signal, sys, psycopg
from orderflow_dagster.trading.brokers import PaperBroker
from orderflow_dagster.trading.executor import Executor, RunReport
from orderflow_dagster.trading.sources import fresh_candidates
from tests.integration.trading_fixtures import paper_settings

def die(signal_id):
    os.kill(os.getpid(), signal.SIGKILL)  # between the signal row and the order, inside the transaction

cfg = paper_settings(sys.argv[2])
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    Executor(conn, cfg, PaperBroker(cfg), on_signal_pending=die).run()
"""


def test_crash_between_signal_and_execution_leaves_no_half_state(db_url, world, clob):
    whale = world.wallet("whale", 8.5, "WHALE")
    m = world.market("crash", clob)
    world.trade(whale, m)

    proc = subprocess.run([sys.executable, "-c", CRASHING_RUN, db_url, clob.url], cwd=REPO, capture_output=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert clob.state.requests.count(("GET", "/book")) == 1  # it got as far as the order book
    assert rows(db_url, "SELECT count(*) FROM orderflow_signals") == [(0,)]
    assert rows(db_url, "SELECT count(*) FROM orderflow_positions") == [(0,)]

    report = run_paper(db_url, paper_settings(clob.url))
    assert report.executed == 1
    assert run_paper(db_url, paper_settings(clob.url)).executed == 0
    assert rows(db_url, "SELECT count(*) FROM orderflow_signals WHERE status = 'EXECUTED'") == [(1,)]
    assert rows(db_url, "SELECT count(*) FROM orderflow_positions") == [(1,)]


def test_resolution_settles_win_and_loss(db_url, world, clob):
    yes_whale, no_whale = world.wallet("yes whale", 8.5, "WHALE"), world.wallet("no whale", 9.0, "SMART")
    m = world.market("final", clob)
    world.trade(yes_whale, m, outcome_index=0, price=0.50)
    world.trade(no_whale, m, outcome_index=1, price=0.50)
    cfg = paper_settings(clob.url, max_market_exposure_usd=2000)
    assert run_paper(db_url, cfg).executed == 2

    world.resolve(m, (1, 0))
    report = run_paper(db_url, cfg)

    assert (report.settled, report.wins, report.losses) == (2, 1, 1)
    got = rows(db_url, """SELECT p.outcome, p.status, p.close_reason, p.exit_price, p.realised_pnl_usd,
                                 p.shares - p.cost_usd - p.fees_usd, -(p.cost_usd + p.fees_usd), s.outcome_status
                            FROM orderflow_positions p JOIN orderflow_signals s ON s.id = p.signal_id ORDER BY p.outcome""")
    (no, yes) = got
    assert no[:4] == ("No", "CLOSED", "RESOLVED", Decimal(0)) and no[4] == no[6] and no[7] == "LOSS"
    assert yes[:4] == ("Yes", "CLOSED", "RESOLVED", Decimal(1)) and yes[4] == yes[5] and yes[7] == "WIN"
    (d,) = rows(db_url, ANALYST_DAILY)
    assert d[4:] == (1, 1)
    (perf,) = rows(db_url, "SELECT wins, losses, realised_pnl_usd, open_positions FROM orderflow_performance")
    assert perf == (1, 1, yes[4] + no[4], 0)


def test_exit_signal_sells_at_the_book(db_url, world, clob):
    whale = world.wallet("whale", 8.5, "WHALE")
    m = world.market("exit", clob, yes_bids=((0.60, 300), (0.58, 5000)))
    world.trade(whale, m, price=0.50)
    cfg = paper_settings(clob.url, paper_fee_rate=0)
    assert run_paper(db_url, cfg).executed == 1
    world.trade(whale, m, side="SELL", price=0.60)

    report = run_paper(db_url, cfg)

    assert report.exits == 1 and report.wins == 1
    (pos,) = rows(db_url, "SELECT status, close_reason, shares, exit_price, realised_pnl_usd, cost_usd FROM orderflow_positions")
    shares, cost = pos[2], pos[5]
    proceeds = (300 * Decimal("0.60") + (shares - 300) * Decimal("0.58")).quantize(Decimal("0.000001"))
    assert pos[:2] == ("CLOSED", "EXIT") and pos[4] == proceeds - cost
    assert pos[3] == (proceeds / shares).quantize(Decimal("0.000001"))
    statuses = rows(db_url, "SELECT signal_type, status, outcome_status, parent_signal_id IS NOT NULL FROM orderflow_signals ORDER BY id")
    assert statuses == [("WHALE_FOLLOW", "EXECUTED", "WIN", False), ("EXIT", "EXECUTED", None, True)]


def test_daily_loss_pauses_entries_until_the_next_utc_day(db_url, world, clob):
    whale, crowd = world.wallet("whale", 8.5, "WHALE"), world.wallet("crowd", None, "UNRATED")
    m1, m2, m3 = world.market("p1", clob), world.market("p2", clob), world.market("p3", clob)
    long_window = dict(signal_max_age_seconds=3 * 86400, signal_lookback_seconds=3 * 86400, max_daily_loss=100,
                       paper_fee_rate=0)
    with DiscordServer() as discord:
        cfg = paper_settings(clob.url, discord_webhook_url=discord.url, **long_window)
        world.trade(whale, m1, price=0.50)
        assert run_paper(db_url, cfg).executed == 1
        world.trade(crowd, m1, price=0.20)  # the last trade marks our 0.51 shares at 0.20: a loss of about 210

        alerter = DiscordAlerter(discord.url)
        first = run_paper(db_url, cfg, alerter=alerter)
        assert first.paused and first.daily_pnl_usd < -100
        (state,) = rows(db_url, "SELECT paused_until, pause_reason FROM orderflow_risk_state")
        tomorrow = datetime.combine(datetime.now(timezone.utc).date() + timedelta(days=1), datetime.min.time(), timezone.utc)
        assert state[0] == tomorrow and "MAX_DAILY_LOSS" in state[1]
        assert alerter.flush(10) and any("Trading paused" in p["content"] for p in discord.posts)

    world.trade(whale, m2, price=0.50)
    later = run_paper(db_url, cfg)  # a new executor (a restart) still sees the persisted pause
    assert later.executed == 0 and dict(later.rejected) == {"paused_daily_loss": 1}
    assert rows(db_url, "SELECT paused FROM orderflow_performance") == [(True,)]

    world.trade(whale, m3, price=0.50)
    next_day = run_paper(db_url, cfg, clock=lambda: tomorrow + timedelta(minutes=5))
    assert next_day.executed == 1 and not next_day.paused


def test_dagster_asset_reports_metadata(db_url, world, clob, monkeypatch):
    whale = world.wallet("whale", 8.5, "WHALE")
    world.trade(whale, world.market("dagster", clob))
    weak = world.wallet("weak", 7.0, "SMART", resolved=20, avg_usd=1000)
    world.trade(weak, world.market("dagster 2", clob))

    result = dg.materialize([signals_and_executions], resources={"trading": Trading(database_url=db_url, clob_api_url=clob.url)})

    assert result.success
    (mat,) = result.asset_materializations_for_node("signals_and_executions")
    md = {k: v.value for k, v in mat.metadata.items()}
    assert md["signals_made"] == 2 and md["executed"] == 1 and md["rejected"] == 1
    assert md["rejected_reasons"] == {"low_confidence": 1} and md["open_positions"] == 1
    assert md["open_exposure_usd"] == 350.0 and md["broker"] == "paper" and md["paused"] is False
    assert "daily_pnl_usd" in md


# --- live broker against the CLOB stand-in -------------------------------------------------------

def run_live(db_url: str, cfg, **kw):
    broker = LiveBroker(cfg)
    with psycopg.connect(db_url, autocommit=True) as conn:
        return Executor(conn, cfg, broker, our_wallets=broker.addresses, **kw).run(), broker


def test_live_orders_end_to_end_with_failures_surfaced(db_url, world, clob):
    key = new_key()
    whale = world.wallet("whale", 8.5, "WHALE")
    m1, m2, m3 = world.market("live 1", clob), world.market("live 2", clob, neg_risk=True), world.market("live 3", clob)
    world.trade(whale, m1)
    world.trade(whale, m2)
    with DiscordServer() as discord:
        cfg = live_settings(clob.url, key, discord_webhook_url=discord.url)
        alerter = DiscordAlerter(discord.url, secrets=cfg.secret_values())

        report, broker = run_live(db_url, cfg, alerter=alerter)

        assert report.executed == 2
        executed = rows(db_url, "SELECT order_id, our_size, our_cost_usd, neg_risk FROM orderflow_signals ORDER BY id")
        assert {o for o, *_ in executed} == set(clob.state.orders)  # our recorded hash is the CLOB's orderID
        assert [n for *_, n in executed] == [False, True]  # the neg-risk market was signed for the neg-risk exchange
        assert all(p["orderType"] == "FOK" for p in clob.state.posted)
        assert rows(db_url, "SELECT count(*), sum(cost_usd) FROM orderflow_positions") == [(2, Decimal("700"))]

        clob.state.balances[broker.client.get_address().lower()] = Decimal(5)  # spent down
        world.trade(whale, m3)
        failed, _ = run_live(db_url, cfg, alerter=alerter)
        assert failed.executed == 0 and dict(failed.failed) == {"clob_rejected": 1}
        (reason,) = rows(db_url, "SELECT status_reason FROM orderflow_signals WHERE status = 'FAILED'")
        assert "not enough balance / allowance" in reason[0]
        assert rows(db_url, "SELECT count(*) FROM orderflow_positions") == [(2,)]
        assert alerter.flush(10)
        assert any("Live order FAILED" in p["content"] and "not enough balance" in p["content"] for p in discord.posts)


def test_live_invalid_signature_is_a_failed_signal(db_url, world, clob):
    whale = world.wallet("whale", 8.5, "WHALE")
    world.trade(whale, world.market("sig", clob))
    # signing as a Gnosis safe owner for a funder the CLOB does not know we own
    cfg = live_settings(clob.url, new_key(), clob_signature_type=2, clob_funder="0x" + "12" * 20)

    report, _ = run_live(db_url, cfg)

    assert report.executed == 0
    (sig,) = rows(db_url, "SELECT status, status_reason FROM orderflow_signals")
    assert sig[0] == "FAILED" and "invalid signature" in sig[1]


def test_live_order_without_an_answer_is_reconciled_not_reposted(db_url, world, clob):
    whale = world.wallet("whale", 8.5, "WHALE")
    world.trade(whale, world.market("lost answer", clob))
    cfg = live_settings(clob.url, new_key())

    class AnswerLost(LiveBroker):  # the CLOB takes the order but the answer never arrives
        def execute(self, order, book, on_order_id=None):
            super().execute(order, book, on_order_id)
            return OrderUnknown("no answer from the CLOB")

    with psycopg.connect(db_url, autocommit=True) as conn:
        first = Executor(conn, cfg, AnswerLost(cfg), in_flight_grace_seconds=0).run()
        assert first.in_flight == 1 and first.open_positions == 1  # the PENDING stake counts toward the limits
        assert rows(db_url, "SELECT status FROM orderflow_signals") == [("PENDING",)]
        second = Executor(conn, cfg, LiveBroker(cfg), in_flight_grace_seconds=0).run()

    assert second.executed == 1 and len(clob.state.posted) == 1  # reconciled from GET /data/order, never posted twice
    assert rows(db_url, "SELECT status FROM orderflow_signals") == [("EXECUTED",)]
    assert rows(db_url, "SELECT count(*) FROM orderflow_positions") == [(1,)]


def test_live_mode_refuses_to_start_without_its_switches_and_key(monkeypatch, clob):
    from orderflow_dagster.settings import ConfigError
    from orderflow_dagster.trading.config import load_trading_settings

    monkeypatch.setenv("ENABLE_PAPER_TRADING", "false")
    with pytest.raises(ConfigError) as err:
        load_trading_settings(clob_api_url=clob.url)
    assert "ENABLE_LIVE_TRADING" in str(err.value) and "POLYMARKET_PRIVATE_KEY" in str(err.value)
    assert "MAX_POSITION_USD set explicitly" in str(err.value)
    with pytest.raises(dg.Failure):
        Trading(clob_api_url=clob.url).settings()


def test_private_key_never_reaches_logs_the_database_or_alerts(db_url, world, clob, caplog, capfd):
    key = new_key()
    whale = world.wallet("whale", 8.5, "WHALE")
    world.trade(whale, world.market("secret 1", clob))
    world.trade(whale, world.market("secret 2", clob))
    caplog.set_level(logging.DEBUG)
    with DiscordServer() as discord:
        cfg = live_settings(clob.url, key, discord_webhook_url=discord.url)
        alerter = DiscordAlerter(discord.url, secrets=cfg.secret_values())
        report, broker = run_live(db_url, cfg, alerter=alerter)
        clob.state.balances[broker.client.get_address().lower()] = Decimal(0)
        world.trade(whale, world.market("secret 3", clob))
        run_live(db_url, cfg, alerter=alerter)  # a failure path too
        alerter.flush(10)
        posts = " ".join(p["content"] for p in discord.posts)
    assert report.executed == 2 and posts
    creds = broker.client.creds
    secrets = {key, key.removeprefix("0x"), creds.api_secret, creds.api_passphrase}

    out, err = capfd.readouterr()
    haystacks = {"logs": caplog.text + out + err, "alerts": posts, "settings repr": repr(cfg) + str(cfg),
                 "database": database_dump(db_url)}
    for where, text in haystacks.items():
        for s in secrets:
            assert s.lower() not in text.lower(), f"a secret leaked into the {where}"
    assert "FAILED" in haystacks["database"] and "not enough balance" in haystacks["database"]


def database_dump(db_url: str) -> str:
    """Every row of every table in the test database, as text."""
    with psycopg.connect(db_url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT quote_ident(table_name) FROM information_schema.tables WHERE table_schema = 'public'").fetchall()]
        return "\n".join(str(row) for t in tables for row in conn.execute(f"SELECT t::text FROM {t} t").fetchall())


def test_alerts_never_block_trading_when_discord_is_down(db_url, world, clob):
    whale = world.wallet("whale", 8.5, "WHALE")
    world.trade(whale, world.market("no discord", clob))
    alerter = DiscordAlerter("http://127.0.0.1:9/api/webhooks/1/x", timeout=0.5, backoff_base=0.05, deadline=1.0)

    started = time.monotonic()
    report = run_paper(db_url, paper_settings(clob.url), alerter=alerter)

    assert report.executed == 1 and time.monotonic() - started < 5
    assert alerter.flush(5) and alerter.sent == 0


def test_discord_alerts_are_delivered_honouring_429_retry_after():
    with DiscordServer(rate_limit_first=2, retry_after=0.3, fail_first_5xx=1) as discord:
        alerter = DiscordAlerter(discord.url, secrets=["0x" + "ab" * 32], backoff_base=0.05)
        started = time.monotonic()
        for i in range(3):
            alerter.enqueue(f"alert {i} with a key 0x{'ab' * 32}")
        assert time.monotonic() - started < 0.1  # enqueueing never waits for Discord
        assert alerter.flush(10)

    assert [p["content"] for p in discord.posts] == [f"alert {i} with a key [redacted]" for i in range(3)]
    statuses = [s for _, s in discord.attempts]
    assert statuses == [429, 429, 502, 204, 204, 204]
    times = [t for t, _ in discord.attempts]
    assert times[1] - times[0] >= 0.3 and times[2] - times[1] >= 0.3  # waited the retry_after each time
    assert "secret-webhook-token" not in repr(alerter)


def test_a_decision_that_raises_is_recorded_failed_and_the_run_goes_on(db_url, world, clob):
    whale = world.wallet("whale", 8.5, "WHALE")
    bad, good = world.market("bad book", clob), world.market("good book", clob)
    world.trade(whale, bad)
    world.trade(whale, good)
    cfg = paper_settings(clob.url)
    broker = PaperBroker(cfg)
    real_book = broker.book

    def book(token_id):
        if token_id == bad.tokens[0]:
            raise RuntimeError("garbled book")
        return real_book(token_id)

    broker.book = book
    with psycopg.connect(db_url, autocommit=True) as conn:
        report = Executor(conn, cfg, broker).run()

    assert report.executed == 1 and dict(report.failed) == {"error": 1}
    assert rows(db_url, "SELECT status, status_reason FROM orderflow_signals ORDER BY id") == [
        ("FAILED", "error: RuntimeError: garbled book"), ("EXECUTED", None)]
