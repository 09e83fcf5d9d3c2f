"""The dbt project on replayed chain activity: hand-computed wallet stats, and an incremental run
(new fills, a reorg, a re-landed backfill range, late token attribution) that equals a full refresh.

Fills are replayed on anvil, ingested by the real Ingestor, then `dbt build` runs as analysts run
it (the venv's dbt, --project-dir/--profiles-dir dbt_project, only DATABASE_URL set).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from orderflow_dagster.ingest import Ingestor
from orderflow_dagster.simulator.anvil import rpc_call
from orderflow_dagster.status import collect_status
from orderflow_dagster.warehouse.db import connect
from tests.dbt.helpers import dbt, sync_condition_tokens, table_snapshot
from tests.integration.conftest import ingest_settings

pytestmark = pytest.mark.integration

ALICE, BOB, CAROL, DAVE, ERIN = (f"0x{c * 40}" for c in "abcde")
PINNED = {"scored_at": "2030-01-01T00:00:00+00:00"}
ANALYST_QUERIES = [
    "SELECT wallet_address, reputation_score, trader_tier, win_rate, total_trades, total_pnl_usd, last_trade_at"
    " FROM orderflow_wallet_stats WHERE trader_tier IN ('WHALE', 'SMART') ORDER BY reputation_score DESC LIMIT 20",
    "SELECT COUNT(*) FROM orderflow_wallet_stats WHERE reputation_score IS NOT NULL",
    "SELECT * FROM orderflow_trades ORDER BY timestamp DESC LIMIT 10",
]


@pytest.fixture(scope="module")
def dbt_target(tmp_path_factory):
    return tmp_path_factory.mktemp("dbt-target")  # keeps dbt_project/target (Dagster's manifest) alone


def ingest(anvil, db_url) -> Ingestor:
    ingestor = Ingestor(ingest_settings(anvil.url, db_url), db_url)
    ingestor.follow()
    sync_condition_tokens(db_url)
    return ingestor


def scripted_markets(replayer):
    """Four markets, six matches, three resolutions: the numbers below are worked out by hand."""
    a = replayer.create_market(1, neg_risk=False)  # V1, resolves [1, 0]
    b = replayer.create_market(2, neg_risk=False)  # V2, resolves [0, 1]
    c = replayer.create_market(1, neg_risk=False)  # V1, resolves [1, 1]
    d = replayer.create_market(1, neg_risk=False)  # V1, stays open
    # A: alice buys 150 @ 0.40 from two makers (the match shape: 2 maker fills + the taker fill),
    # sells 60 @ 0.50 to carol, buys 30 @ 0.30 from erin as a maker: buy-sell-buy.
    replayer.match(a, ALICE, "BUY", 0, [(BOB, 100, "0.40"), (DAVE, 50, "0.40")])
    replayer.match(a, ALICE, "SELL", 0, [(CAROL, 60, "0.50")])
    replayer.match(a, ERIN, "SELL", 0, [(ALICE, 30, "0.30")])
    # B (V2): bob buys 200 NO @ 0.25 with a 100 bps taker fee: 0.375 USDC (shares x rate x p x (1-p)).
    replayer.match(b, BOB, "BUY", 1, [(CAROL, 200, "0.25")], fee_rate_bps=100)
    # C: dave buys 40 YES @ 0.70 from erin; the market splits 50/50.
    replayer.match(c, DAVE, "BUY", 0, [(ERIN, 40, "0.70")])
    # D (V1, open): alice buys 100 NO @ 0.20 with a 200 bps fee taken in shares: she gets 98.
    replayer.match(d, ALICE, "BUY", 1, [(BOB, 100, "0.20")], fee_rate_bps=200)
    replayer.resolve(a, [1, 0])
    replayer.resolve(b, [0, 1])
    replayer.resolve(c, [1, 1])
    return a, b, c, d


# wallet -> (trades, taker trades, markets, resolved, wins, losses, realised+settled P&L, unrealised,
#            total P&L, volume, fees, capital)
EXPECTED_WALLETS = {
    # A: realised 60*(0.50-0.40) = 6; holds 90 @ 0.40 + 30 @ 0.30 = 120 for 45, settles at 120: +75.
    # D: 98 shares for 20, marked at 0.20: 19.6, so -0.4. Fee 2 shares = 0.4 USDC.
    ALICE: (4, 3, 2, 1, 1, 0, "81", "-0.4", "80.6", "119", "0.4", "89"),
    # A: sold 100 @ 0.40 it did not hold (a split's other leg): 40 - 100 = -60. B: 200 NO for 50.375
    # (fee included), pays 200: +149.625. D: short 100 @ 0.20, marked at 0.20: 0.
    BOB: (3, 1, 3, 2, 1, 1, "89.625", "0", "89.625", "110", "0.375", "190.375"),
    # A: 60 YES for 30, pays 60: +30. B: short 200 NO @ 0.25: 50 - 200 = -150.
    CAROL: (2, 0, 2, 2, 1, 1, "-120", "0", "-120", "80", "0", "180"),
    # A: short 50 @ 0.40: 20 - 50 = -30. C: 40 YES for 28, pays 0.5 each: -8.
    DAVE: (2, 1, 2, 2, 0, 2, "-38", "0", "-38", "48", "0", "58"),
    # A: short 30 @ 0.30: 9 - 30 = -21. C: short 40 YES @ 0.70: 28 - 20 = +8.
    ERIN: (2, 1, 2, 2, 1, 1, "-13", "0", "-13", "37", "0", "33"),
}


def test_scripted_scenario_gives_hand_computed_stats(anvil, replayer, db_url, dbt_target):
    a, b, c, d = scripted_markets(replayer)
    ingest(anvil, db_url)
    out = dbt(db_url, "build", target_path=dbt_target, vars=PINNED).stdout
    assert "Completed successfully" in out

    with connect(db_url) as conn:
        stats = {r[0]: r[1:] for r in conn.execute(
            "SELECT wallet_address, total_trades, taker_trades, markets_traded, resolved_markets, wins, losses,"
            " realised_pnl_usd, unrealised_pnl_usd, total_pnl_usd, total_volume_usd, fees_usd, capital_usd,"
            " win_rate, trader_tier, reputation_score FROM orderflow_wallet_stats").fetchall()}
        assert set(stats) == set(EXPECTED_WALLETS)
        for wallet, expected in EXPECTED_WALLETS.items():
            got = stats[wallet]
            assert got[:6] == expected[:6], wallet
            assert [Decimal(x) for x in expected[6:]] == [Decimal(x) for x in got[6:12]], wallet
            wins, losses = expected[4], expected[5]
            assert got[12] == Decimal(wins) / (wins + losses)
            assert got[13:] == ("UNRATED", None)  # fewer than 20 resolved markets

        # one row per wallet per fill: 6 matches with 7 maker fills and 6 taker fills
        trades = conn.execute(
            "SELECT wallet_address, side, price, shares, usdc_amount, fee, fee_unit, fee_usdc, is_taker, fill_role,"
            " counterparty, outcome_index, outcome_name, exchange_generation FROM orderflow_trades"
            " WHERE condition_id = %s ORDER BY block_number, log_index", (a.condition_id,)).fetchall()
        assert [(t[0], t[1], t[2], t[3], t[4], t[8], t[9], t[10]) for t in trades] == [
            (BOB, "SELL", Decimal("0.4"), 100, 40, False, "maker", ALICE),
            (DAVE, "SELL", Decimal("0.4"), 50, 20, False, "maker", ALICE),
            (ALICE, "BUY", Decimal("0.4"), 150, 60, True, "taker", None),  # two makers: no single counterparty
            (CAROL, "BUY", Decimal("0.5"), 60, 30, False, "maker", ALICE),
            (ALICE, "SELL", Decimal("0.5"), 60, 30, True, "taker", CAROL),
            (ALICE, "BUY", Decimal("0.3"), 30, 9, False, "maker", ERIN),
            (ERIN, "SELL", Decimal("0.3"), 30, 9, True, "taker", ALICE),
        ]
        assert {(t[11], t[12], t[13]) for t in trades} == {(0, "Yes", 1)}
        v2 = conn.execute("SELECT wallet_address, side, price, fee, fee_unit, fee_usdc, outcome_name FROM orderflow_trades"
                          " WHERE condition_id = %s ORDER BY log_index", (b.condition_id,)).fetchall()
        assert v2 == [(CAROL, "SELL", Decimal("0.25"), 0, "USDC", 0, "No"),
                      (BOB, "BUY", Decimal("0.25"), Decimal("0.375"), "USDC", Decimal("0.375"), "No")]
        v1_fee = conn.execute("SELECT fee, fee_unit, fee_usdc FROM orderflow_trades WHERE condition_id = %s AND is_taker",
                              (d.condition_id,)).fetchone()
        assert v1_fee == (2, "SHARES", Decimal("0.4"))

        markets = {r[0]: r[1:] for r in conn.execute(
            "SELECT condition_id, trade_count, volume_usd, is_resolved, winning_outcome, payout_numerators"
            " FROM orderflow_market_outcomes").fetchall()}
        assert markets[a.condition_id] == (3, 99, True, "Yes", [1, 0])
        assert markets[b.condition_id] == (1, 50, True, "No", [0, 1])
        assert markets[c.condition_id] == (1, 28, True, "SPLIT", [1, 1])
        assert markets[d.condition_id] == (1, 20, False, None, None)

        alice_a = conn.execute(
            "SELECT outcome_0_shares, outcome_0_avg_cost, realised_pnl_usd, settlement_value_usd, total_pnl_usd,"
            " edge_per_share FROM orderflow_wallet_positions WHERE wallet_address = %s AND condition_id = %s",
            (ALICE, a.condition_id)).fetchone()
        assert alice_a == (120, Decimal("0.375"), 6, 120, 81, Decimal("0.45"))  # 81 over 180 shares opened

        for query in ANALYST_QUERIES:  # run unchanged
            conn.execute(query).fetchall()


def test_incremental_run_equals_full_refresh(anvil, replayer, db_url, dbt_target, monkeypatch):
    tables = ["orderflow_trades", "int_positions_accumulated", "int_trades_aggregated_to_tokens",
              "int_wallet_markets_accumulated", "int_wallets_aggregated",
              "orderflow_market_outcomes", "orderflow_wallet_positions", "orderflow_wallet_stats", "int_wallets_scored"]
    scripted_markets(replayer)
    replayer.random_activity(30)
    ingestor = ingest(anvil, db_url)
    dbt(db_url, "build", target_path=dbt_target, vars=PINNED)
    before = table_snapshot(db_url, "orderflow_trades")

    # new fills and resolutions; a reorg replacing the last blocks; a backfill re-landing a range
    # (its rows deleted and inserted again); Gamma names arriving for a market already traded
    replayer.random_activity(25)
    rpc_call(anvil.url, "anvil_rollback", 3)
    replayer.random_activity(10)
    ingestor.follow()
    ingestor.backfill(5, 40)
    sync_condition_tokens(db_url)
    with connect(db_url) as conn:
        cid, t0, t1 = conn.execute(
            "SELECT condition_id, max(token_id) FILTER (WHERE outcome_index = 0), max(token_id) FILTER (WHERE outcome_index = 1)"
            " FROM raw_condition_tokens GROUP BY condition_id ORDER BY min(block_number) LIMIT 1").fetchone()
        conn.execute("INSERT INTO raw_market_metadata (condition_id, question, slug, outcomes, clob_token_ids, payload)"
                     " VALUES (%s, 'Up or down?', 'up-or-down', '{Up,Down}', %s, '{}')", (cid, [t0, t1]))
        fills = conn.execute("SELECT count(*) FROM raw_order_fills").fetchone()[0]
        conn.commit()
        # between refreshes, trading reads the new blocks' trades through int_trades_since_refresh
        last = conn.execute("SELECT max(block_number) FROM orderflow_trades").fetchone()[0]
        keys = "SELECT chain_id, tx_hash, log_index FROM {} WHERE block_number > %s"
        new_fills = set(conn.execute(keys.format("raw_order_fills"), (last,)).fetchall())
        assert new_fills and set(conn.execute(keys.format("int_trades_since_refresh"), (last,)).fetchall()) == new_fills
        assert conn.execute("SELECT count(*) FROM int_trades_since_refresh WHERE block_number <= %s", (last,)).fetchone()[0] == 0
        # a chain with no trades yet: all of its fills are new, old blocks included
        conn.execute("CREATE TEMP TABLE other_chain AS SELECT * FROM raw_order_fills WHERE block_number <= %s LIMIT 3", (last,))
        conn.execute("UPDATE other_chain SET chain_id = 1")
        conn.execute("INSERT INTO raw_order_fills SELECT * FROM other_chain")
        other = set(conn.execute("SELECT chain_id, tx_hash, log_index FROM int_trades_since_refresh WHERE chain_id = 1").fetchall())
        assert len(other) == 3 and set(conn.execute(keys.format("int_trades_since_refresh"), (last,)).fetchall()) == new_fills
        conn.rollback()  # the other chain's rows were only for this check
    dbt(db_url, "build", target_path=dbt_target, vars=PINNED)
    incremental = {t: table_snapshot(db_url, t) for t in tables}
    assert incremental["orderflow_trades"] != before and len(incremental["orderflow_trades"]) == fills
    with connect(db_url) as conn:
        names = conn.execute("SELECT DISTINCT outcome_name FROM orderflow_trades WHERE condition_id = %s", (cid,)).fetchall()
        assert {n for (n,) in names} <= {"Up", "Down"} and names

    dbt(db_url, "build", "--full-refresh", target_path=dbt_target, vars=PINNED)
    full = {t: table_snapshot(db_url, t) for t in tables}
    for t in tables:
        assert full[t] == incremental[t], t

    # a full refresh of the trades alone: the incremental models downstream see a reset
    dbt(db_url, "run", "--select", "orderflow_trades", "--full-refresh", target_path=dbt_target, vars=PINNED)
    dbt(db_url, "build", target_path=dbt_target, vars=PINNED)
    assert {t: table_snapshot(db_url, t) for t in tables} == full
    with connect(db_url) as conn:  # appended once per scoring run, never rewritten
        runs = conn.execute("SELECT count(DISTINCT invocation_id) FROM orderflow_reputation_history").fetchone()[0]
    assert runs == 1  # the same pinned scored_at: later runs append nothing

    # one partition per scoring day; a retention drops the days wholly older than it
    def history_days() -> dict[str, int]:
        with connect(db_url) as conn:
            assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'orderflow_reputation_history'::regclass"
                                ).fetchone()[0] == "p"
            parts = [r[0] for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'orderflow_reputation_history'::regclass ORDER BY 1")]
            return {p: conn.execute(f"SELECT count(*) FROM {p}").fetchone()[0] for p in parts}

    with connect(db_url) as conn:
        wallets = conn.execute("SELECT count(*) FROM int_wallets_scored").fetchone()[0]
    assert history_days() == {"orderflow_reputation_history_p20300101": wallets}
    scoring = ("run", "--select", "int_wallets_scored", "orderflow_reputation_history")
    dbt(db_url, *scoring, target_path=dbt_target, vars={"scored_at": "2030-01-02T05:00:00+00:00"})
    dbt(db_url, *scoring, target_path=dbt_target, vars={"scored_at": "2030-01-02T06:00:00+00:00"})
    assert history_days() == {"orderflow_reputation_history_p20300101": wallets,
                              "orderflow_reputation_history_p20300102": 2 * wallets}
    dbt(db_url, *scoring, target_path=dbt_target, vars={"scored_at": "2030-01-03T12:00:00+00:00",
                                                         "history_retention_days": 5})  # keeps all
    monkeypatch.setenv("HISTORY_RETENTION_DAYS", "2")  # the setting, as `orderflow up` passes it on
    dbt(db_url, *scoring, target_path=dbt_target, vars={"scored_at": "2030-01-04T00:30:00+00:00"})
    assert history_days() == {"orderflow_reputation_history_p20300102": 2 * wallets,
                              "orderflow_reputation_history_p20300103": wallets,
                              "orderflow_reputation_history_p20300104": wallets}
    with connect(db_url, autocommit=True) as conn:
        conn.execute("ANALYZE orderflow_reputation_history")
    models = collect_status(ingest_settings(anvil.url, db_url), db_url).model_rows  # `orderflow status`
    assert models["orderflow_reputation_history"] == 4 * wallets
    assert not [m for m in models if m.startswith("orderflow_reputation_history_p")]
    bad = dbt(db_url, *scoring, target_path=dbt_target, vars={"history_retention_days": 0}, check=False)
    assert bad.returncode != 0 and "history_retention_days" in bad.stdout
    monkeypatch.setenv("HISTORY_RETENTION_DAYS", "ninety")
    bad = dbt(db_url, *scoring, target_path=dbt_target, check=False)
    assert bad.returncode != 0 and "HISTORY_RETENTION_DAYS" in bad.stdout


def test_views_and_small_tables_keep_their_relation(anvil, replayer, db_url, dbt_target):
    """A run leaves an unchanged view alone, and refills the small tables views read in place: the
    views trading and analysts read never vanish in a run. A changed or dropped one is rebuilt."""
    kept = ["stg_chain__order_fills", "int_trades_since_refresh", "orderflow_wallet_positions",
            "int_positions_valued", "int_tokens_mapped_to_outcomes", "int_conditions_resolved",
            "int_tokens_marked", "orderflow_market_outcomes"]

    def oids() -> dict[str, int]:
        with connect(db_url) as conn:
            return dict(conn.execute("SELECT relname::text, oid::bigint FROM pg_class WHERE relname = ANY(%s)"
                                     " AND relnamespace = 'public'::regnamespace",
                                     (kept + ["int_wallets_marked_to_market"],)).fetchall())

    def markets() -> int:
        with connect(db_url) as conn:
            return conn.execute("SELECT count(*) FROM orderflow_market_outcomes").fetchone()[0]

    a = replayer.create_market(1, neg_risk=False)
    replayer.match(a, ALICE, "BUY", 0, [(BOB, 100, "0.40")])
    ingestor = ingest(anvil, db_url)
    dbt(db_url, "build", target_path=dbt_target, vars=PINNED)
    first, n = oids(), markets()
    assert set(first) == set(kept) | {"int_wallets_marked_to_market"}

    # new fills in a new market, then the trades job's selection and the scoring job's build
    b = replayer.create_market(2, neg_risk=False)
    replayer.match(b, CAROL, "BUY", 1, [(DAVE, 50, "0.30")])
    ingestor.follow()
    sync_condition_tokens(db_url)
    dbt(db_url, "build", "--select", "+orderflow_trades", "int_trades_since_refresh",
        "--indirect-selection", "cautious", target_path=dbt_target, vars=PINNED)
    dbt(db_url, "build", target_path=dbt_target, vars=PINNED)
    again = oids()
    assert {t: again[t] for t in kept} == {t: first[t] for t in kept}
    # a plain table is swapped, as dbt does
    assert again["int_wallets_marked_to_market"] != first["int_wallets_marked_to_market"]
    assert markets() == n + 1  # refilled in place, with the new market
    with connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM orderflow_trades WHERE condition_id = %s",
                            (b.condition_id,)).fetchone()[0] == 2

    # a definition that changed (its recorded fingerprint differs) and a view dropped by hand: rebuilt
    with connect(db_url) as conn:
        conn.execute("UPDATE orderflow_relation_state SET fingerprint = 'stale' WHERE relation_name IN"
                     " ('int_trades_since_refresh', 'orderflow_market_outcomes')")
        conn.execute("DROP VIEW orderflow_wallet_positions")
        conn.commit()
    dbt(db_url, "build", target_path=dbt_target, vars=PINNED)
    rebuilt = oids()
    changed = {t for t in kept if rebuilt[t] != again[t]}
    assert changed == {"int_trades_since_refresh", "orderflow_market_outcomes", "orderflow_wallet_positions"}
    assert markets() == n + 1
    with connect(db_url) as conn:
        stale = conn.execute("SELECT count(*) FROM orderflow_relation_state WHERE fingerprint = 'stale'").fetchone()[0]
        assert stale == 0
        for query in ANALYST_QUERIES:
            conn.execute(query).fetchall()
