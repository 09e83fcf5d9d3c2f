"""RpcClient.get_logs_frame (bodies parsed by polars) keeps get_logs' retries and errors; block
timestamps missing from a node's logs are filled into the frame from headers."""

from __future__ import annotations

import os
import sys
import threading

import orjson
import pytest

from orderflow_dagster.chain.fetch import fill_block_timestamps_frame, iter_log_ranges
from orderflow_dagster.chain.rpc import RangeTooLarge, RpcClient, RpcError, TransientRpcError
from tests.unit.test_decode import TOKEN2, v1_fill


class ScriptedTransport:
    """Answers each request with the next scripted body; records the requests."""

    def __init__(self, *bodies: bytes):
        self.bodies = list(bodies)
        self.requests: list[dict] = []

    def send(self, payload: bytes) -> bytes:
        self.requests.append(orjson.loads(payload))
        return self.bodies.pop(0)

    def close(self) -> None:
        pass


def client_with(*bodies: bytes, retries: int = 3) -> RpcClient:
    client = RpcClient("http://node.invalid", timeout=1.0, max_retries=retries)
    client._transport = ScriptedTransport(*bodies)
    return client


def answer(result) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": result})


LOGS = [v1_fill(0, TOKEN2, 1, 2, 0, index=i, block=10 + i) for i in range(3)]


def test_frame_of_the_logs_and_same_request_as_get_logs():
    client = client_with(answer(LOGS), answer(LOGS))
    frame = client.get_logs_frame(10, 12, ["0xabc"], ["0xdef"])
    client.get_logs(10, 12, ["0xabc"], ["0xdef"])
    assert frame.height == 3 and frame.get_column("logIndex").to_list() == ["0x0", "0x1", "0x2"]
    framed, plain = client._transport.requests
    assert framed["params"] == plain["params"] and framed["method"] == plain["method"] == "eth_getLogs"


def test_invalid_or_truncated_body_is_retried(monkeypatch):
    monkeypatch.setattr("orderflow_dagster.chain.rpc._wait", lambda state: 0)
    client = client_with(b"<html>502</html>", answer(LOGS)[:-5], answer(LOGS))
    assert client.get_logs_frame(10, 12, [], []).height == 3
    assert client.requests == 3


def test_invalid_body_raises_when_retries_run_out():
    with pytest.raises(TransientRpcError):
        client_with(b"not json", retries=0).get_logs_frame(10, 12, [], [])


def test_range_too_large_and_other_errors_raise_as_in_call():
    too_many = orjson.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": -32005, "message": "query returned more than 10000 results"}})
    with pytest.raises(RangeTooLarge):
        client_with(too_many).get_logs_frame(10, 12, [], [])
    other = orjson.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "header not found"}})
    with pytest.raises(RpcError) as err:
        client_with(other).get_logs_frame(10, 12, [], [])
    assert not isinstance(err.value, RangeTooLarge)


def test_null_result_is_no_logs():
    assert client_with(answer(None)).get_logs_frame(10, 12, [], []).height == 0


def test_refused_range_is_split_and_frames_joined():
    too_many = orjson.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": -32005, "message": "too many results"}})
    client = client_with(too_many, answer(LOGS[:1]), answer(LOGS[1:]))
    (a, b, frame), = list(iter_log_ranges(client, 10, 12, [], [], concurrency=1))
    assert (a, b) == (10, 12) and frame.get_column("logIndex").to_list() == ["0x0", "0x1", "0x2"]


class HeaderClient:
    def __init__(self):
        self.asked: list[int] = []

    def get_block(self, number: int) -> dict | None:
        self.asked.append(number)
        return None if number == 12 else {"timestamp": hex(1_700_000_000 + number)}


def test_missing_block_timestamps_are_read_from_headers_once_per_block():
    logs = [dict(lg) for lg in LOGS] + [dict(LOGS[0], logIndex="0x9")]
    for lg in logs[:2] + logs[3:]:
        lg.pop("blockTimestamp")
    logs[1]["blockTimestamp"] = ""  # empty counts as missing too
    frame = client_with(answer(logs)).get_logs_frame(10, 12, [], [])
    headers = HeaderClient()
    filled = fill_block_timestamps_frame(headers, frame, concurrency=2)
    assert sorted(headers.asked) == [10, 11]  # block 12's log has its timestamp; block 10 asked once
    assert filled.get_column("blockTimestamp").to_list() == [hex(1_700_000_010), hex(1_700_000_011), LOGS[2]["blockTimestamp"], hex(1_700_000_010)]


def test_unknown_header_leaves_timestamp_missing():
    log = dict(LOGS[2])
    log.pop("blockTimestamp")
    frame = client_with(answer([log])).get_logs_frame(12, 12, [], [])
    assert fill_block_timestamps_frame(HeaderClient(), frame).get_column("blockTimestamp").to_list() == [None]


@pytest.mark.skipif(sys.platform != "linux", reason="a niceness per thread is Linux's")
def test_fetch_threads_yield_to_the_decode_thread():
    from orderflow_dagster.chain.fetch import BACKGROUND_NICENESS, lower_thread_priority

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = niceness()
    seen = {}

    def worker():
        start = niceness()
        lower_thread_priority()
        seen["thread"] = (start, niceness())

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen["thread"] == (before, min(19, before + BACKGROUND_NICENESS))
    assert niceness() == before  # the calling thread only, not the process
