"""eth_getLogs response bodies read by decode.parse_logs_body decode exactly as the dicts do: every
test runs twice, with the compiled in-place reader (warehouse/fastrows.scan_logs) and with polars'
JSON reader alone (as without the C extension), and the two are compared on generated bodies."""

from __future__ import annotations

import json

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.exceptions import PolarsError
from polars.testing import assert_frame_equal

import orderflow_dagster.chain.decode as decode
from orderflow_dagster.chain.decode import LOG_SCHEMA, decode_logs, decode_raw, parse_logs_body
from orderflow_dagster.warehouse import fastrows
from tests.support.fastrows_toggle import polars_only
from tests.unit.test_decode import TOKEN, TOKEN2, U256_MAX, V1, make_log, v1_fill, v2_fill


@pytest.fixture(autouse=True, params=["compiled", "polars"])
def reader(request):
    if request.param == "compiled" and not fastrows.available():
        pytest.skip("the C extension is not built (no compiler)")
    if request.param == "polars":
        with polars_only():
            yield request.param
    else:
        yield request.param


def logs_sample() -> list[dict]:
    out = []
    for i in range(40):
        out.append(v1_fill(0, TOKEN2, 520_000 + i, 1_000_000, i, index=2 * i, block=100 + i // 7))
        out.append(v2_fill(i % 2, TOKEN if i % 3 else TOKEN2, U256_MAX - i, 2**64 + i, 2**64 - 1, index=2 * i + 1, block=100 + i // 7))
    return out


def body_of(logs: list[dict], **envelope) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": 7, "result": logs, **envelope})


def assert_batches_equal(a, b) -> None:
    assert a.logs == b.logs and set(a.tables) == set(b.tables)
    for table in a.tables:
        assert_frame_equal(a.tables[table], b.tables[table])
    assert_frame_equal(a.blocks, b.blocks)


@pytest.fixture
def small_pieces(monkeypatch):
    """Cut the result array every ~2 logs, so the piecewise reading is exercised on small bodies."""
    monkeypatch.setattr(decode, "_PARSE_PIECE_BYTES", 1500)


def test_body_parses_to_the_raw_frame_of_its_logs():
    logs = logs_sample()
    raw = parse_logs_body(body_of(logs))
    assert raw.schema == pl.Schema(LOG_SCHEMA)
    assert raw.height == len(logs)
    assert raw.get_column("data").to_list() == [lg["data"] for lg in logs]
    assert raw.get_column("topics").to_list() == [lg["topics"] for lg in logs]


@pytest.mark.parametrize("pieces", [False, True])
def test_decoding_a_body_equals_decoding_its_dicts(pieces, monkeypatch):
    if pieces:
        monkeypatch.setattr(decode, "_PARSE_PIECE_BYTES", 1500)
    logs = logs_sample()
    from_body = decode_raw(parse_logs_body(body_of(logs)), 137, lowercase=False)
    assert_batches_equal(from_body, decode_logs(logs, 137))
    assert from_body.fills == len(logs)


def test_pieces_are_cut_between_logs_only(small_pieces, reader):
    if reader == "compiled":
        pytest.skip("the compiled reader reads the array whole, in place")
    logs = logs_sample()
    raw = parse_logs_body(body_of(logs))
    assert raw.n_chunks() > 10  # really read in pieces
    assert raw.get_column("logIndex").to_list() == [lg["logIndex"] for lg in logs]


def test_key_order_and_whitespace_of_the_envelope_do_not_matter(small_pieces):
    logs = logs_sample()
    body = b'{ "result" : ' + orjson.dumps(logs) + b' , "id": 7, "jsonrpc": "2.0" }\n'
    assert_frame_equal(parse_logs_body(body), parse_logs_body(body_of(logs)))


def test_pretty_printed_body_is_read_whole():
    logs = logs_sample()
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": logs}, indent=2).encode()
    assert_frame_equal(parse_logs_body(body), parse_logs_body(body_of(logs)))


def test_uppercase_hex_comes_out_lowercase():
    logs = logs_sample()[:4]
    shouting = [{k: (v.upper().replace("0X", "0x") if isinstance(v, str) else [t.upper().replace("0X", "0x") for t in v]
                     if isinstance(v, list) else v) for k, v in lg.items()} for lg in logs]
    assert "A" in shouting[0]["transactionHash"] + shouting[0]["data"] + "".join(shouting[0]["topics"])
    assert_frame_equal(parse_logs_body(body_of(shouting)), parse_logs_body(body_of(logs)))
    assert_batches_equal(decode_raw(parse_logs_body(body_of(shouting)), 137, lowercase=False), decode_logs(logs, 137))


def test_missing_fields_are_null_and_extra_fields_ignored():
    log = v1_fill(0, TOKEN2, 1, 2, 0)
    del log["blockTimestamp"]
    log["extra"] = {"nested": [1, 2]}
    raw = parse_logs_body(body_of([log]))
    assert raw.row(0, named=True)["blockTimestamp"] is None and "extra" not in raw.columns


def test_empty_result():
    for body in (b'{"jsonrpc":"2.0","id":1,"result":[]}', b'{"jsonrpc":"2.0","id":1,"result":[ ]}'):
        raw = parse_logs_body(body)
        assert raw.height == 0 and raw.schema == pl.Schema(LOG_SCHEMA)
    assert decode_raw(parse_logs_body(b'{"result":[]}'), 137).tables == {}


@pytest.mark.parametrize("body", [
    b'{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"query returned more than 10000 results"}}',
    b'{"jsonrpc":"2.0","id":1,"result":null}',
    b'{"jsonrpc":"2.0","id":1}',
])
def test_answers_without_logs_return_none(body):
    assert parse_logs_body(body) is None


@pytest.mark.parametrize("cut", [10, 200, 1000, -30, -3, -2, -1])
def test_truncated_body_is_refused(cut, small_pieces):
    body = body_of(logs_sample())
    with pytest.raises((PolarsError, ValueError)):
        parse_logs_body(body[:cut])


def test_not_json_is_refused():
    with pytest.raises((PolarsError, ValueError)):
        parse_logs_body(b"<html><body>Service temporarily overloaded</body></html>")


def test_bad_log_still_goes_to_quarantine_from_a_body():
    good = v1_fill(0, TOKEN2, 1, 2, 0, index=0)
    bad = make_log(V1, good["topics"], bytes(10), index=1)
    batch = decode_raw(parse_logs_body(body_of([good, bad])), 137, lowercase=False)
    assert batch.fills == 1 and batch.quarantined == 1
    assert "data is 10 bytes" in batch.tables["raw_quarantine"]["reason"][0]


# --- the compiled reader against polars' -----------------------------------------------------

HEXISH = st.text("0123456789abcdefx", max_size=80)
EXTRA = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), HEXISH)


@st.composite
def log_object(draw) -> tuple[dict, list[str]]:
    """A log as a node might write it: fields missing or null, extra keys, any key order."""
    log = v1_fill(0, TOKEN2, draw(st.integers(0, 2**64)), 1, 0, index=draw(st.integers(0, 99)))
    for key in list(log):
        action = draw(st.sampled_from(["keep", "keep", "keep", "drop", "null"]))
        if action == "drop":
            del log[key]
        elif action == "null":
            log[key] = None
    for i in range(draw(st.integers(0, 3))):
        log[f"x{i}"] = draw(EXTRA)
    if "topics" in log and log["topics"] is not None and draw(st.booleans()):
        log["topics"] = draw(st.lists(HEXISH, max_size=5))
    keys = draw(st.permutations(list(log)))
    return log, keys


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(log_object(), max_size=6), st.sampled_from(["", " ", "\n", "\t "]))
def test_the_compiled_reader_reads_what_polars_reads(reader, logs, ws):
    if reader == "polars":
        return  # one comparison is enough: it runs both readers itself
    text = "[" + ws + ("," + ws).join(
        "{" + ws + ("," + ws).join(f'{json.dumps(k)}{ws}:{ws}{json.dumps(log[k])}' for k in keys) + ws + "}"
        for log, keys in logs) + ws + "]"
    body = ('{"jsonrpc":"2.0","id":3,"result":' + text + "}").encode()
    start, end = decode._result_array_span(body)
    scanned = fastrows.scan_logs(body, start, end)
    assert scanned is not None  # plain strings, nulls, booleans and numbers: never left to polars
    with polars_only():
        by_polars = parse_logs_body(body)
    assert_frame_equal(scanned, by_polars)


@pytest.mark.parametrize("log_json", [
    '{"address":"0x\\u0061b","topics":[],"data":"0x"}',  # an escape
    '{"address":"0xab","topics":[],"data":"0x","extra":{"nested":1}}',  # a nested object
    '{"address":"0xab","address":"0xcd","topics":[]}',  # a key twice
    '{"address":"0xab","logIndex":5}',  # a field of another type
    '{"address":"0xab","topics":[null]}',  # a null topic
    '{"address":"0x\u00e9"}',  # a non-ASCII character
])
def test_what_the_compiled_reader_leaves_to_polars(reader, log_json):
    body = ('{"jsonrpc":"2.0","id":3,"result":[' + log_json + "]}").encode()
    start, end = decode._result_array_span(body)
    if reader == "compiled":
        assert fastrows.scan_logs(body, start, end) is None
    try:  # whatever polars makes of it is the answer, the same with or without the extension
        expected = ("ok", parse_logs_body(body))
    except (PolarsError, ValueError) as e:
        expected = ("error", type(e))
    with polars_only():
        try:
            got = ("ok", parse_logs_body(body))
        except (PolarsError, ValueError) as e:
            got = ("error", type(e))
    assert got[0] == expected[0]
    if got[0] == "ok":
        assert_frame_equal(got[1], expected[1])
