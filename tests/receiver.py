"""One webhook receiver for the tests: a real HTTP server on 127.0.0.1 (a free port) that hands every POST to
``handle(path, headers, body)`` and answers the status it returns. Tests subclass it for what they keep."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class PostReceiver:
    path = "/"  # appended to ``url``

    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = outer.handle(self.path, {k: v for k, v in self.headers.items()}, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{self.path.rstrip('/')}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        return 200

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
