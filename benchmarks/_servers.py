"""The baselines' tiny apps: a bare Flask app that returns fixed bytes, and a script that serves it with the
rivosim server shell.

``RIVOSIM_BENCH_RESPONSES`` names a JSON file of responses captured from rivosim
(``{"get": {"status": 200, "headers": [[name, value]], "body": "..."}, "post": {...}}``) so the ceiling sends
exactly the bytes rivosim sends. granian serves ``benchmarks._servers:app``; the shell serves it with
``python -m benchmarks._servers --port P``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import types
from typing import Any

from flask import Flask, Response, request

__all__ = ["DEFAULT_RESPONSES", "app", "create_bare_app", "load_responses"]

DEFAULT_RESPONSES: dict[str, dict[str, Any]] = {
    "get": {"status": 200, "headers": [["Content-Type", "application/json"]], "body": '{"data":{}}'},
    "post": {"status": 201, "headers": [["Content-Type", "application/json"]], "body": '{"data":{}}'},
    "list": {"status": 200, "headers": [["Content-Type", "application/json"]], "body": '{"links":{},"data":[]}'},
}


def load_responses() -> dict[str, dict[str, Any]]:
    path = os.environ.get("RIVOSIM_BENCH_RESPONSES")
    if not path:
        return DEFAULT_RESPONSES
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)  # type: ignore[no-any-return]


def create_bare_app(responses: dict[str, dict[str, Any]] | None = None) -> Flask:
    """One route per benchmarked endpoint, each returning its captured response; ``/`` for start-up polls."""
    captured = responses or load_responses()
    fixed = {name: (r["body"].encode("utf-8"), int(r["status"]), [tuple(h) for h in r["headers"]])
             for name, r in captured.items()}
    bare = Flask("bare")

    @bare.get("/")
    def index() -> Response:
        return Response(b"ok", 200, [("Content-Type", "text/plain")])

    @bare.get("/merchant_api/v1/customers/<identifier>")
    def customer(identifier: str) -> Response:
        body, status, headers = fixed["get"]
        return Response(body, status, headers)

    @bare.get("/merchant_api/v1/customers")
    def customers_page() -> Response:
        body, status, headers = fixed["list"]
        return Response(body, status, headers)

    @bare.post("/merchant_api/v1/points_events")
    def points_event() -> Response:
        request.get_data()  # a real handler reads the body; reading it is part of the ceiling
        body, status, headers = fixed["post"]
        return Response(body, status, headers)

    return bare


app = create_bare_app()


def _lean_server_class() -> type:
    """``rivosim.transports.server.Server`` without running ``rivosim/__init__`` (which imports the whole simulator):
    the start-up baseline must pay for the shell, not for the package it lives in."""
    if "rivosim" not in sys.modules:
        spec = importlib.util.find_spec("rivosim")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("rivosim is not installed")
        package = types.ModuleType("rivosim")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["rivosim"] = package
    from rivosim.transports.server import Server

    return Server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="serve the bare Flask app with the rivosim server shell")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = _lean_server_class()(app, args.host, args.port)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
