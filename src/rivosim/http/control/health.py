"""``GET /_rivosim/health``: the readiness probe, ``{"status": "ok", "version", "uptime_s"}``.

A probe must be cheap and must not wait: the app answers it in ``wsgi_app`` before it takes the simulator's lock
(a long ``advance`` of another client never delays it), before any gate, fault or journal entry. So it needs no
control token even on a server started with one (a readiness probe — a Kubernetes ``httpGet``, a CI loop — cannot
usually send one), and it tells nothing but that the server answers, its version and how long it has been up; it is
never journaled (a probe a second would push out the entries a test reads) and no fault rule reaches it. The route
is declared here too, so it stands in the route table and the OpenAPI document like every other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from werkzeug.wrappers import Response

from rivosim.http.errors import dumps, json_response
from rivosim.http.routing import ApiBlueprint, Routes

__all__ = ["HEALTH_PATHS", "answer", "blueprint", "health"]

HEALTH_PATHS = ("/_rivosim/health", "/_rivosim/health/")

routes = Routes()
blueprint = ApiBlueprint("control_health", __name__, api="control", url_prefix="/_rivosim", routes=(routes,))


@cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rivosim")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0.0.0"


def health(started: float) -> dict[str, Any]:
    """The probe's answer for an app started at ``started`` (``time.monotonic()``)."""
    return {"status": "ok", "version": _version(), "uptime_s": round(time.monotonic() - started, 3)}


def answer(started: float, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The probe answered as plain WSGI, without the lock, the gates or the journal."""
    data = dumps(health(started))
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                              ("Cache-Control", "no-store")])
    return [data]


@routes.route("/health", "GET", "control.health")
def health_view() -> Response:
    """Reached only by a path ``wsgi_app`` does not answer first (it answers ``GET /_rivosim/health`` itself)."""
    from flask import current_app

    return json_response(health(current_app.started))  # type: ignore[attr-defined]
