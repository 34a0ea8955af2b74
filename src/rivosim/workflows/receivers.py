"""Where deliveries reach the workflow client: in-process through a ``Sender`` plugged into ``sim.use_sender``,
or over real HTTP through a tiny receiving server when the runner drives a running ``rivosim serve``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rivosim.webhooks.senders import AttemptResult, OutgoingRequest
from rivosim.workflows.client import WorkflowClient

__all__ = ["HttpReceiver", "InProcessReceiver"]


# -- receivers ------------------------------------------------------------------------------------------------
class InProcessReceiver:
    """A ``Sender`` for ``sim.use_sender``: deliveries addressed to the client's URL are handed to it directly
    (the HTTP request the client would have received); any other URL is unreachable."""

    def __init__(self, client: WorkflowClient, transport: Any = None) -> None:
        self.client = client
        self.transport = transport

    def send(self, request: OutgoingRequest, done: Callable[[AttemptResult], None]) -> None:
        if request.url.startswith(self.client.receiver_url + "/"):
            done(AttemptResult(self.client.receive(request.body, request.headers), None, 0.0))
            if getattr(self.transport, "stepping", False):
                from rivosim.transports.runner import DeliveryArrived

                raise DeliveryArrived(request.url)
        else:
            done(AttemptResult(None, f"ConnectionError: nothing listens at {request.url}", 0.0))

    def close(self) -> None:
        pass


class HttpReceiver:
    """A tiny HTTP server (127.0.0.1, a free port) that hands each POST to the client: what the workflow tool's
    webhook endpoint is when the runner drives a real server."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.client: WorkflowClient | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                client = receiver.client
                # Between scenarios nobody listens: acknowledge and drop, so no retries pile up on the server.
                status = client.receive(body, dict(self.headers.items())) if client is not None else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="rivosim-mesa-receiver", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
