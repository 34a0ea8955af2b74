"""Snapshot and restore over the control API (guarded by the control token like every ``/_rivosim`` route):

- ``GET /_rivosim/snapshot`` — the whole simulator as a snapshot document; ``?shop=DOMAIN`` that one shop;
  ``?journal=1`` with the request journal;
- ``POST /_rivosim/snapshot`` — restore one (the body is the document): a whole-simulator snapshot replaces
  everything, a shop snapshot replaces (or adds) that shop in the running simulator. A refused document (not
  JSON, cut short, another format or version, a value of the wrong type, a timer with no handler) is a 400 or
  422 in the control API's error shape and changes nothing;
- ``GET /_rivosim/snapshot/schema.json`` — the format's JSON Schema.
"""

from __future__ import annotations

import orjson
from flask import request
from werkzeug.wrappers import Response

from rivosim.http.errors import json_response
from rivosim.http.routing import ApiBlueprint, Routes, current_shop, current_sim
from rivosim.kernel.errors import MalformedRequest, ValidationFailed
from rivosim.snapshot import SnapshotError, snapshot_schema

__all__ = ["InvalidSnapshot", "blueprint"]

routes = Routes()
route = routes.route
blueprint = ApiBlueprint("control_snapshot", __name__, api="control", url_prefix="/_rivosim",
                         routes=(routes,))


class InvalidSnapshot(ValidationFailed):
    """A snapshot document refused (422); ``field`` is the path of what is wrong in it."""

    code = "invalid_snapshot"


class UnreadableSnapshot(MalformedRequest):
    """A body that is no snapshot at all: empty, not JSON, cut short (400)."""

    code = "invalid_snapshot"


def _flag(name: str) -> bool:
    raw = request.args.get(name, "0").strip().lower()
    if raw not in ("0", "1", "true", "false", ""):
        raise ValidationFailed(f"{name} must be 1 or 0 (true or false), not {raw!r}", field=name)
    return raw in ("1", "true")


@route("/snapshot", "GET", "control.snapshot.get")
def snapshot_get() -> Response:
    sim = current_sim()
    domain = request.args.get("shop")
    if domain is not None:
        current_shop(domain)  # an unknown shop: the control API's 404
    journal = _flag("journal")
    try:
        doc = sim.snapshot(journal=journal, shop=domain)
    except SnapshotError as exc:  # state the codec cannot carry: a simulator bug, said plainly
        raise InvalidSnapshot(f"this simulator cannot be saved: {exc.message}", field=exc.where) from exc
    return Response(orjson.dumps(doc), 200, mimetype="application/json")


@route("/snapshot", "POST", "control.snapshot.restore")
def snapshot_restore() -> Response:
    sim = current_sim()
    raw = request.get_data(cache=False)
    try:
        scope = sim.restore(raw)
    except SnapshotError as exc:
        refusal = UnreadableSnapshot if exc.where == "snapshot" else InvalidSnapshot
        raise refusal(f"snapshot refused, nothing changed: {exc.message}", field=exc.where or None) from exc
    return json_response({"restored": scope, "now": sim.now().isoformat(), "shops": sorted(sim.shops)})


@route("/snapshot/schema.json", "GET", "control.snapshot.schema")
def snapshot_schema_get() -> Response:
    return json_response(snapshot_schema())
