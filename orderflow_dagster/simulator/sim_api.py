"""The simulated world's HTTP endpoints on localhost, shaped like the ones the pipeline calls:

- Gamma   GET /markets?condition_ids=..&condition_ids=..[&limit=n]   (or ?closed=false: open markets)
  rows with `conditionId`, `question`, `slug`, `outcomes` and `clobTokenIds` as JSON-encoded
  strings, `endDate`, `closed`, `negRisk`, `umaResolutionStatus`, `outcomePrices`.
- CLOB    GET /book?token_id=..  bids ascending and asks descending (the best level last, as the
  real endpoint lists them), price/size strings, `tick_size`, `neg_risk`, `min_order_size`;
  GET /tick-size?token_id=.., GET /neg-risk?token_id=..; 404 for unknown or resolved tokens.

Point GAMMA_API_URL and CLOB_API_URL at `SimApi.url`; the paper broker then fills against the
market makers' quotes of the running world.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from orderflow_dagster.simulator.world import World

NO_BOOK = {"error": "No orderbook exists for the requested token id"}


def gamma_row(world: World, condition_id: str) -> dict | None:
    market = world.markets.get(condition_id.lower())
    if market is None:
        return None
    meta = world.market_metadata(market)
    end = datetime.fromtimestamp(meta["end_t"], tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": str(market.index + 1), "conditionId": meta["condition_id"], "questionID": meta["question_id"],
        "question": meta["question"], "slug": meta["slug"], "outcomes": json.dumps(["Yes", "No"]),
        "clobTokenIds": json.dumps(meta["token_ids"]), "outcomePrices": json.dumps([str(p) for p in meta["prices"]]),
        "endDate": end, "closed": meta["closed"], "active": not meta["closed"], "negRisk": meta["neg_risk"],
        "umaResolutionStatus": "resolved" if meta["closed"] else None, "description": "SIMULATED market",
    }


def book_payload(world: World, token_id: int) -> dict | None:
    book = world.book(token_id)
    if book is None or not book["bids"] and not book["asks"]:
        return None
    found = world.token_market(token_id)
    levels = lambda lv: [{"price": str(p), "size": str(s)} for p, s in lv]  # noqa: E731
    return {"market": book["market"], "asset_id": str(token_id), "timestamp": str(int(time.time() * 1000)),
            "bids": levels(sorted(book["bids"])), "asks": levels(sorted(book["asks"], reverse=True)),
            "min_order_size": "5", "tick_size": "0.01", "neg_risk": bool(found and found[0].market.neg_risk)}


class SimApi:
    """A ThreadingHTTPServer on 127.0.0.1 serving `world` (read under `lock`), as a context manager."""

    def __init__(self, world: World, lock: threading.Lock | None = None, port: int = 0) -> None:
        api = self
        self.world, self.lock = world, lock or threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # keep-alive answers would stall ~40 ms each

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v for k, v in parse_qs(parts.query).items()}
                with api.lock:
                    status, body = api.answer(parts.path, query)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="sim-api", daemon=True)

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, object]:
        world = self.world
        if path == "/markets":
            limit = int(query.get("limit", ["500"])[0])
            wanted = query.get("condition_ids")
            if wanted is None:
                closed = query.get("closed", [""])[0].lower()
                wanted = [m.market.condition_id for m in world.markets.values()
                          if closed == "" or (m.resolved is not None) == (closed == "true")]
            rows = [row for row in (gamma_row(world, c) for c in wanted) if row is not None]
            return 200, rows[:limit]
        token = query.get("token_id", [""])[0]
        if path in ("/book", "/tick-size", "/neg-risk"):
            payload = book_payload(world, int(token)) if token.isdigit() else None
            if payload is None:
                return 404, NO_BOOK
            if path == "/tick-size":
                return 200, {"minimum_tick_size": 0.01}
            if path == "/neg-risk":
                return 200, {"neg_risk": payload["neg_risk"]}
            return 200, payload
        return 404, {"error": "not found"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> SimApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SimApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
