"""Hostile inputs: property-based decoding and P&L math, odd logs on a real chain, odd titles, bad settings.

Buy-walk and stake caps have their properties in tests/unit/test_trading_book.py and
test_trading_confidence_sizing.py; the ones here are those the fault suite adds."""

from __future__ import annotations

import copy
import re
from decimal import Decimal

import annotated_types as at
import polars as pl
import pytest
from eth_abi import encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderflow_dagster.chain.contracts import CONTRACTS, EVENTS_BY_KEY
from orderflow_dagster.chain.decode import LOG_SCHEMA, RAW_TABLES, decode_logs, decode_raw
from orderflow_dagster.ingest import Ingestor
from orderflow_dagster.metadata.gamma import parse_market
from orderflow_dagster.settings import ConfigError, Settings, load_settings
from orderflow_dagster.simulator.replayer import Fill, Side, fill_log
from orderflow_dagster.trading.alerts import DiscordAlerter
from orderflow_dagster.trading.brokers import Level, walk_buy, walk_sell
from orderflow_dagster.trading.config import TradingSettings, load_trading_settings
from orderflow_dagster.trading.sources import Resolution
from orderflow_dagster.warehouse import fastrows
from orderflow_dagster.warehouse.db import connect
from orderflow_dagster.warehouse.landing import BINARY_TABLES, prepare_copy, render_copy
from orderflow_dagster.warehouse.metadata import upsert_metadata
from tests.faults.outcome import Result, fill_counts, record
from tests.integration.chain_truth import canonical_fills
from tests.integration.conftest import ingest_settings
from tests.support.fastrows_toggle import polars_only
from tests.unit.test_decode import make_log, topic_addr, v1_fill
from tests.unit.test_fastrows import values

EXCHANGES = [c for c in CONTRACTS if c.kind == "exchange"]
U256 = st.integers(0, 2**256 - 1)
ADDRESS = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
WORD = st.binary(min_size=32, max_size=32)
HEX_ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
HEX_WORD = re.compile(r"^0x[0-9a-f]{64}$")
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def valid_fill(draw) -> tuple[dict, dict]:
    """A well-formed OrderFilled log of any exchange, and the row it must decode to."""
    exchange = draw(st.sampled_from(EXCHANGES))
    maker, taker, order_hash = draw(ADDRESS), draw(ADDRESS), draw(WORD)
    amounts = draw(st.tuples(U256, U256, U256))
    topics = [None, "0x" + order_hash.hex(), topic_addr(maker), topic_addr(taker)]
    want = dict(maker=maker, taker=taker, order_hash="0x" + order_hash.hex(), neg_risk=exchange.neg_risk,
                generation=exchange.generation, contract_address=exchange.address,
                maker_amount_filled=str(amounts[0]), taker_amount_filled=str(amounts[1]), fee=str(amounts[2]))
    if exchange.generation == 1:
        maker_asset, taker_asset = draw(U256), draw(U256)
        topics[0] = EVENTS_BY_KEY["order_filled_v1"].topic0
        data = encode(["uint256"] * 5, [maker_asset, taker_asset, *amounts])
        want.update(maker_asset_id=str(maker_asset), taker_asset_id=str(taker_asset), side=None, token_id=None)
    else:
        side, token, builder, metadata = draw(st.integers(0, 1)), draw(U256), draw(WORD), draw(WORD)
        topics[0] = EVENTS_BY_KEY["order_filled_v2"].topic0
        data = encode(["uint8", "uint256", "uint256", "uint256", "uint256", "bytes32", "bytes32"],
                      [side, token, *amounts, builder, metadata])
        want.update(side=side, token_id=str(token), builder="0x" + builder.hex(), metadata="0x" + metadata.hex(),
                    maker_asset_id=None, taker_asset_id=None)
    return make_log(exchange.address, topics, data), want


@PROPERTY
@given(st.lists(valid_fill(), min_size=1, max_size=12))
def test_any_valid_fill_decodes_to_its_fields_exactly(fills):
    logs = []
    for i, (log, _) in enumerate(fills):
        log.update(logIndex=hex(i))
        logs.append(log)
    batch = decode_logs(logs, 137)
    assert batch.quarantined == 0 and batch.fills == len(fills)
    rows = {r["log_index"]: r for r in batch.tables["raw_order_fills"].to_dicts()}
    for i, (_, want) in enumerate(fills):
        got = rows[i]
        assert {k: got[k] for k in want} == want


GARBAGE = st.one_of(st.none(), st.text(max_size=70), st.text("0123456789abcdefABCDEFx", max_size=70))


@st.composite
def corrupted_log(draw) -> dict:
    """A valid fill with one or more of its fields mangled (what a broken node or proxy could send)."""
    log, _ = draw(valid_fill())
    for field in draw(st.sets(st.sampled_from(["data", "topics", "topic", "blockNumber", "logIndex",
                                                 "transactionHash", "blockHash", "address", "truncate"]), min_size=1)):
        if field == "data":
            log["data"] = draw(GARBAGE)
        elif field == "truncate":
            data = log["data"] or ""
            log["data"] = data[:draw(st.integers(0, len(data)))]
        elif field == "topics":
            log["topics"] = draw(st.one_of(st.none(), st.lists(st.one_of(WORD.map(lambda b: "0x" + b.hex()), st.text(max_size=70)),
                                                               max_size=6)))
        elif field == "topic" and log["topics"]:
            log["topics"][draw(st.integers(0, len(log["topics"]) - 1))] = draw(st.text(max_size=70))
        else:
            log[field] = draw(GARBAGE)
    return log


@PROPERTY
@given(st.lists(corrupted_log(), min_size=1, max_size=8), st.lists(valid_fill(), max_size=3))
def test_any_corrupted_log_is_quarantined_with_a_reason_and_never_raises(bad, good):
    logs = bad + [log for log, _ in good]
    for i, log in enumerate(logs):
        if log.get("logIndex") is not None and re.fullmatch(r"0x[0-9a-fA-F]+", str(log["logIndex"])):
            log["logIndex"] = hex(i)  # keep keys distinct; a mangled index stays mangled
    batch = decode_logs(logs, 137)
    event_rows = sum(df.height for t, df in batch.tables.items() if t in RAW_TABLES and t != "raw_condition_tokens")
    assert event_rows + batch.quarantined == len(logs)  # every log lands once: decoded or quarantined
    assert batch.fills >= len(good)
    if batch.quarantined:
        assert batch.tables["raw_quarantine"]["reason"].str.len_chars().min() > 0
    fills = batch.tables.get("raw_order_fills")
    if fills is not None:  # whatever decodes as a fill holds well-formed values only
        for row in fills.to_dicts():
            assert HEX_ADDRESS.match(row["maker"]) and HEX_ADDRESS.match(row["taker"]), row
            assert HEX_WORD.match(row["order_hash"]), row
            assert row["maker_amount_filled"].isdigit() and row["fee"].isdigit(), row


def sorted_frame(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(df.columns, nulls_last=True)


@pytest.mark.skipif(not fastrows.available(), reason="the C extension is not built (no compiler)")
@PROPERTY
@given(st.lists(corrupted_log(), max_size=6), st.lists(valid_fill(), max_size=4))
def test_the_compiled_checks_and_rows_agree_with_the_polars_path(bad, good):
    """fastrows.classify decides quarantine (and fastrows.encode_events writes the fill rows)
    exactly as the polars expressions do, for mangled and valid logs mixed."""
    logs = bad + [log for log, _ in good]
    for i, log in enumerate(logs):
        if log.get("logIndex") is not None and re.fullmatch(r"0x[0-9a-fA-F]+", str(log["logIndex"])):
            log["logIndex"] = hex(i)
    compiled = prepare_copy(decode_logs(copy.deepcopy(logs), 137))
    with polars_only():
        plain = prepare_copy(decode_logs(copy.deepcopy(logs), 137))
    assert compiled.rows() == plain.rows()
    for table, frame in plain.tables.items():
        assert sorted_frame(compiled.frame(table)).equals(sorted_frame(frame)), table
    for table in BINARY_TABLES:
        if table in compiled.prepared and compiled.prepared[table].options != "FORMAT binary":
            # fastrows refused the batch (e.g. a mangled tx hash of another width): the frame's rows
            assert compiled.prepared[table] == plain.prepared[table], table
        elif table in compiled.prepared:
            # the polars path sends a batch of one generation as text (its other generation's
            # columns are all-NULL, of no type): typed here so that both read as binary rows
            frame = plain.tables[table]
            frame = frame.with_columns(pl.col(c).cast(pl.Int16 if c == "side" else pl.String)
                                       for c, t in frame.schema.items() if t == pl.Null)
            reference = render_copy(table, frame)
            assert reference.options == "FORMAT binary"
            assert values(compiled.prepared[table].data, table) == values(reference.data, table), table


# --- P&L math -----------------------------------------------------------------------------------

PRICE = st.integers(1, 99).map(lambda c: Decimal(c) / 100)
FEE_RATE = st.sampled_from([Decimal(0), Decimal("0.01"), Decimal("0.02"), Decimal("0.1")])
SIZE = st.integers(1, 10**7).map(lambda n: Decimal(n) / 100)


@st.composite
def book_side(draw) -> tuple[Level, ...]:
    levels = draw(st.lists(st.tuples(PRICE, SIZE), min_size=1, max_size=6, unique_by=lambda x: x[0]))
    return tuple(Level(p, s) for p, s in levels)


@PROPERTY
@given(PRICE, SIZE, st.integers(1, 10**6).map(lambda n: Decimal(n) / 100), FEE_RATE)
def test_buying_then_selling_everything_at_the_same_price_loses_exactly_the_fees(price, depth, budget, fee_rate):
    buy = walk_buy((Level(price, depth),), budget, worst=price, fee_rate=fee_rate)
    sell = walk_sell((Level(price, depth),), buy.shares, worst=price, fee_rate=fee_rate)
    assert sell.shares == buy.shares and sell.complete
    realised = sell.notional - sell.fee - buy.notional - buy.fee  # executor._finish_exit's formula
    assert realised == -(buy.fee + sell.fee)
    assert buy.fee >= 0 and sell.fee >= 0


@PROPERTY
@given(book_side(), SIZE, PRICE, FEE_RATE)
def test_a_sell_walk_never_sells_more_than_held_or_below_the_worst_price(bids, held, worst, fee_rate):
    bids = tuple(sorted(bids, key=lambda lv: lv.price, reverse=True))
    w = walk_sell(bids, held, worst, fee_rate)
    assert 0 <= w.shares <= held  # a position never goes negative
    assert w.last_price is None or w.last_price >= worst
    assert w.notional <= w.shares * (bids[0].price if bids else 0) + Decimal("0.000001")


@PROPERTY
@given(st.lists(st.integers(0, 10**6), min_size=2, max_size=5).filter(lambda v: sum(v) > 0))
def test_settlement_pays_each_share_its_payout_share_and_a_winner_exactly_one(numerators):
    res = Resolution("0x", tuple(Decimal(n) for n in numerators), None)
    payouts = [res.payout_per_share(i) for i in range(len(numerators))]
    assert all(0 <= p <= 1 for p in payouts) and abs(sum(payouts) - 1) < Decimal("1e-20")
    winner = [0] * len(numerators)
    winner[numerators.index(max(numerators))] = 1
    won = Resolution("0x", tuple(Decimal(n) for n in winner), None)
    assert [won.payout_per_share(i) for i in range(len(winner))] == winner
    assert res.payout_per_share(len(numerators)) == 0  # an outcome index the market lacks pays nothing


# --- odd logs on a real chain, through the real ingestion into Postgres --------------------------

@pytest.mark.integration
def test_odd_fills_and_malformed_logs_land_exactly_or_in_quarantine(anvil, replayer, db_url):
    v1, v2 = (next(c for c in EXCHANGES if c.generation == g and not c.neg_risk) for g in (1, 2))
    unknown_token = 2**256 - 1  # no market registers it
    odd = [  # absurd uint256 amounts, zero amounts, an unknown token
        (v1, Fill(b"\x01" * 32, "0x" + "11" * 20, "0x" + "22" * 20, Side.BUY, unknown_token, 2**256 - 1, 2**256 - 1, 2**256 - 1)),
        (v2, Fill(b"\x02" * 32, "0x" + "33" * 20, "0x" + "44" * 20, Side.SELL, unknown_token, 0, 0, 0)),
        (v2, Fill(b"\x03" * 32, "0x" + "55" * 20, "0x" + "66" * 20, Side.BUY, 12345, 10**30, 1, 0)),
    ]
    txs = replayer.random_activity(5)
    txs += [replayer.send_logs(c.address, [fill_log(c.generation, f)]) for c, f in odd]
    fill_v1 = EVENTS_BY_KEY["order_filled_v1"].topic0
    malformed = [
        replayer.emit_raw(v1.address, ["0x" + "ee" * 32, "0x" + "01" * 32]),  # unknown topic0
        replayer.emit_raw(v1.address, [fill_v1, "0x" + "01" * 32, topic_addr("0x" + "11" * 20)], b"\x00" * 160),  # 3 topics
        replayer.emit_raw(v1.address, [fill_v1, "0x" + "01" * 32, topic_addr("0x" + "11" * 20), topic_addr("0x" + "22" * 20)],
                          b"\x00" * 100),  # short data
    ]
    Ingestor(ingest_settings(anvil.url, db_url), db_url).follow()
    with connect(db_url) as conn:
        lost, dup = fill_counts(conn, canonical_fills(anvil.url, txs))
        quarantined = conn.execute("SELECT tx_hash, reason FROM raw_quarantine ORDER BY block_number").fetchall()
        extremes = conn.execute("SELECT maker_amount_filled, taker_amount_filled, fee, coalesce(token_id, taker_asset_id)"
                                " FROM raw_order_fills WHERE tx_hash = %s", (txs[-3],)).fetchone()
    result = record(Result("inputs: odd fills and malformed logs on chain", "uint256 max amounts, zero amounts, unknown "
                           "token ids, unknown topic0, wrong topic count, short data", lost, dup, 0,
                           {"quarantined": len(quarantined)}))
    assert result.clean, result
    # an unknown topic0 is not even fetched (eth_getLogs filters by the watched topics); the rest are quarantined
    assert [tx for tx, _ in quarantined] == malformed[1:] and all(reason for _, reason in quarantined)
    assert extremes == (Decimal(2**256 - 1),) * 3 + (Decimal(unknown_token),)  # exact, no float on the way


# --- market titles with quotes and SQL, through the metadata landing ---------------------------

HOSTILE_TITLES = [
    "Will O'Brien win?", 'He said "yes"; DROP TABLE raw_order_fills; --', "Robert'); DROP TABLE orderflow_signals;--",
    "back\\slash, comma, \nnewline\ttab", "emoji 🚀 and \u202e right-to-left", "%s %(x)s {} $1",
]


@pytest.mark.integration
def test_market_titles_with_quotes_and_sql_are_stored_verbatim(db_url):
    markets = [parse_market({"conditionId": "0x" + f"{i:064x}", "question": t, "slug": t, "outcomes": '["Yes", "No"]',
                             "clobTokenIds": '["1", "2"]', "closed": False}) for i, t in enumerate(HOSTILE_TITLES)]
    with connect(db_url, autocommit=True) as conn:
        assert upsert_metadata(conn, markets) == len(HOSTILE_TITLES)
        stored = [r[0] for r in conn.execute("SELECT question FROM raw_market_metadata ORDER BY condition_id")]
        payload = [r[0] for r in conn.execute("SELECT payload->>'question' FROM raw_market_metadata ORDER BY condition_id")]
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert stored == HOSTILE_TITLES and payload == HOSTILE_TITLES
    assert {"raw_order_fills", "orderflow_signals"} <= tables


# --- invalid webhook URLs and every setting given a bad value ------------------------------------

@pytest.mark.parametrize("url", ["not a url", "ftp://discord.com/api/webhooks/1/x", "javascript:alert(1)", "discord.com/x"])
def test_an_invalid_webhook_url_stops_start_up_naming_the_variable(monkeypatch, url):
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", url)
    with pytest.raises(ConfigError) as err:
        load_trading_settings()
    assert "DISCORD_WEBHOOK_URL" in str(err.value) and url not in str(err.value)  # named, never echoed (a secret)


@pytest.mark.parametrize("url", ["http://", "http://[::1", "https://no-such-host.invalid/api/webhooks/1/x"])
def test_a_webhook_url_that_fails_at_send_time_never_blocks_or_raises(url):
    alerter = DiscordAlerter(url, timeout=0.5, backoff_base=0.01, deadline=0.5)
    alerter.enqueue("hello")
    assert alerter.flush(10) and alerter.sent == 0


def _bad_values(field) -> list[str]:
    """Values the field's type or constraints must refuse, derived from the field itself."""
    ann = repr(field.annotation)
    out = []
    for m in field.metadata:
        if isinstance(m, (at.Ge, at.Gt)):
            bound = m.ge if isinstance(m, at.Ge) else m.gt
            out.append(str(bound - 1 if isinstance(m, at.Ge) else bound))
        if isinstance(m, (at.Le, at.Lt)):
            bound = m.le if isinstance(m, at.Le) else m.lt
            out.append(str(bound + 1 if isinstance(m, at.Le) else bound))
    if "bool" in ann:
        out.append("perhaps")
    elif "int" in ann or "float" in ann:
        out.append("not-a-number")
    if "Literal" in ann:
        out.append("NOT_A_CHOICE")
    return out


# String fields whose bad values the type cannot derive: the validators in settings.py / config.py.
_STRING_BAD_VALUES = {
    "POLYGON_RPC_URL": "ftp://node", "DATABASE_URL": "mysql://x", "CLOB_API_URL": "ftp://clob",
    "POLYMARKET_PRIVATE_KEY": "0x1234", "CLOB_FUNDER": "0xnothex", "OUR_WALLET_ADDRESS": "12345",
    "DISCORD_WEBHOOK_URL": "not a url", "GAMMA_API_URL": "ftp://gamma", "SCORING_CRON": "every day at noon",
}
# Accepting any value is fine for these (a path, an opaque credential).
_ANY_VALUE_OK = {"ORDERFLOW_HOME", "CLOB_API_KEY", "CLOB_API_SECRET", "CLOB_API_PASSPHRASE"}
_UNVALIDATED: set[str] = set()


def _all_bad_settings() -> list[tuple[str, str, str]]:
    cases = []
    for owner, model in (("settings", Settings), ("trading", TradingSettings)):
        for name, field in model.model_fields.items():
            var = name.upper()
            values = _bad_values(field) + ([_STRING_BAD_VALUES[var]] if var in _STRING_BAD_VALUES else [])
            cases += [(owner, var, v) for v in values]
    return cases


def _load(owner: str):
    return load_settings() if owner == "settings" else load_trading_settings()


@pytest.mark.parametrize("owner, var, value", _all_bad_settings())
def test_every_setting_given_a_bad_value_stops_naming_the_variable(monkeypatch, owner, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        _load(owner)
    assert var in str(err.value)


def test_every_setting_has_a_bad_value_case():
    covered = {var for _, var, _ in _all_bad_settings()}
    every = {n.upper() for m in (Settings, TradingSettings) for n in m.model_fields}
    assert every - covered - _ANY_VALUE_OK == _UNVALIDATED  # a new setting needs a bad-value case (or a reason)


def test_a_log_index_beyond_int32_is_quarantined_not_raised():
    log = v1_fill(0, 1, 1, 2, 0)
    frame = pl.DataFrame([{**{k: log[k] for k in LOG_SCHEMA}, "logIndex": "0x80000000"}], schema=LOG_SCHEMA)
    batch = decode_raw(frame, 137)  # raised InvalidOperationError (i64 -> i32 cast) before the fix
    assert batch.quarantined == 1 and "logIndex" in batch.tables["raw_quarantine"]["reason"][0]
