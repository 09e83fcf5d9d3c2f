"""The lifecycle shared by the test HTTP peers (Gamma, CLOB, Discord stand-ins): a real
ThreadingHTTPServer on 127.0.0.1 with a free port, served from a thread, as a context manager."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalHttpServer:
    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        # Nagle + delayed ACK stall keep-alive answers of http.server by ~40 ms each.
        handler.disable_nagle_algorithm = True
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
