"""The fault proxy really injects each fault, as seen by plain clients against anvil."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import ClientConnection, connect

from orderflow_dagster.simulator.anvil import AnvilNode
from tests.integration.chain_truth import mined_receipt
from tests.support.rpc_proxy import LOG_LIMIT_CODE, Fault, FaultPlan, RpcFaultProxy, WsFaultProxy

pytestmark = pytest.mark.integration

CHAIN_BLOCKS = 100  # mined up front so getLogs spans are real
LOGS_PER_TX = 3
# Init code that emits LOG0 three times and deploys nothing: a tx with exactly 3 logs.
THREE_LOGS_INIT_CODE = "0x" + "60006000a0" * LOGS_PER_TX + "00"
# One client for the whole module: building one costs ~20 ms (SSL context).
HTTP = httpx.Client()


# --- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _close_http_client() -> Iterator[None]:
    yield
    HTTP.close()


@pytest.fixture(scope="module")
def anvil() -> Iterator[str]:
    # AnvilNode runs the real binary behind npm's node wrapper and never leaves it orphaned.
    with AnvilNode() as node:
        rpc(node.url, "anvil_mine", hex(CHAIN_BLOCKS))
        yield node.url


@pytest.fixture(scope="module")
def log_block(anvil: str) -> int:
    """Number of a block holding exactly LOGS_PER_TX logs."""
    sender = rpc(anvil, "eth_accounts")["result"][0]
    tx_hash = rpc(anvil, "eth_sendTransaction", {"from": sender, "data": THREE_LOGS_INIT_CODE})["result"]
    receipt = mined_receipt(anvil, tx_hash)  # a receipt read at once was null in CI
    assert len(receipt["logs"]) == LOGS_PER_TX
    return int(receipt["blockNumber"], 16)


# --- helpers --------------------------------------------------------------------


def call(method: str, *params: Any, call_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": call_id, "method": method, "params": list(params)}


def post(url: str, payload: Any, timeout_s: float = 5.0) -> httpx.Response:
    return HTTP.post(url, json=payload, timeout=timeout_s)


def rpc(url: str, method: str, *params: Any) -> dict[str, Any]:
    response = post(url, call(method, *params))
    response.raise_for_status()
    return response.json()


def get_logs(from_block: int | str, to_block: int | str, call_id: int = 1) -> dict[str, Any]:
    def tag(block: int | str) -> str:
        return hex(block) if isinstance(block, int) else block

    query = {"fromBlock": tag(from_block), "toBlock": tag(to_block)}
    return call("eth_getLogs", query, call_id=call_id)


def ws_rpc(ws: ClientConnection, method: str, *params: Any, call_id: int = 1) -> dict[str, Any]:
    ws.send(json.dumps(call(method, *params, call_id=call_id)))
    return json.loads(ws.recv(timeout=5))


# --- HTTP: transparency -----------------------------------------------------------


def test_empty_plan_is_transparent(anvil: str) -> None:
    batch = [call("eth_chainId", call_id=7), call("eth_getBlockByNumber", "0x2", False, call_id=8)]
    with RpcFaultProxy(anvil) as proxy:
        for payload in (
            call("eth_blockNumber"),
            call("eth_getBlockByNumber", "0x1", False),
            call("eth_getBlockByNumber", "latest", True),
            batch,
        ):
            assert post(proxy.url, payload).json() == post(anvil, payload).json()
    assert proxy.stats.total_injected == 0
    assert proxy.stats.requests == 4
    assert proxy.stats.calls["eth_getBlockByNumber"] == 3


def test_proxy_stops_when_context_exits(anvil: str) -> None:
    with httpx.Client() as client:  # keeps a keep-alive connection open across the exit
        with RpcFaultProxy(anvil) as proxy:
            url = proxy.url
            assert client.post(url, json=call("eth_chainId")).status_code == 200
            started = time.monotonic()
        assert time.monotonic() - started < 2
        with pytest.raises(httpx.TransportError):
            client.post(url, json=call("eth_chainId"))


# --- HTTP: transport faults -------------------------------------------------------


def test_rate_limit_first_n_calls_of_a_method(anvil: str) -> None:
    plan = FaultPlan(fail_first={"eth_blockNumber": (2, Fault.RATE_LIMIT)}, retry_after_s=3)
    with RpcFaultProxy(anvil, plan) as proxy:
        assert post(proxy.url, call("eth_chainId")).status_code == 200  # other methods untouched
        for _ in range(2):
            limited = post(proxy.url, call("eth_blockNumber"))
            assert limited.status_code == 429
            assert limited.headers["Retry-After"] == "3"
        recovered = post(proxy.url, call("eth_blockNumber"))
        assert recovered.status_code == 200
        assert int(recovered.json()["result"], 16) >= CHAIN_BLOCKS
    assert proxy.stats.injected == {Fault.RATE_LIMIT: 2}


def statuses_seen(anvil: str, plan: FaultPlan, requests: int) -> tuple[list[int], RpcFaultProxy]:
    with RpcFaultProxy(anvil, plan) as proxy:
        statuses = [post(proxy.url, call("eth_chainId")).status_code for _ in range(requests)]
    return statuses, proxy


def test_seeded_probabilities_are_deterministic_and_counted(anvil: str) -> None:
    plan = FaultPlan(seed=42, rate_limit=0.3, server_error=0.3)
    first, proxy = statuses_seen(anvil, plan, requests=30)
    second, _ = statuses_seen(anvil, plan, requests=30)
    assert first == second
    assert {200, 429} <= set(first) and set(first) & {502, 503}
    assert proxy.stats.injected[Fault.RATE_LIMIT] == first.count(429)
    assert proxy.stats.injected[Fault.SERVER_ERROR] == first.count(502) + first.count(503)


def test_server_error_is_a_gateway_page(anvil: str) -> None:
    with RpcFaultProxy(anvil, FaultPlan(server_error=1.0, server_error_statuses=(503,))) as proxy:
        response = post(proxy.url, call("eth_chainId"))
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "text/html"
    assert proxy.stats.injected == {Fault.SERVER_ERROR: 1}


def test_slow_answer_times_out_only_targeted_methods(anvil: str) -> None:
    plan = FaultPlan(slow=1.0, slow_s=1.0, methods={"eth_getLogs"})
    with RpcFaultProxy(anvil, plan) as proxy:  # closing wakes the sleeper: no 1 s wait
        assert post(proxy.url, call("eth_chainId"), timeout_s=0.8).status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            post(proxy.url, get_logs(1, 2), timeout_s=0.2)
    assert proxy.stats.injected == {Fault.SLOW: 1}


def test_truncated_body_with_consistent_length_is_invalid_json(anvil: str) -> None:
    with RpcFaultProxy(anvil, FaultPlan(truncate=1.0)) as proxy:
        response = post(proxy.url, call("eth_getBlockByNumber", "0x1", False))
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert response.headers["Connection"] == "close"
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert proxy.stats.injected == {Fault.TRUNCATE: 1}


def test_truncated_body_declaring_full_length_breaks_the_connection(anvil: str) -> None:
    plan = FaultPlan(truncate=1.0, truncate_declares_full_length=True)
    with RpcFaultProxy(anvil, plan) as proxy:
        with pytest.raises(httpx.RemoteProtocolError):
            post(proxy.url, call("eth_getBlockByNumber", "0x1", False))
    assert proxy.stats.injected == {Fault.TRUNCATE: 1}


def test_invalid_json_body(anvil: str) -> None:
    with RpcFaultProxy(anvil, FaultPlan(invalid_json=1.0)) as proxy:
        response = post(proxy.url, call("eth_chainId"))
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert proxy.stats.injected == {Fault.INVALID_JSON: 1}


# --- HTTP: eth_getLogs limits -----------------------------------------------------


def assert_log_limit_error(reply: dict[str, Any]) -> None:
    assert "result" not in reply
    assert reply["error"]["code"] == LOG_LIMIT_CODE
    assert reply["error"]["message"] == "query returned more than 10000 results"


def test_span_limit_rejects_wide_get_logs_only(anvil: str) -> None:
    with RpcFaultProxy(anvil, FaultPlan(max_log_span=10)) as proxy:
        wide = post(proxy.url, get_logs(1, 11)).json()
        narrow = post(proxy.url, get_logs(1, 10)).json()
        by_tags = post(proxy.url, get_logs("earliest", "latest")).json()
    assert_log_limit_error(wide)
    assert wide["error"]["data"] == {"from": "0x1", "to": "0xa"}  # a range that would pass
    assert narrow["result"] == []
    assert_log_limit_error(by_tags)
    assert proxy.stats.injected == {Fault.LOG_LIMIT: 2}


def test_span_limit_rejects_only_the_wide_call_of_a_batch(anvil: str) -> None:
    batch = [get_logs(0, 50, call_id=1), call("eth_chainId", call_id=2), get_logs(5, 6, call_id=3)]
    with RpcFaultProxy(anvil, FaultPlan(max_log_span=10)) as proxy:
        replies = {reply["id"]: reply for reply in post(proxy.url, batch).json()}
    assert_log_limit_error(replies[1])
    assert replies[2]["result"] == "0x89"  # chain id 137
    assert replies[3]["result"] == []


def test_max_logs_rejects_results_above_the_limit(anvil: str, log_block: int) -> None:
    query = get_logs(log_block, log_block)
    with RpcFaultProxy(anvil, FaultPlan(max_logs=LOGS_PER_TX - 1)) as strict:
        assert_log_limit_error(post(strict.url, query).json())
    with RpcFaultProxy(anvil, FaultPlan(max_logs=LOGS_PER_TX)) as lenient:
        assert len(post(lenient.url, query).json()["result"]) == LOGS_PER_TX
    assert strict.stats.injected == {Fault.LOG_LIMIT: 1}
    assert lenient.stats.total_injected == 0


def test_fail_first_log_limit_then_answers(anvil: str, log_block: int) -> None:
    plan = FaultPlan(fail_first={"eth_getLogs": (1, Fault.LOG_LIMIT)})
    with RpcFaultProxy(anvil, plan) as proxy:
        assert_log_limit_error(post(proxy.url, get_logs(log_block, log_block)).json())
        assert len(post(proxy.url, get_logs(log_block, log_block)).json()["result"]) == LOGS_PER_TX
    assert proxy.stats.injected == {Fault.LOG_LIMIT: 1}


def test_plan_rejects_impossible_probabilities() -> None:
    with pytest.raises(ValueError):
        FaultPlan(rate_limit=0.7, server_error=0.7)


# --- websocket ----------------------------------------------------------------------


def test_ws_empty_plan_is_transparent(anvil: str) -> None:
    with WsFaultProxy(anvil) as proxy, connect(proxy.url) as ws:
        for method, params in (("eth_blockNumber", []), ("eth_getBlockByNumber", ["0x1", False])):
            assert ws_rpc(ws, method, *params) == rpc(anvil, method, *params)
    assert proxy.stats.total_injected == 0
    assert proxy.stats.connections == 1


def test_ws_drops_connection_after_n_messages(anvil: str) -> None:
    with WsFaultProxy(anvil, FaultPlan(ws_drop_after=2, ws_max_drops=1)) as proxy:
        with connect(proxy.url) as ws:
            ws_rpc(ws, "eth_chainId")
            ws_rpc(ws, "eth_chainId")
            with pytest.raises(ConnectionClosedError):
                ws_rpc(ws, "eth_chainId")
        with connect(proxy.url) as ws:  # drop budget spent: the reconnect stays up
            for _ in range(3):
                assert ws_rpc(ws, "eth_chainId")["result"] == "0x89"
    assert proxy.stats.injected == {Fault.WS_DROP: 1}
    assert proxy.stats.connections == 2


def next_head(ws: ClientConnection) -> int:
    notification = json.loads(ws.recv(timeout=5))
    assert notification["method"] == "eth_subscription"
    return int(notification["params"]["result"]["number"], 16)


def test_ws_new_heads_survive_a_dropped_connection(anvil: str) -> None:
    # Subscribe reply + one head = 2 messages, then the connection drops.
    with WsFaultProxy(anvil, FaultPlan(ws_drop_after=2, ws_max_drops=1)) as proxy:
        with connect(proxy.url) as ws:
            assert ws_rpc(ws, "eth_subscribe", "newHeads")["result"].startswith("0x")
            head = int(rpc(anvil, "eth_blockNumber")["result"], 16)
            rpc(anvil, "evm_mine")
            assert next_head(ws) == head + 1
            with pytest.raises(ConnectionClosedError):
                ws.recv(timeout=5)
        with connect(proxy.url) as ws:  # the follower reconnects and resubscribes
            ws_rpc(ws, "eth_subscribe", "newHeads")
            rpc(anvil, "anvil_mine", "0x2")
            assert [next_head(ws), next_head(ws)] == [head + 2, head + 3]  # no gaps
    assert proxy.stats.injected == {Fault.WS_DROP: 1}


def test_ws_span_limit(anvil: str) -> None:
    with WsFaultProxy(anvil, FaultPlan(max_log_span=10)) as proxy, connect(proxy.url) as ws:
        ws.send(json.dumps(get_logs(0, 50)))
        assert_log_limit_error(json.loads(ws.recv(timeout=5)))
        ws.send(json.dumps(get_logs(0, 5)))
        assert json.loads(ws.recv(timeout=5))["result"] == []
    assert proxy.stats.injected == {Fault.LOG_LIMIT: 1}


def test_ws_truncated_message_is_invalid_json(anvil: str) -> None:
    with WsFaultProxy(anvil, FaultPlan(truncate=1.0)) as proxy, connect(proxy.url) as ws:
        ws.send(json.dumps(call("eth_getBlockByNumber", "0x1", False)))
        with pytest.raises(json.JSONDecodeError):
            json.loads(ws.recv(timeout=5))
    assert proxy.stats.injected == {Fault.TRUNCATE: 1}


def test_ws_rejects_http_only_faults(anvil: str) -> None:
    with pytest.raises(ValueError):
        WsFaultProxy(anvil, FaultPlan(rate_limit=0.5))
