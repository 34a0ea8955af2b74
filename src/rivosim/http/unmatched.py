"""404 and 405 that explain themselves: the nearest routes and why each did not match ("no route for POST …;
nearest: …"), in the API's own error shape, with the candidates kept for the journal.

A wrong URL must not cost much more than a right one: a client hammering wrong URLs would otherwise eat the
server (difflib over every route cost ~50x a routed request). So the route table is indexed once per URL map
(each rule's segments and their character bigrams, by API prefix and segment count); a path is compared segment
by segment with the routes of its own API and length or one either side (a placeholder segment matches an id;
two literal segments score Dice's coefficient over their bigrams, one set intersection); the answer is cached
per *shape* of the path (ids' digits folded, so ``/custmers/123`` and ``/custmers/991`` share one entry, and the
answer depends on the shape alone); and the input is bounded (segments, their length, the path echoed back).
"""

from __future__ import annotations

import re
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from rivosim.http.errors import error_response
from rivosim.http.routing import RouteSpec
from rivosim.http.state import RequestState

__all__ = ["nearest_routes", "unmatched"]

NEAREST = 3  # routes named in a refusal
CUTOFF = 0.6  # mean segment similarity below which a route is not "near"
MAX_SEGMENTS = 16  # a path with more segments gets no suggestions (no route has more than 8)
MAX_SEGMENT_CHARS = 64  # a segment is compared on its first this many characters
MAX_ECHO_CHARS = 256  # how much of the path a refusal repeats back
_SHAPES = 2048  # (method, shape) answers kept
_IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
_ID_DIGITS = re.compile(r"[0-9]{3,}")  # folded in a path's shape (ids); "v1" and "2025-10" stay as they are
_DIGIT = re.compile(r"[0-9]")
_PLACEHOLDER = re.compile(r"<[^>]*>")


class RouteTable(Protocol):
    """What this needs of the app: its URL map and the route each endpoint serves."""

    url_map: Map

    def route_spec(self, endpoint: str | None) -> RouteSpec | None: ...


@dataclass(frozen=True, slots=True)
class _Route:
    rule: Rule
    segments: tuple[str, ...]
    patterns: tuple[re.Pattern[str] | None, ...]  # per segment: a placeholder's pattern, None for a literal
    grams: tuple[frozenset[str], ...]  # per segment: its character bigrams (placeholders left out)
    methods: tuple[str, ...]
    order: int


class _Index:
    """One URL map's routes by API prefix and segment count, and the answers computed so far."""

    def __init__(self, url_map: Map) -> None:
        # API prefix -> segment count -> routes sharing one path (GET and POST of one path score once).
        self.groups: dict[str, dict[int, list[list[_Route]]]] = {}
        same_path: dict[tuple[str, ...], list[_Route]] = {}
        self.by_count: dict[int, list[_Route]] = {}
        for order, rule in enumerate(url_map.iter_rules()):
            if rule.endpoint == "static":
                continue
            segments = tuple(_segments(rule.rule))
            if not segments:
                continue
            route = _Route(rule, segments, tuple(_placeholder_pattern(s) for s in segments),
                           tuple(_bigrams(_PLACEHOLDER.sub("", s)) for s in segments),
                           tuple(sorted((rule.methods or set()) - _IGNORED_METHODS)), order)
            if segments in same_path:
                same_path[segments].append(route)
            else:
                same_path[segments] = [route]
                self.groups.setdefault(segments[0], {}).setdefault(len(segments), []).append(same_path[segments])
            self.by_count.setdefault(len(segments), []).append(route)
        self.prefix_grams = {prefix: _bigrams(prefix) for prefix in self.groups}
        self.shapes: OrderedDict[tuple[str, tuple[str, ...]], tuple[tuple[str, Rule], ...]] = OrderedDict()

    def same_path(self, path: str) -> list[Rule]:
        got = _segments(path)
        return [r.rule for r in self.by_count.get(len(got), ()) if _path_matches(r, got)]

    def nearest(self, method: str, path: str) -> tuple[tuple[str, Rule], ...]:
        segments = _segments(path)
        if not segments or len(segments) > MAX_SEGMENTS:
            return ()
        shape = tuple(_ID_DIGITS.sub("0", s[:MAX_SEGMENT_CHARS]) for s in segments)
        key = (method, shape)
        found = self.shapes.get(key)
        if found is not None:
            self.shapes.move_to_end(key)
            return found
        found = self._rank(method, shape)
        self.shapes[key] = found
        if len(self.shapes) > _SHAPES:
            self.shapes.popitem(last=False)
        return found

    def _rank(self, method: str, shape: tuple[str, ...]) -> tuple[tuple[str, Rule], ...]:
        # Only the API the path's first segment names (or is a near miss of): no route of another API is near.
        group = self.groups.get(shape[0])
        if group is None:
            grams = _bigrams(shape[0])
            near = [(_dice(grams, g), prefix) for prefix, g in self.prefix_grams.items()]
            score, prefix = max(near, default=(0.0, ""))
            if score < CUTOFF:
                return ()
            group = self.groups[prefix]
        n = len(shape)
        grams_of = [_bigrams(s) for s in shape]
        # rows[i][segment]: path segment i against a route segment; routes share most segments, so each pair is
        # scored once per request.
        rows: list[dict[str, float]] = [{} for _ in range(n)]

        def against(route: _Route, offset: int) -> list[float]:
            """Path segment i against route segment i + offset (0.0 where the route has none)."""
            want, k = route.segments, len(route.segments)
            out = []
            for i in range(n):
                j = i + offset
                if 0 <= j < k:
                    w = want[j]
                    value = rows[i].get(w)
                    if value is None:
                        value = rows[i][w] = _pair(shape[i], grams_of[i], w, route.patterns[j], route.grams[j])
                    out.append(value)
                else:
                    out.append(0.0)
            return out

        scored: list[tuple[float, int, int, str, Rule]] = []
        for count in (n, n - 1, n + 1):
            for routes in group.get(count, ()):
                route = routes[0]
                same = against(route, 0)
                score = sum(same) / n if count == n else _skip_one(n, count, same, against(route, 1 if count > n
                                                                                           else -1))
                if score < CUTOFF:
                    continue
                for route in routes:
                    for i, m in enumerate(route.methods):
                        # The same method first, then the route's own order: deterministic, whatever came first.
                        scored.append((score + (0.05 if m == method else 0.0), route.order, i, m, route.rule))
        scored.sort(key=lambda s: (-s[0], s[1], s[2]))
        return tuple((m, rule) for _, _, _, m, rule in scored[:NEAREST])


def _pair(got: str, grams: frozenset[str], want: str, pattern: re.Pattern[str] | None,
          want_grams: frozenset[str]) -> float:
    if got == want:
        return 1.0
    if pattern is not None and pattern.fullmatch(got):
        # An id where a placeholder stands is a match; a word there is likelier a misplaced path word.
        return 1.0 if _DIGIT.search(got) else 0.8
    return _dice(grams, want_grams)


def _skip_one(n: int, k: int, same: list[float], shifted: list[float]) -> float:
    """The mean segment similarity of an ``n``-segment path and a ``k``-segment route (``k = n ± 1``) at their
    best alignment skipping one segment: ``same[i]`` scores path segment i against route segment i, ``shifted[i]``
    against the one past the skip (prefix and suffix sums: 2n scores, not n squared)."""
    best, before = 0.0, 0.0
    after = sum(shifted)
    for s in range(max(n, k)):
        if k < n:  # the path is longer: skip path segment s
            after -= shifted[s]
            best = max(best, before + after)
            before += same[s] if s < k else 0.0
        else:  # the route is longer: skip route segment s
            best = max(best, before + after)
            if s < n:
                after -= shifted[s]
                before += same[s]
    return best / max(n, k)


def _bigrams(text: str) -> frozenset[str]:
    return frozenset(text[i:i + 2] for i in range(len(text) - 1)) if len(text) > 1 else frozenset((text,))


def _dice(a: frozenset[str], b: frozenset[str]) -> float:
    """Dice's coefficient over character bigrams: how alike two segments are ("vip-tiers"/"vip_tiers" 0.75,
    "reward"/"rewards" 0.91), in a set intersection instead of difflib's alignment (a wrong URL stays cheap)."""
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


_indexes: weakref.WeakKeyDictionary[Map, _Index] = weakref.WeakKeyDictionary()


def _placeholder_pattern(segment: str) -> re.Pattern[str] | None:
    if "<" not in segment:
        return None
    parts = _PLACEHOLDER.split(segment)
    return re.compile(".+".join(re.escape(p) for p in parts))


def _index(url_map: Map) -> _Index:
    index = _indexes.get(url_map)
    if index is None:  # Flask takes no rules once the app has served a request: one index per map is enough
        index = _indexes[url_map] = _Index(url_map)
    return index


def nearest_routes(url_map: Map, method: str, path: str) -> list[tuple[str, Rule]]:
    """The routes nearest to ``method path`` (at most three, best first), as ``(method, rule)``."""
    return list(_index(url_map).nearest(method, path))


def unmatched(app: RouteTable, state: RequestState, exc: HTTPException) -> Response:
    """404/405 that explains itself: which routes are nearest and why each did not match."""
    request = state.request
    assert request is not None
    api, method, path = state.api, request.method, request.path
    index = _index(app.url_map)
    echo = path if len(path) <= MAX_ECHO_CHARS else path[:MAX_ECHO_CHARS] + "…"

    def name_of(rule: Rule) -> str:
        spec = app.route_spec(rule.endpoint)
        return spec.name if spec is not None else rule.endpoint

    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        same_path = sorted(m for m in exc.valid_methods if m not in _IGNORED_METHODS)
        detail = f"no route for {method} {echo}; this path accepts {', '.join(same_path)}"
        state.note(detail)
        state.nearest = [{"route": name_of(r), "method": m, "path": r.rule,
                          "why": f"the route takes {m}, not {method}"}
                         for r in index.same_path(path)
                         for m in sorted((r.methods or set()) - _IGNORED_METHODS)][:5]
        response = error_response(api, 405, detail)
        response.headers["Allow"] = ", ".join(same_path)
        return response
    nearest = index.nearest(method, path)
    hint = f"; nearest: {', '.join(f'{m} {rule.rule}' for m, rule in nearest)}" if nearest else ""
    detail = f"no route for {method} {echo}{hint}"
    if api == "rivo" and "-" in path:
        detail += " (Rivo paths use snake_case, e.g. /vip_tiers)"
    state.note(detail)
    state.nearest = [{"route": name_of(rule), "method": m, "path": rule.rule, "why": _why(rule, m, method, path)}
                     for m, rule in nearest]
    return error_response(api, 404, detail if api != "shopify" else "Not Found")


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s != ""]


def _path_matches(route: _Route, got: list[str]) -> bool:
    return all(p is not None or w == s for w, p, s in zip(route.segments, route.patterns, got, strict=True))


def _why(rule: Rule, rule_method: str, method: str, path: str) -> str:
    """Why ``method path`` did not match ``rule``: the method, the segment count, the first segments that differ."""
    reasons = []
    if rule_method != method:
        reasons.append(f"the route takes {rule_method}, not {method}")
    want, got = _segments(rule.rule), _segments(path)
    if len(want) != len(got):
        reasons.append(f"the path has {len(got)} segments, the route {len(want)}")
    differ = [f"segment {i + 1} is {s[:MAX_SEGMENT_CHARS]!r}, the route has {w!r}"
              for i, (w, s) in enumerate(zip(want, got, strict=False)) if "<" not in w and w != s]
    reasons += differ[:2]
    return "; ".join(reasons) or "the path differs"
