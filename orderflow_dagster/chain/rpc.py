"""A small JSON-RPC client for Polygon nodes: http(s) or ws(s), retries with backoff.

Retried: HTTP 429 (honouring Retry-After), 5xx, timeouts, dropped connections, truncated or
invalid JSON. Not retried but raised as `RangeTooLarge`: a provider's "too many results" /
"block range too large" answer to eth_getLogs, so the caller can split the range.
"""

from __future__ import annotations

import functools
import itertools
import logging
import ssl
import threading
from typing import Any

import httpx
import orjson
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

log = logging.getLogger(__name__)

# Phrases providers use when an eth_getLogs range holds too much (Alchemy, Infura, QuickNode,
# geth/erigon/bor, anvil). Matched case-insensitively in the error message.
_TOO_MANY_PHRASES = (
    "more than",
    "too many",
    "range too large",
    "range is too large",
    "block range",
    "limit exceeded",
    "response size",
    "exceed",
    "query timeout",
)


class RpcError(Exception):
    """A JSON-RPC error answer (not a transport fault)."""

    def __init__(self, code: int | None, message: str, method: str = ""):
        super().__init__(f"{method}: RPC error {code}: {message}")
        self.code = code
        self.message = message


class RangeTooLarge(RpcError):
    """The node refused an eth_getLogs range as too large: split it."""


class TransientRpcError(Exception):
    """A transport-level fault worth retrying (429, 5xx, timeout, bad body)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def _classify_error(method: str, err: dict) -> RpcError:
    code = err.get("code")
    message = str(err.get("message", ""))
    if method == "eth_getLogs" and (code == -32005 or any(p in message.lower() for p in _TOO_MANY_PHRASES)):
        return RangeTooLarge(code, message, method)
    return RpcError(code, message, method)


def _wait(state: RetryCallState) -> float:
    """Exponential backoff with jitter, but never shorter than a server's Retry-After."""
    base = wait_exponential_jitter(multiplier=0.2, max=10.0, jitter=0.2)(state)
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, TransientRpcError) and exc.retry_after:
        return max(base, min(exc.retry_after, 60.0))
    return base


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning("RPC retry %d after %s", state.attempt_number, exc)


class RpcClient:
    """Thread-safe JSON-RPC client. `call` retries transient faults; RPC errors are raised."""

    def __init__(self, url: str, timeout: float = 30.0, max_retries: int = 8):
        self.url = url
        self.timeout = timeout
        self.max_retries = max_retries
        self._ids = itertools.count(1)
        self._transport = _WsTransport(url, timeout) if url.startswith(("ws://", "wss://")) else _HttpTransport(url, timeout)
        self.requests = 0  # requests sent, including retries (for metadata and benchmarks)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> "RpcClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def call(self, method: str, params: list | None = None) -> Any:
        return self._retrying()(self._call_once, method, params or [])

    def _retrying(self) -> Retrying:
        """The retry policy of every call (shared by call and get_logs_frame)."""
        return Retrying(
            retry=retry_if_exception_type(TransientRpcError),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=_wait,
            before_sleep=_log_retry,
            reraise=True,
        )

    def _call_once(self, method: str, params: list) -> Any:
        self.requests += 1
        payload = orjson.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})
        body = self._transport.send(payload)
        try:
            reply = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise TransientRpcError(f"{method}: invalid JSON in response ({len(body)} bytes): {e}") from None
        if not isinstance(reply, dict):
            raise TransientRpcError(f"{method}: unexpected response shape")
        if reply.get("error"):
            raise _classify_error(method, reply["error"])
        if "result" not in reply:
            raise TransientRpcError(f"{method}: response without result")
        return reply["result"]

    # Convenience wrappers ---------------------------------------------------------------
    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def get_block(self, number: int | str) -> dict | None:
        tag = hex(number) if isinstance(number, int) else number
        return self.call("eth_getBlockByNumber", [tag, False])

    def get_logs(self, from_block: int, to_block: int, addresses: list[str], topics0: list[str]) -> list[dict]:
        flt = {"fromBlock": hex(from_block), "toBlock": hex(to_block), "address": addresses, "topics": [topics0]}
        return self.call("eth_getLogs", [flt])

    def get_logs_frame(self, from_block: int, to_block: int, addresses: list[str], topics0: list[str]):
        """eth_getLogs with the response body parsed by polars into a raw log frame
        (`decode.parse_logs_body`: LOG_SCHEMA columns, no Python dict per log).

        Same request, retries and errors as get_logs: a body that is not valid JSON is retried
        like any truncated answer, an error answer raises RangeTooLarge / RpcError as in call().
        """
        flt = {"fromBlock": hex(from_block), "toBlock": hex(to_block), "address": addresses, "topics": [topics0]}
        return self._retrying()(self._get_logs_frame_once, [flt])

    def _get_logs_frame_once(self, params: list):
        from polars.exceptions import PolarsError

        from orderflow_dagster.chain.decode import empty_logs_frame, parse_logs_body

        self.requests += 1
        payload = orjson.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": "eth_getLogs", "params": params})
        body = self._transport.send(payload)
        try:
            frame = parse_logs_body(body)
        except (PolarsError, ValueError) as e:
            raise TransientRpcError(f"eth_getLogs: invalid JSON in response ({len(body)} bytes): {e}") from None
        if frame is not None:
            return frame
        # Valid JSON but not a plain list of logs (an error answer, usually): read it the ordinary way.
        try:
            reply = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise TransientRpcError(f"eth_getLogs: invalid JSON in response ({len(body)} bytes): {e}") from None
        if not isinstance(reply, dict):
            raise TransientRpcError("eth_getLogs: unexpected response shape")
        if reply.get("error"):
            raise _classify_error("eth_getLogs", reply["error"])
        if "result" not in reply:
            raise TransientRpcError("eth_getLogs: response without result")
        if reply["result"] is None:
            return empty_logs_frame()
        raise TransientRpcError("eth_getLogs: result is not a list of logs")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process (httpx's default: certifi's CAs, or SSL_CERT_FILE/DIR). httpx
    builds a new one for every Client, parsing the whole CA bundle (26 ms of CPU here), and the
    head sensor makes a client every tick in the long-lived code server: native memory churned
    for nothing (plain-http URLs included: httpx builds the context eagerly)."""
    return httpx.create_ssl_context()


class _HttpTransport:
    def __init__(self, url: str, timeout: float):
        self._client = httpx.Client(
            verify=_tls_context(),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"content-type": "application/json"},
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )
        self._url = url

    def send(self, payload: bytes) -> bytes:
        try:
            resp = self._client.post(self._url, content=payload)
            body = resp.read()
        except (httpx.TimeoutException, httpx.TransportError) as e:
            raise TransientRpcError(f"transport: {type(e).__name__}: {e}") from None
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientRpcError(f"HTTP {resp.status_code}", retry_after=_retry_after(resp))
        if resp.status_code >= 400:
            # Some providers answer JSON-RPC errors with 4xx and a JSON body: let the caller read it.
            if body[:1] == b"{":
                return body
            raise TransientRpcError(f"HTTP {resp.status_code}")
        return body

    def close(self) -> None:
        self._client.close()


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    try:
        return float(value) if value else None
    except ValueError:
        return None


class _WsTransport:
    """One websocket, requests serialised by a lock, reconnected after a drop."""

    def __init__(self, url: str, timeout: float):
        self._url = url
        self._timeout = timeout
        self._lock = threading.Lock()
        self._ws = None

    def send(self, payload: bytes) -> bytes:
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        with self._lock:
            try:
                if self._ws is None:
                    self._ws = connect(self._url, open_timeout=self._timeout, max_size=None, legacy=True)
                self._ws.send(payload.decode())
                reply = self._ws.recv(timeout=self._timeout)
            except (OSError, TimeoutError, WebSocketException) as e:
                self._drop()
                raise TransientRpcError(f"websocket: {type(e).__name__}: {e}") from None
        return reply.encode() if isinstance(reply, str) else reply

    def _drop(self) -> None:
        if self._ws is not None:
            try:
                self._ws.close()
            except Exception:  # noqa: BLE001 - a broken socket may fail to close; we discard it anyway
                pass
            self._ws = None

    def close(self) -> None:
        with self._lock:
            self._drop()
