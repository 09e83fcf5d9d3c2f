"""A real local HTTP server shaped like Gamma's `/markets` (recorded field shapes), for tests."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.local_http import LocalHttpServer


def gamma_row(condition_id: str, question: str, token_ids: list[int], outcomes=("Yes", "No"), **extra) -> dict:
    """A /markets row as Gamma sends it: lists are JSON-encoded strings."""
    row = {
        "id": str(abs(hash(condition_id)) % 10**6), "conditionId": condition_id, "question": question,
        "slug": question.lower().replace(" ", "-")[:60], "outcomes": json.dumps(list(outcomes)),
        "clobTokenIds": json.dumps([str(t) for t in token_ids]), "endDate": "2026-12-31T12:00:00Z",
        "closed": False, "negRisk": False, "umaResolutionStatus": None, "active": True,
    }
    row.update(extra)
    return row


class GammaServer(LocalHttpServer):
    def __init__(self, markets: dict[str, dict], fail_first: int = 0, fail_status: int = 429):
        self.markets = markets
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                server.requests.append({"path": parts.path, "query": query})
                if len(server.requests) <= server.fail_first:
                    self.send_response(server.fail_status)
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    return
                if parts.path != "/markets":
                    self.send_response(404)
                    self.end_headers()
                    return
                wanted = [c.lower() for c in query.get("condition_ids", [])]
                body = json.dumps([server.markets[c] for c in wanted if c in server.markets]).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return self.base_url

