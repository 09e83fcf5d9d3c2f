"""Fault-injecting JSON-RPC proxies for integration tests.

Real local servers (HTTP and websocket) that sit between the RPC client under
test and a real upstream node (anvil), forward JSON-RPC to it and inject the
faults public Polygon providers produce: 429 with Retry-After, 502/503, slow
answers, eth_getLogs range/result limits (-32005), truncated bodies, invalid
JSON and dropped websocket connections.

Faults are deterministic: probabilities come from a seeded RNG drawn once per
request, and ``fail_first`` hits exactly the first N calls of a method. Every
injected fault is counted in ``proxy.stats`` so a test can assert that the
client really met the fault it claims to survive.
"""

from __future__ import annotations

import itertools
import json
import random
import socket
import sys
import threading
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

LOG_LIMIT_CODE = -32005  # Infura/Alchemy-style "limit exceeded"
_HEAD_TAGS = frozenset({"latest", "pending", "safe", "finalized"})
_INVALID_JSON = b"<html><body>Service temporarily overloaded</body></html>"
_UPSTREAM_TIMEOUT_S = 10.0


class Fault(StrEnum):
    RATE_LIMIT = "rate_limit"  # HTTP 429 with Retry-After
    SERVER_ERROR = "server_error"  # HTTP 502/503 with a gateway's HTML page
    SLOW = "slow"  # answer only after plan.slow_s seconds
    TRUNCATE = "truncate"  # body cut mid-JSON, then the connection is closed
    INVALID_JSON = "invalid_json"  # 200 whose body is not JSON
    LOG_LIMIT = "log_limit"  # one call answered with JSON-RPC error -32005
    WS_DROP = "ws_drop"  # websocket dropped without a close frame


# Faults that replace the whole answer to a request (an HTTP POST or a ws
# message); LOG_LIMIT instead replaces one call's reply inside a batch.
EXCHANGE_FAULTS = frozenset(
    {Fault.RATE_LIMIT, Fault.SERVER_ERROR, Fault.SLOW, Fault.TRUNCATE, Fault.INVALID_JSON}
)
# Faults that only exist as HTTP statuses, so a ws proxy cannot inject them.
HTTP_ONLY_FAULTS = frozenset({Fault.RATE_LIMIT, Fault.SERVER_ERROR})


@dataclass(frozen=True)
class FaultPlan:
    """What to inject. ``FaultPlan()`` injects nothing: a transparent proxy."""

    seed: int = 0
    # Per-request probability of each exchange fault. At most one fires per
    # request: a single RNG draw per request, so the fault sequence depends only
    # on the seed and the order of requests.
    rate_limit: float = 0.0
    server_error: float = 0.0
    slow: float = 0.0
    truncate: float = 0.0
    invalid_json: float = 0.0
    # Random faults only hit requests containing one of these methods (None: all).
    methods: Collection[str] | None = None
    # method -> (n, fault): the first n calls of that method get the fault,
    # whatever the probabilities say. LOG_LIMIT hits only that call of a batch;
    # any other fault takes the whole request down.
    fail_first: Mapping[str, tuple[int, Fault | str]] = field(default_factory=dict)
    # Shape of the faults.
    retry_after_s: int = 1
    server_error_statuses: tuple[int, ...] = (502, 503)
    slow_s: float = 1.0  # set it above the client's timeout to force a timeout
    truncate_declares_full_length: bool = False  # False: short body, consistent length
    # eth_getLogs limits, checked on every call as providers do (None: no limit).
    max_log_span: int | None = None  # blocks, inclusive: toBlock - fromBlock + 1
    max_logs: int | None = None  # logs in the upstream result
    log_limit_message: str = "query returned more than 10000 results"
    # Websocket: drop each connection after it was sent this many messages
    # (replies and subscription notifications), at most ws_max_drops times.
    ws_drop_after: int | None = None
    ws_max_drops: int | None = None
    ws_head_poll_s: float = 0.05  # how often emulated newHeads polls upstream

    def __post_init__(self) -> None:
        probabilities = self.probabilities().values()
        if any(not 0.0 <= p <= 1.0 for p in probabilities) or sum(probabilities) > 1.0 + 1e-9:
            raise ValueError("fault probabilities must be in [0, 1] and sum to at most 1")
        for method, (count, fault) in self.fail_first.items():
            if count < 0 or Fault(fault) is Fault.WS_DROP:
                raise ValueError(f"fail_first[{method!r}]: need count >= 0 and a request fault")
        if not self.server_error_statuses:
            raise ValueError("server_error_statuses must not be empty")
        if self.ws_drop_after is not None and self.ws_drop_after < 1:
            raise ValueError("ws_drop_after must be >= 1")

    def probabilities(self) -> dict[Fault, float]:
        return {
            Fault.RATE_LIMIT: self.rate_limit,
            Fault.SERVER_ERROR: self.server_error,
            Fault.SLOW: self.slow,
            Fault.TRUNCATE: self.truncate,
            Fault.INVALID_JSON: self.invalid_json,
        }

    def request_faults(self) -> set[Fault]:
        """Every exchange fault this plan can inject."""
        forced = {Fault(fault) for _, fault in self.fail_first.values()}
        random_ = {fault for fault, p in self.probabilities().items() if p > 0}
        return (forced | random_) & EXCHANGE_FAULTS


@dataclass
class ProxyStats:
    requests: int = 0  # HTTP POSTs / ws messages received
    calls: Counter[str] = field(default_factory=Counter)  # JSON-RPC calls by method
    injected: Counter[Fault] = field(default_factory=Counter)  # faults injected by kind
    connections: int = 0  # websocket connections accepted

    @property
    def total_injected(self) -> int:
        return sum(self.injected.values())


@dataclass(frozen=True)
class _Decision:
    fault: Fault | None  # replaces the whole answer
    status: int  # HTTP status for SERVER_ERROR
    forced_log_limit: frozenset[int]  # batch positions answered with the LOG_LIMIT error


class _FaultEngine:
    """Decides the fault of each request and counts them; one per proxy."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.stats = ProxyStats()
        self.stopping = threading.Event()  # wakes SLOW sleepers when the proxy closes
        self._rng = random.Random(plan.seed)
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()

    def decide(self, methods: list[str]) -> _Decision:
        with self._lock:
            self.stats.requests += 1
            self.stats.calls.update(methods)
            forced = [self._forced_fault(method) for method in methods]
            roll = self._rng.random()  # drawn even when unused: keeps the sequence stable
            fault = next((f for f in forced if f in EXCHANGE_FAULTS), None)
            fault = fault or self._random_fault(roll, methods)
            status = 200
            if fault is Fault.SERVER_ERROR:
                status = self._rng.choice(self.plan.server_error_statuses)
            if fault is not None:
                self.stats.injected[fault] += 1
        log_limited = frozenset(i for i, f in enumerate(forced) if f is Fault.LOG_LIMIT)
        return _Decision(fault, status, log_limited)

    def record(self, fault: Fault) -> None:
        with self._lock:
            self.stats.injected[fault] += 1

    def count_connection(self) -> None:
        with self._lock:
            self.stats.connections += 1

    def take_ws_drop(self) -> bool:
        """Whether the ws_max_drops budget allows one more drop (and spend it)."""
        with self._lock:
            limit = self.plan.ws_max_drops
            if limit is not None and self.stats.injected[Fault.WS_DROP] >= limit:
                return False
            self.stats.injected[Fault.WS_DROP] += 1
            return True

    def _forced_fault(self, method: str) -> Fault | None:
        self._seen[method] += 1
        rule = self.plan.fail_first.get(method)
        if rule is not None and self._seen[method] <= rule[0]:
            return Fault(rule[1])
        return None

    def _random_fault(self, roll: float, methods: list[str]) -> Fault | None:
        targets = self.plan.methods
        if targets is not None and not any(method in targets for method in methods):
            return None
        edge = 0.0
        for fault, probability in self.plan.probabilities().items():
            edge += probability
            if roll < edge:
                return fault
        return None


class _UpstreamError(Exception):
    pass


class _Upstream:
    """The real node, spoken to over HTTP."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._client = httpx.Client(timeout=_UPSTREAM_TIMEOUT_S)

    def post(self, body: bytes) -> tuple[int, bytes]:
        try:
            response = self._client.post(
                self._url, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise _UpstreamError(repr(exc)) from exc
        return response.status_code, response.content

    def call(self, method: str, params: list[Any]) -> Any:
        _, body = self.post(_dumps(_rpc_call(method, params)))
        try:
            return json.loads(body)["result"]
        except (ValueError, KeyError, TypeError) as exc:
            raise _UpstreamError(f"{method}: unexpected reply {body[:200]!r}") from exc

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber", []), 16)

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class _RpcRequest:
    raw: bytes
    calls: list[dict[str, Any]]  # empty when the body is not JSON-RPC we understand
    is_batch: bool

    @classmethod
    def parse(cls, raw: bytes) -> _RpcRequest:
        try:
            payload = json.loads(raw)
        except ValueError:
            return cls(raw, [], False)
        calls = payload if isinstance(payload, list) else [payload]
        if not all(isinstance(call, dict) for call in calls):
            return cls(raw, [], False)
        return cls(raw, calls, isinstance(payload, list))

    @property
    def methods(self) -> list[str]:
        return [str(call.get("method")) for call in self.calls]

    def subset(self, positions: list[int]) -> Any:
        chosen = [self.calls[i] for i in positions]
        return chosen if self.is_batch else chosen[0]


class _Forwarder:
    """Forwards JSON-RPC upstream, replacing eth_getLogs replies that break the plan's limits."""

    def __init__(self, upstream: _Upstream, engine: _FaultEngine) -> None:
        self._upstream = upstream
        self._engine = engine
        self._plan = engine.plan

    def answer(self, request: _RpcRequest, forced: frozenset[int]) -> tuple[int, bytes]:
        if not request.calls:
            return self._upstream.post(request.raw)  # not JSON-RPC we understand: pass it on
        replies = self._rejections(request.calls, forced)
        if not replies and self._plan.max_logs is None:
            return self._upstream.post(request.raw)  # nothing to rewrite: byte-exact passthrough
        pending = [i for i in range(len(request.calls)) if i not in replies]
        if pending:
            status, body = self._upstream.post(_dumps(request.subset(pending)))
            upstream_replies = _parse_replies(body)
            if status != 200 or upstream_replies is None:
                return status, body  # upstream trouble is passed on untouched
            replies.update(self._match(request.calls, pending, upstream_replies))
        ordered = [replies[i] for i in sorted(replies)]
        if not ordered:
            return 200, b""  # only notifications: JSON-RPC sends nothing back
        return 200, _dumps(ordered if request.is_batch else ordered[0])

    def _rejections(self, calls: list[dict[str, Any]], forced: frozenset[int]) -> dict[int, dict]:
        rejected = {}
        for i, call in enumerate(calls):
            reply = self._forced_error(call) if i in forced else self._span_error(call)
            if reply is not None:
                rejected[i] = reply
        return rejected

    def _match(
        self, calls: list[dict[str, Any]], pending: list[int], upstream_replies: list[dict]
    ) -> dict[int, dict]:
        by_id = {_id_key(reply.get("id")): reply for reply in upstream_replies}
        matched = {}
        for i in pending:
            reply = by_id.pop(_id_key(calls[i].get("id")), None)
            if reply is not None:
                matched[i] = self._checked_log_count(calls[i], reply)
        # Replies we cannot pair (e.g. an upstream parse error) still reach the client.
        for position, reply in enumerate(by_id.values(), start=len(calls)):
            matched[position] = reply
        return matched

    def _span_error(self, call: dict[str, Any]) -> dict | None:
        limit = self._plan.max_log_span
        if limit is None or call.get("method") != "eth_getLogs":
            return None
        blocks = self._block_range(call)
        if blocks is None or blocks[1] - blocks[0] + 1 <= limit:
            return None
        return self._log_limit_error(call, (blocks[0], blocks[0] + limit - 1))

    def _forced_error(self, call: dict[str, Any]) -> dict:
        return self._log_limit_error(call, _first_half(self._block_range(call)))

    def _checked_log_count(self, call: dict[str, Any], reply: dict) -> dict:
        limit = self._plan.max_logs
        logs = reply.get("result")
        if limit is None or call.get("method") != "eth_getLogs" or not isinstance(logs, list):
            return reply
        if len(logs) <= limit:
            return reply
        return self._log_limit_error(call, _first_half(self._block_range(call)))

    def _log_limit_error(self, call: dict[str, Any], suggested: tuple[int, int] | None) -> dict:
        # Like Infura, suggest a narrower range the client may retry with.
        data = None if suggested is None else {"from": hex(suggested[0]), "to": hex(suggested[1])}
        self._engine.record(Fault.LOG_LIMIT)
        return _rpc_error(call.get("id"), LOG_LIMIT_CODE, self._plan.log_limit_message, data)

    def _block_range(self, call: dict[str, Any]) -> tuple[int, int] | None:
        params = call.get("params")
        query = params[0] if isinstance(params, list) and params else None
        if not isinstance(query, dict) or "blockHash" in query:
            return None  # a blockHash query covers exactly one block
        try:
            return self._block_number(query.get("fromBlock")), self._block_number(
                query.get("toBlock")
            )
        except (TypeError, ValueError):
            return None  # malformed: leave it to upstream to reject

    def _block_number(self, tag: Any) -> int:
        if tag is None or tag in _HEAD_TAGS:
            return self._upstream.block_number()
        if tag == "earliest":
            return 0
        return int(tag, 16) if isinstance(tag, str) else int(tag)


# --- HTTP proxy ---------------------------------------------------------------


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real providers
    # Headers and body go out as separate writes: without this, Nagle plus the
    # client's delayed ACK stall every keep-alive answer by ~40 ms.
    disable_nagle_algorithm = True
    server: _HttpServer

    def do_POST(self) -> None:
        proxy = self.server.proxy
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = _RpcRequest.parse(raw)
        decision = proxy.engine.decide(request.methods)
        match decision.fault:
            case Fault.RATE_LIMIT:
                headers = {"Retry-After": str(proxy.plan.retry_after_s)}
                self._send(429, _dumps(_rpc_error(None, 429, "Too Many Requests")), headers)
            case Fault.SERVER_ERROR:
                page = _gateway_page(decision.status)
                self._send(decision.status, page, content_type="text/html")
            case Fault.INVALID_JSON:
                self._send(200, _INVALID_JSON)
            case Fault.TRUNCATE:
                self._send_truncated(*self._forward(request, decision))
            case Fault.SLOW:
                proxy.engine.stopping.wait(proxy.plan.slow_s)
                self._send(*self._forward(request, decision))
            case _:
                self._send(*self._forward(request, decision))

    def _forward(self, request: _RpcRequest, decision: _Decision) -> tuple[int, bytes]:
        try:
            return self.server.proxy.forwarder.answer(request, decision.forced_log_limit)
        except _UpstreamError as exc:
            return 502, _dumps(_rpc_error(None, -32603, f"upstream unreachable: {exc}"))

    def _send(
        self,
        status: int,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_truncated(self, status: int, body: bytes) -> None:
        cut = max(1, len(body) // 2)
        declared = len(body) if self.server.proxy.plan.truncate_declares_full_length else cut
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(declared))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body[:cut])
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins handler threads: nothing outlives the proxy

    def __init__(self, proxy: RpcFaultProxy) -> None:
        super().__init__(("127.0.0.1", 0), _HttpHandler)
        self.proxy = proxy
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_open_connections(self) -> None:
        # Idle keep-alive connections would otherwise keep handler threads alive.
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client hung up, e.g. after its own timeout: expected here
        super().handle_error(request, client_address)


class RpcFaultProxy:
    """HTTP JSON-RPC proxy in front of ``upstream_url`` that injects ``plan``'s faults.

    Use as a context manager; ``url`` is valid inside it and the server, its
    threads and its connections are gone when it exits.
    """

    def __init__(self, upstream_url: str, plan: FaultPlan | None = None) -> None:
        self.upstream_url = upstream_url
        self.plan = plan or FaultPlan()
        self.engine = _FaultEngine(self.plan)
        self.forwarder: _Forwarder
        self._upstream: _Upstream | None = None
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def stats(self) -> ProxyStats:
        return self.engine.stats

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("proxy not started: use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        self._upstream = _Upstream(self.upstream_url)
        self.forwarder = _Forwarder(self._upstream, self.engine)
        self._server = _HttpServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is None:
            return
        self.engine.stopping.set()
        self._server.shutdown()
        self._server.drop_open_connections()
        self._server.server_close()
        assert self._thread is not None and self._upstream is not None
        self._thread.join()
        self._upstream.close()
        self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --- websocket proxy ----------------------------------------------------------


class _WsSession:
    """One client connection: answers its messages, emulates newHeads, drops it per plan."""

    def __init__(self, conn: ServerConnection, proxy: WsFaultProxy) -> None:
        self._conn = conn
        self._proxy = proxy
        self._engine = proxy.engine
        self._plan = proxy.plan
        self._send_lock = threading.Lock()
        self._sent = 0
        self._dropped = False
        self._subscriptions: dict[str, tuple[threading.Event, threading.Thread]] = {}

    def run(self) -> None:
        try:
            for message in self._conn:
                self._on_message(message.encode() if isinstance(message, str) else message)
        except ConnectionClosed:
            pass  # the client left or we dropped it: both are normal here
        finally:
            for stop, poller in self._subscriptions.values():
                stop.set()
                poller.join()

    def _on_message(self, raw: bytes) -> None:
        request = _RpcRequest.parse(raw)
        decision = self._engine.decide(request.methods)
        if decision.fault is Fault.SLOW:
            self._engine.stopping.wait(self._plan.slow_s)
        if decision.fault is Fault.INVALID_JSON:
            self._send(_INVALID_JSON.decode())
            return
        if self._answer_locally(request):
            return
        reply = self._forward(request, decision)
        if decision.fault is Fault.TRUNCATE:
            reply = reply[: max(1, len(reply) // 2)]
        self._send(reply)

    def _forward(self, request: _RpcRequest, decision: _Decision) -> str:
        try:
            _, body = self._proxy.forwarder.answer(request, decision.forced_log_limit)
        except _UpstreamError as exc:
            body = _dumps(_rpc_error(None, -32603, f"upstream unreachable: {exc}"))
        return body.decode()

    def _answer_locally(self, request: _RpcRequest) -> bool:
        # Subscriptions can't be forwarded over HTTP, so the proxy emulates them.
        if request.is_batch or len(request.calls) != 1:
            return False
        call = request.calls[0]
        match call.get("method"):
            case "eth_subscribe":
                self._subscribe(call)
            case "eth_unsubscribe":
                self._unsubscribe(call)
            case _:
                return False
        return True

    def _subscribe(self, call: dict[str, Any]) -> None:
        params = call.get("params") or []
        if params[:1] != ["newHeads"]:
            message = "the proxy only emulates newHeads subscriptions"
            self._send(_dumps(_rpc_error(call.get("id"), -32602, message)).decode())
            return
        try:
            head = self._proxy.upstream.block_number()
        except _UpstreamError as exc:
            self._send(_dumps(_rpc_error(call.get("id"), -32603, str(exc))).decode())
            return
        sub_id = self._proxy.new_subscription_id()
        self._send(_dumps(_rpc_result(call.get("id"), sub_id)).decode())
        # Started after the reply so no notification can overtake it.
        stop = threading.Event()
        poller = threading.Thread(target=self._follow_heads, args=(sub_id, head, stop), daemon=True)
        self._subscriptions[sub_id] = (stop, poller)
        poller.start()

    def _unsubscribe(self, call: dict[str, Any]) -> None:
        params = call.get("params") or [None]
        found = self._subscriptions.pop(params[0], None)
        if found is not None:
            found[0].set()
        self._send(_dumps(_rpc_result(call.get("id"), found is not None)).decode())

    def _follow_heads(self, sub_id: str, last: int, stop: threading.Event) -> None:
        while not stop.wait(self._plan.ws_head_poll_s):
            try:
                last = self._notify_new_heads(sub_id, last)
            except _UpstreamError:
                continue  # a real node's subscription survives upstream blips too
            except ConnectionClosed:
                return

    def _notify_new_heads(self, sub_id: str, last: int) -> int:
        head = self._proxy.upstream.block_number()
        for number in range(last + 1, head + 1):  # one notification per block, no gaps
            block = self._proxy.upstream.call("eth_getBlockByNumber", [hex(number), False])
            header = {k: v for k, v in block.items() if k not in ("transactions", "uncles")}
            params = {"subscription": sub_id, "result": header}
            notification = {"jsonrpc": "2.0", "method": "eth_subscription", "params": params}
            self._send(_dumps(notification).decode())
        return max(last, head)

    def _send(self, text: str) -> None:
        with self._send_lock:
            if self._dropped:
                raise ConnectionClosed(None, None)
            self._conn.send(text)
            self._sent += 1
            limit = self._plan.ws_drop_after
            if limit is not None and self._sent >= limit and self._engine.take_ws_drop():
                self._drop()

    def _drop(self) -> None:
        # Shut the TCP connection without a close frame, like a provider's load balancer.
        self._dropped = True
        try:
            self._conn.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the client


class WsFaultProxy:
    """Websocket JSON-RPC proxy forwarding to an HTTP upstream and injecting ``plan``'s faults.

    Supports SLOW, TRUNCATE (half a text frame), INVALID_JSON, the eth_getLogs
    limits, dropped connections (``ws_drop_after``) and emulated ``newHeads``
    subscriptions polled from upstream. 429/502/503 have no ws equivalent and
    are rejected. Use as a context manager; ``url`` is ws://127.0.0.1:port.
    """

    def __init__(self, upstream_http_url: str, plan: FaultPlan | None = None) -> None:
        self.upstream_url = upstream_http_url
        self.plan = plan or FaultPlan()
        unsupported = self.plan.request_faults() & HTTP_ONLY_FAULTS
        if unsupported:
            raise ValueError(f"no websocket equivalent for {sorted(unsupported)}")
        self.engine = _FaultEngine(self.plan)
        self.upstream: _Upstream
        self.forwarder: _Forwarder
        self._subscription_ids = itertools.count(1)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def stats(self) -> ProxyStats:
        return self.engine.stats

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("proxy not started: use it as a context manager")
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}"

    def new_subscription_id(self) -> str:
        return f"0x{next(self._subscription_ids):032x}"

    def start(self) -> Self:
        self.upstream = _Upstream(self.upstream_url)
        self.forwarder = _Forwarder(self.upstream, self.engine)
        self._server = serve(self._handle, "127.0.0.1", 0, close_timeout=1)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is None:
            return
        self.engine.stopping.set()
        self._server.shutdown()  # closes open connections and waits for their handlers
        assert self._thread is not None
        self._thread.join()
        self.upstream.close()
        self._server = None

    def _handle(self, conn: ServerConnection) -> None:
        self.engine.count_connection()
        _WsSession(conn, self).run()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --- JSON-RPC helpers -----------------------------------------------------------


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _rpc_call(method: str, params: list[Any], call_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": call_id, "method": method, "params": params}


def _rpc_result(call_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": call_id, "result": result}


def _rpc_error(call_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": call_id, "error": error}


def _parse_replies(body: bytes) -> list[dict] | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    replies = payload if isinstance(payload, list) else [payload]
    return replies if all(isinstance(reply, dict) for reply in replies) else None


def _id_key(call_id: Any) -> str:
    return json.dumps(call_id, sort_keys=True)  # ids may be ints, strings or null


def _first_half(blocks: tuple[int, int] | None) -> tuple[int, int] | None:
    if blocks is None:
        return None
    start, end = blocks
    return start, start + max(0, end - start) // 2


def _gateway_page(status: int) -> bytes:
    title = f"{status} {HTTPStatus(status).phrase}"
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>".encode()
