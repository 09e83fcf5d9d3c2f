"""A real local HTTP stand-in for the Polymarket CLOB endpoints py-clob-client-v2 uses.

Public:  GET /book, /tick-size, /neg-risk, /markets-by-token/<token>, /clob-markets/<condition>,
         /version, /time
L1 auth: POST /auth/api-key, GET /auth/derive-api-key: the ClobAuth EIP-712 signature in
         POLY_SIGNATURE is recovered with eth-account and must be POLY_ADDRESS's.
L2 auth: POST /order, GET /data/order/<id>: api key + passphrase + the HMAC of
         timestamp+method+path+body under the key's secret, as py-clob-client-v2 signs them.

POST /order recovers the order's EIP-712 signer (domain "Polymarket CTF Exchange" version 2,
verifying contract = the V2 exchange, or the neg-risk V2 exchange for neg-risk tokens), then
checks the price against the token's tick, the funder's balance, and fills FOK/FAK orders
against the book (consuming it), answering as the CLOB does: 200 {success, orderID (the
order hash), status "matched", makingAmount, takingAmount, transactionsHashes, tradeIDs},
or 400 {"error": "invalid signature" | "not enough balance / allowance" | FOK/FAK misses}.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from tests.support.local_http import LocalHttpServer

EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"
CHAIN_ID = 137
UNIT = Decimal(10) ** 6
ORDER_FIELDS = [
    {"name": "salt", "type": "uint256"}, {"name": "maker", "type": "address"}, {"name": "signer", "type": "address"},
    {"name": "tokenId", "type": "uint256"}, {"name": "makerAmount", "type": "uint256"},
    {"name": "takerAmount", "type": "uint256"}, {"name": "side", "type": "uint8"},
    {"name": "signatureType", "type": "uint8"}, {"name": "timestamp", "type": "uint256"},
    {"name": "metadata", "type": "bytes32"}, {"name": "builder", "type": "bytes32"},
]
MSG_TO_SIGN = "This message attests that I control the given wallet"

FOK_MISS = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_MISS = "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."


@dataclass
class Market:
    condition_id: str
    token_id: str
    bids: list[tuple[Decimal, Decimal]]  # (price, shares)
    asks: list[tuple[Decimal, Decimal]]
    tick_size: str = "0.01"
    neg_risk: bool = False


@dataclass
class ClobState:
    markets: dict[str, Market] = field(default_factory=dict)  # by token id
    balances: dict[str, Decimal] = field(default_factory=dict)  # USDC by funder address (lower); default: rich
    shares: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (address, token) -> shares held
    api_keys: dict[str, dict] = field(default_factory=dict)  # api key -> {address, secret, passphrase}
    proxies: dict[str, str] = field(default_factory=dict)  # proxy/safe funder (lower) -> owning signer (lower)
    orders: dict[str, dict] = field(default_factory=dict)  # order hash -> record
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    posted: list[dict] = field(default_factory=list)  # every POST /order body
    default_balance: Decimal = Decimal(1_000_000)
    book_delay_seconds: float = 0.0  # a slow /book widens the window in which overlapping runs could race


def _typed_order(order: dict, exchange: str) -> dict:
    return {
        "primaryType": "Order",
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                   {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
                  "Order": ORDER_FIELDS},
        "domain": {"name": "Polymarket CTF Exchange", "version": "2", "chainId": CHAIN_ID, "verifyingContract": exchange},
        "message": {
            "salt": int(order["salt"]), "maker": order["maker"], "signer": order["signer"], "tokenId": int(order["tokenId"]),
            "makerAmount": int(order["makerAmount"]), "takerAmount": int(order["takerAmount"]),
            "side": 0 if order["side"] == "BUY" else 1, "signatureType": int(order["signatureType"]),
            "timestamp": int(order["timestamp"]), "metadata": bytes.fromhex(order["metadata"][2:].zfill(64)),
            "builder": bytes.fromhex(order["builder"][2:].zfill(64)),
        },
    }


def order_hash(order: dict, exchange: str) -> str:
    m = encode_typed_data(full_message=_typed_order(order, exchange))
    return "0x" + keccak(b"\x19" + m.version + m.header + m.body).hex()


def recover_order_signer(order: dict, exchange: str) -> str | None:
    try:
        return Account.recover_message(encode_typed_data(full_message=_typed_order(order, exchange)),
                                       signature=order["signature"])
    except Exception:
        return None


def recover_clob_auth(address: str, timestamp: str, nonce: int, signature: str) -> str | None:
    typed = {
        "primaryType": "ClobAuth",
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                   {"name": "chainId", "type": "uint256"}],
                  "ClobAuth": [{"name": "address", "type": "address"}, {"name": "timestamp", "type": "string"},
                               {"name": "nonce", "type": "uint256"}, {"name": "message", "type": "string"}]},
        "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": CHAIN_ID},
        "message": {"address": address, "timestamp": timestamp, "nonce": nonce, "message": MSG_TO_SIGN},
    }
    try:
        return Account.recover_message(encode_typed_data(full_message=typed), signature=signature)
    except Exception:
        return None


def _hmac(secret: str, timestamp: str, method: str, path: str, body: str) -> str:
    message = f"{timestamp}{method}{path}{body}"
    digest = hmac.new(base64.urlsafe_b64decode(secret), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def _creds_for(address: str, nonce: int) -> dict:
    seed = hashlib.sha256(f"{address.lower()}:{nonce}".encode()).digest()
    return {"apiKey": str(uuid.UUID(bytes=seed[:16])), "secret": base64.urlsafe_b64encode(seed).decode(),
            "passphrase": hashlib.sha256(seed).hexdigest()[:32]}


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


class ClobServer(LocalHttpServer):
    def __init__(self, state: ClobState | None = None):
        self.state = state or ClobState()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _dispatch(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                server.state.requests.append((method, parts.path))
                if parts.path == "/book" and server.state.book_delay_seconds:
                    time.sleep(server.state.book_delay_seconds)
                try:
                    with server._lock:
                        status, out = server.handle(method, parts.path, parse_qs(parts.query), dict(self.headers), body)
                except ApiError as e:
                    status, out = e.status, {"error": e.message}
                self._send(status, out)

            def do_GET(self):
                self._dispatch("GET")

            def do_POST(self):
                self._dispatch("POST")

        super().__init__(Handler)

    # --- setup --------------------------------------------------------------------------------

    def add_market(self, condition_id: str, token_id: int, bids=(), asks=(), tick_size: str = "0.01",
                   neg_risk: bool = False) -> None:
        d = lambda levels: [(Decimal(str(p)), Decimal(str(s))) for p, s in levels]  # noqa: E731
        self.state.markets[str(token_id)] = Market(condition_id, str(token_id), d(bids), d(asks), tick_size, neg_risk)

    @property
    def url(self) -> str:
        return self.base_url


    # --- routing ------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict, headers: dict, body: str):
        headers = {k.upper(): v for k, v in headers.items()}
        token = (query.get("token_id") or [""])[0]
        if method == "GET" and path == "/book":
            return 200, self._book(self._market(token))
        if method == "GET" and path == "/tick-size":
            return 200, {"minimum_tick_size": float(self._market(token).tick_size)}
        if method == "GET" and path == "/neg-risk":
            return 200, {"neg_risk": self._market(token).neg_risk}
        if method == "GET" and path.startswith("/markets-by-token/"):
            m = self._market(path.rsplit("/", 1)[1])
            return 200, {"condition_id": m.condition_id}
        if method == "GET" and path.startswith("/clob-markets/"):
            return 200, self._clob_market(path.rsplit("/", 1)[1])
        if method == "GET" and path == "/version":
            return 200, {"version": 2}
        if method == "GET" and path == "/time":
            return 200, int(time.time())
        if path in ("/auth/api-key", "/auth/derive-api-key"):
            return 200, self._api_key(headers, create=(method == "POST"))
        if method == "POST" and path == "/order":
            return 200, self._post_order(headers, path, body)
        if method == "GET" and path.startswith("/data/order/"):
            self._l2(headers, "GET", path, "")
            order = self.state.orders.get(path.rsplit("/", 1)[1])
            if order is None:
                raise ApiError(404, "order not found")
            return 200, order
        raise ApiError(404, f"no route {method} {path}")

    def _market(self, token: str) -> Market:
        if not token:
            raise ApiError(400, "Invalid token id")
        m = self.state.markets.get(token)
        if m is None:
            raise ApiError(404, "No orderbook exists for the requested token id")
        return m

    def _book(self, m: Market) -> dict:
        # The real endpoint lists bids ascending and asks descending: the best level comes last.
        lv = lambda levels: [{"price": str(p), "size": str(s)} for p, s in levels]  # noqa: E731
        return {"market": m.condition_id, "asset_id": m.token_id, "timestamp": str(int(time.time() * 1000)),
                "hash": uuid.uuid4().hex, "bids": lv(sorted(m.bids)), "asks": lv(sorted(m.asks, reverse=True)),
                "min_order_size": "5", "tick_size": m.tick_size, "neg_risk": m.neg_risk,
                "last_trade_price": "0.5"}

    def _clob_market(self, condition_id: str) -> dict:
        tokens = [m for m in self.state.markets.values() if m.condition_id == condition_id]
        if not tokens:
            raise ApiError(404, "market not found")
        return {"t": [{"t": m.token_id, "o": f"outcome {i}"} for i, m in enumerate(tokens)],
                "mts": float(tokens[0].tick_size), "nr": tokens[0].neg_risk, "fd": {"r": 0.0, "e": 1.0}}

    # --- auth ---------------------------------------------------------------------------------

    def _api_key(self, headers: dict, create: bool) -> dict:
        address, sig = headers.get("POLY_ADDRESS", ""), headers.get("POLY_SIGNATURE", "")
        ts, nonce = headers.get("POLY_TIMESTAMP", ""), int(headers.get("POLY_NONCE") or 0)
        recovered = recover_clob_auth(address, ts, nonce, sig)
        if recovered is None or recovered.lower() != address.lower():
            raise ApiError(401, "Invalid L1 Request headers")
        creds = _creds_for(address, nonce)
        exists = creds["apiKey"] in self.state.api_keys
        if create and exists:
            raise ApiError(400, "Could not create api key")
        if not create and not exists:
            raise ApiError(400, "Could not derive api key!")
        self.state.api_keys[creds["apiKey"]] = {"address": address.lower(), **creds}
        return creds

    def _l2(self, headers: dict, method: str, path: str, body: str) -> dict:
        key = self.state.api_keys.get(headers.get("POLY_API_KEY", ""))
        if key is None or headers.get("POLY_PASSPHRASE") != key["passphrase"]:
            raise ApiError(401, "Unauthorized/Invalid api key")
        want = _hmac(key["secret"], headers.get("POLY_TIMESTAMP", ""), method, path, body)
        if not hmac.compare_digest(want, headers.get("POLY_SIGNATURE", "")):
            raise ApiError(401, "Unauthorized/Invalid api key")
        return key

    # --- orders -------------------------------------------------------------------------------

    def _post_order(self, headers: dict, path: str, body: str) -> dict:
        key = self._l2(headers, "POST", path, body)
        payload = json.loads(body)
        self.state.posted.append(payload)
        order, order_type = payload["order"], payload["orderType"]
        if payload.get("owner") != key["apiKey"]:
            raise ApiError(400, "the order owner has to be the owner of the API KEY")
        market = self._market(str(order["tokenId"]))
        exchange = NEG_RISK_EXCHANGE_V2 if market.neg_risk else EXCHANGE_V2
        if not self._signature_ok(order, exchange):
            raise ApiError(400, "invalid signature")
        oid = order_hash(order, exchange)
        if oid in self.state.orders:
            raise ApiError(400, "order already exists")
        maker_amt, taker_amt = Decimal(order["makerAmount"]) / UNIT, Decimal(order["takerAmount"]) / UNIT
        buy = order["side"] == "BUY"
        limit = (maker_amt / taker_amt) if buy else (taker_amt / maker_amt)
        tick = Decimal(market.tick_size)
        if abs(limit / tick - round(limit / tick)) > Decimal("0.001") or not tick <= limit <= 1 - tick:
            raise ApiError(400, f"invalid price ({limit:.6f}), min tick size {market.tick_size}")
        funder = order["maker"].lower()
        if buy and self.state.balances.get(funder, self.state.default_balance) < maker_amt:
            raise ApiError(400, "not enough balance / allowance")
        if not buy and self.state.shares.get((funder, market.token_id), Decimal(0)) < maker_amt:
            raise ApiError(400, "not enough balance / allowance")
        spent, got = self._match(market, buy, maker_amt, limit, order_type)
        self._settle(funder, market.token_id, buy, spent, got)
        record = {"id": oid, "status": "MATCHED", "side": order["side"], "asset_id": market.token_id,
                  "original_size": str(taker_amt if buy else maker_amt), "size_matched": str(got if buy else spent),
                  "price": str(limit)}
        self.state.orders[oid] = record
        return {"success": True, "errorMsg": "", "orderID": oid, "status": "matched",
                "makingAmount": str(spent), "takingAmount": str(got),
                "transactionsHashes": ["0x" + keccak(text=oid).hex()], "tradeIDs": [str(uuid.uuid4())]}

    def _signature_ok(self, order: dict, exchange: str) -> bool:
        """The EIP-712 signer must be the order's signer, and own the funder (maker) for proxy/safe types."""
        signer = recover_order_signer(order, exchange)
        if signer is None or signer.lower() != order["signer"].lower():
            return False
        maker, kind = order["maker"].lower(), int(order["signatureType"])
        if kind == 0:
            return maker == signer.lower()
        return self.state.proxies.get(maker) == signer.lower()

    def _match(self, m: Market, buy: bool, amount: Decimal, limit: Decimal, order_type: str):
        """Walk the book: BUY spends `amount` USDC on asks <= limit; SELL sells `amount` shares into bids >= limit."""
        levels = sorted(m.asks) if buy else sorted(m.bids, reverse=True)
        left, spent, got, rest = amount, Decimal(0), Decimal(0), []
        for price, size in levels:
            ok = price <= limit if buy else price >= limit
            if not ok or left <= 0:
                rest.append((price, size))
                continue
            take = min(size, (left / price).quantize(Decimal("0.000001"), rounding="ROUND_DOWN")) if buy else min(size, left)
            if take <= 0:
                rest.append((price, size))
                continue
            spent += take * price if buy else take
            got += take if buy else take * price
            left -= take * price if buy else take
            if size - take > 0:
                rest.append((price, size - take))
        complete = left < limit * Decimal("0.000001") if buy else left <= 0
        if got <= 0:
            raise ApiError(400, FAK_MISS if order_type == "FAK" else FOK_MISS)
        if order_type == "FOK" and not complete:
            raise ApiError(400, FOK_MISS)
        if buy:
            m.asks = rest
        else:
            m.bids = rest
        return spent.quantize(Decimal("0.000001")), got.quantize(Decimal("0.000001"))

    def _settle(self, funder: str, token: str, buy: bool, spent: Decimal, got: Decimal) -> None:
        bal = self.state.balances.get(funder, self.state.default_balance)
        held = self.state.shares.get((funder, token), Decimal(0))
        if buy:
            self.state.balances[funder], self.state.shares[(funder, token)] = bal - spent, held + got
        else:
            self.state.balances[funder], self.state.shares[(funder, token)] = bal + got, held - spent
