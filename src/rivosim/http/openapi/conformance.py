"""The response-validation hook: check one response of the app against the OpenAPI document of its API — the
route is documented, the status is one of its documented responses, the content type and the documented headers
are there, and the body matches the documented schema (``jsonschema``, Draft 2020-12 as OpenAPI 3.1 uses it).

``tests/contract/conftest.py`` runs it on every response of its test client, so the whole contract suite is a
conformance check: a wire shape that gains or loses a field without its schema fails there. Responses a fault
rule shaped (injected errors, malformed bodies) are skipped: they are the fault's, not the route's.

With ``RIVOSIM_OPENAPI_RECORD=<file>`` set, responses are appended to that file as JSON lines instead of checked:
``python -m rivosim.http.openapi.derive <file>`` turns such a recording into the shape tables (``shapes/*.json``).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from rivosim.http.openapi.validate import ResponseMismatch, check

if TYPE_CHECKING:
    from flask import Flask
    from werkzeug.test import TestResponse

__all__ = ["ResponseMismatch", "check_response"]

RECORD_ENV = "RIVOSIM_OPENAPI_RECORD"


def check_response(app: Flask, response: TestResponse) -> None:
    """Raise :class:`ResponseMismatch` when ``response`` (the latest one ``app``'s simulator journaled) breaks
    its document."""
    entries = app.sim.journal.entries()  # type: ignore[attr-defined]
    if not entries:
        return
    entry = entries[-1]
    if entry.fault is not None or entry.faults or entry.action is not None or entry.route is None:
        return
    body: Any = None
    text = response.get_data()
    if response.mimetype == "application/json" and text:
        body = json.loads(text)
    record = os.environ.get(RECORD_ENV)
    if record:
        if "fields=" in entry.query:  # a partial resource says nothing about the whole one's fields
            return
        with open(record, "a", encoding="utf-8") as out:
            out.write(json.dumps({"route": entry.route, "status": response.status_code,
                                  "mimetype": response.mimetype, "body": body}) + "\n")
        return
    check(app, entry.api, entry.route, entry.method, response.status_code, response.mimetype, dict(response.headers),
          body, text, entry.query)
