"""A real local HTTP stand-in for a Discord webhook: records every post, can rate-limit.

`rate_limit_first=N` answers the first N posts with 429 and Discord's body
{"message": "You are being rate limited.", "retry_after": <s>, "global": false} (plus a
Retry-After header); the rest get 204 like Discord's webhook without ?wait=true.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler

from tests.support.local_http import LocalHttpServer


class DiscordServer(LocalHttpServer):
    def __init__(self, rate_limit_first: int = 0, retry_after: float = 0.2, fail_first_5xx: int = 0):
        self.rate_limit_first = rate_limit_first
        self.retry_after = retry_after
        self.fail_first_5xx = fail_first_5xx
        self.posts: list[dict] = []  # delivered (204) messages
        self.attempts: list[tuple[float, int]] = []  # (monotonic time, status answered)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                n = len(server.attempts)
                if n < server.rate_limit_first:
                    status, out = 429, {"message": "You are being rate limited.", "retry_after": server.retry_after,
                                        "global": False}
                elif n < server.rate_limit_first + server.fail_first_5xx:
                    status, out = 502, {"message": "bad gateway"}
                else:
                    status, out = 204, None
                    server.posts.append({"path": self.path, **json.loads(body)})
                server.attempts.append((time.monotonic(), status))
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", str(server.retry_after))
                data = json.dumps(out).encode() if out is not None else b""
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/webhooks/123/secret-webhook-token"

