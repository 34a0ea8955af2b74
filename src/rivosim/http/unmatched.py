"""404 and 405 that explain themselves: the nearest routes and why each did not match ("no route for POST …;
nearest: …"), in the API's own error shape, with the candidates kept for the journal."""

from __future__ import annotations

import difflib
from typing import Protocol

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from rivosim.http.errors import error_response
from rivosim.http.routing import RouteSpec
from rivosim.http.state import RequestState

__all__ = ["unmatched"]


class RouteTable(Protocol):
    """What this needs of the app: its URL map and the route each endpoint serves."""

    url_map: Map

    def route_spec(self, endpoint: str | None) -> RouteSpec | None: ...


def unmatched(app: RouteTable, state: RequestState, exc: HTTPException) -> Response:
    """404/405 that explains itself: which routes are nearest and why each did not match."""
    request = state.request
    assert request is not None
    api, method, path = state.api, request.method, request.path

    def name_of(rule: Rule) -> str:
        spec = app.route_spec(rule.endpoint)
        return spec.name if spec is not None else rule.endpoint

    rules: list[Rule] = [r for r in app.url_map.iter_rules() if r.endpoint != "static"]
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        same_path = sorted(m for m in exc.valid_methods if m not in ("HEAD", "OPTIONS"))
        detail = f"no route for {method} {path}; this path accepts {', '.join(same_path)}"
        state.note(detail)
        state.nearest = [{"route": name_of(r), "method": m, "path": r.rule,
                          "why": f"the route takes {m}, not {method}"}
                         for r in rules if _path_matches(r, path)
                         for m in sorted((r.methods or set()) - {"HEAD", "OPTIONS"})][:5]
        response = error_response(api, 405, detail)
        response.headers["Allow"] = ", ".join(same_path)
        return response
    candidates = {f"{m} {r.rule}": (m, r) for r in rules for m in sorted(r.methods or ()) if m not in
                  ("HEAD", "OPTIONS")}
    nearest = difflib.get_close_matches(f"{method} {path}", list(candidates), n=3, cutoff=0.5)
    hint = f"; nearest: {', '.join(nearest)}" if nearest else ""
    detail = f"no route for {method} {path}{hint}"
    if api == "rivo" and "-" in path:
        detail += " (Rivo paths use snake_case, e.g. /vip_tiers)"
    state.note(detail)
    state.nearest = []
    for key in nearest:
        m, rule = candidates[key]
        state.nearest.append({"route": name_of(rule), "method": m,
                              "path": rule.rule, "why": _why(rule, m, method, path)})
    return error_response(api, 404, detail if api != "shopify" else "Not Found")


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s != ""]


def _path_matches(rule: Rule, path: str) -> bool:
    want, got = _segments(rule.rule), _segments(path)
    return len(want) == len(got) and all(w.startswith("<") or w == s for w, s in zip(want, got, strict=True))


def _why(rule: Rule, rule_method: str, method: str, path: str) -> str:
    """Why ``method path`` did not match ``rule``: the method, the segment count, the first segments that differ."""
    reasons = []
    if rule_method != method:
        reasons.append(f"the route takes {rule_method}, not {method}")
    want, got = _segments(rule.rule), _segments(path)
    if len(want) != len(got):
        reasons.append(f"the path has {len(got)} segments, the route {len(want)}")
    differ = [f"segment {i + 1} is {s!r}, the route has {w!r}" for i, (w, s) in enumerate(zip(want, got, strict=False))
              if not w.startswith("<") and w != s]
    reasons += differ[:2]
    return "; ".join(reasons) or "the path differs"
