"""What an injected fault makes of a request's response (the pipeline in ``app.py`` decides; this builds): an
error in the API's own shape, the placeholder for a response a transport never sends, the post-view actions
(commit-then-fail, a malformed or dribbled body) and the transport action left for the server shell or the
in-process transport.
"""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from rivosim.http.errors import error_response
from rivosim.kernel.transport_action import ENVIRON_KEY as TRANSPORT_KEY
from rivosim.kernel.transport_action import TransportAction

if TYPE_CHECKING:
    from rivosim.faults.fault_set import Decision, FaultRule
    from rivosim.http.state import RequestState

__all__ = ["carry_out", "injected_error", "no_response"]

_NO_RESPONSE = {"timeout": (504, "timed out"), "reset": (502, "was reset"), "empty_reply": (502, "got an empty reply")}
_TRANSPORT_KIND = {"timeout": "hang", "reset": "reset", "empty_reply": "empty_reply"}
_HTML_PAGE = (b"<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n"
              b"<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>\n")


def _retry_after(api: str, seconds: float) -> str:
    # Rivo and the control API: whole seconds, rounded up. Shopify writes a decimal ("2.0").
    return f"{math.ceil(seconds * 10) / 10:.1f}" if api == "shopify" else str(math.ceil(seconds))


def injected_error(state: RequestState, rule: FaultRule) -> Response:
    action = rule.action
    status = int(action["status"])
    headers = {"X-Rivosim-Fault": rule.id}
    if "retry_after" in action:
        headers["Retry-After"] = _retry_after(state.api, float(action["retry_after"]))
    detail = action.get("message") or _phrase(status)
    return error_response(state.api, status, detail, headers=headers)


def no_response(state: RequestState, rule: FaultRule, kind: str) -> Response:
    """The response a transport never sends (the client meets a timeout, a reset or an empty reply). Only a client
    that ignores transport actions (Flask's test client) sees it, marked with ``X-Rivosim-Transport``."""
    status, what = _NO_RESPONSE[kind]
    return error_response(state.api, status, f"rivosim: this request {what} (fault rule {rule.id}); a real "
                          "transport sends no response", headers={"X-Rivosim-Fault": rule.id,
                                                                  "X-Rivosim-Transport": _TRANSPORT_KIND[kind]})


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def carry_out(state: RequestState, decision: Decision, response: Response, environ: dict[str, Any]
               ) -> tuple[Response, TransportAction | None, int, float]:
    """Apply the post-view part of a decision; returns (response, action, status the client meets, extra seconds
    the transfer takes in simulator time)."""
    latency = decision.latency
    rule = decision.terminal
    kind = rule.kind if rule is not None else None
    extra = 0.0
    if rule is not None and kind == "commit_then_fail":
        view_status = response.status_code
        state.note(f"commit_then_fail ({rule.id}): the view answered {view_status}"
                   + (", so the change is applied" if 200 <= view_status < 300 else ", so nothing was applied"))
        then = rule.action["then"]
        response = injected_error(state, rule) if then == "error" else no_response(state, rule, then)
        state.view_status = view_status
        kind = then
    elif rule is not None and kind == "malformed_body":
        _mangle(response, rule.action["mode"])
    action: TransportAction | None = None
    if kind in _TRANSPORT_KIND:
        seconds = rule.action.get("seconds") if kind == "timeout" and rule is not None else None
        action = TransportAction(_TRANSPORT_KIND[kind], delay=latency,  # type: ignore[arg-type]
                                 hang_seconds=float(seconds) if seconds is not None else None)
    elif kind == "slow_body" and rule is not None:
        size, interval = int(rule.action["chunk_size"]), float(rule.action["interval_ms"]) / 1000
        action = TransportAction("dribble", delay=latency, chunk_size=size, chunk_interval=interval)
        extra = math.ceil(len(response.get_data()) / size) * interval
    elif latency:
        action = TransportAction("respond", delay=latency)
    if action is not None:
        environ[TRANSPORT_KEY] = action
    status = 0 if action is not None and action.kind in ("hang", "reset", "empty_reply") else response.status_code
    return response, action, status, extra


def _mangle(response: Response, mode: str) -> None:
    data = response.get_data()
    if mode == "truncated":  # valid HTTP, half a JSON document
        response.set_data(data[:len(data) // 2])
    elif mode == "invalid":  # a JSON document followed by garbage ("Extra data")
        response.set_data(data + b"}")
    elif mode == "html":  # a proxy's error page where JSON was expected
        response.set_data(_HTML_PAGE)
        response.content_type = "text/html"
    else:  # cut: Content-Length promises the whole body, the connection closes half-way through it
        response.set_data(data[:len(data) // 2])
        response.headers["Content-Length"] = str(len(data))
        response.headers["Connection"] = "close"


