"""Derive the response shape tables (``shapes/<api>.json``) from a recording of real responses.

The tables are declarations kept in this package: the documents are built from them, and the conformance hook
checks every response of the contract suite against them. When a wire shape changes on purpose (a field added
to ``rivosim.wire``), re-derive them from the contract suite's own traffic and review the diff::

    make openapi-shapes      # records the contract suite's responses, then runs this module on them

Each table maps a component name to a *compact spec* and each route name to ``{status: spec}``. Compact specs:
``"integer"``, ``"number"``, ``"string"``, ``"boolean"``, ``"object"`` (any object), ``"any"``; a ``?`` suffix
for nullable; ``"a|b"`` for a union; ``"#Name"`` for a component; ``"=value"`` for a constant; ``[spec]`` for an
array (``[]``: of anything); ``{"key": spec, "key?": spec}`` for an object with exactly those keys (``?`` marks a
key that may be absent). Only successful (2xx) responses are derived; error bodies are each API's error shape.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rivosim.http.openapi.requests_control import RESPONSES as DECLARED

__all__ = ["Node", "derive", "main"]

SHAPES_DIR = Path(__file__).with_name("shapes")
_CONTROL_DEPTH = 2  # control responses are documents and dumps: describe their top levels only


class Node:
    """What was seen at one place in many JSON values: its types, an object's keys, an array's items."""

    __slots__ = ("count", "items", "key_counts", "props", "types")

    def __init__(self) -> None:
        self.types: set[str] = set()
        self.props: dict[str, Node] = {}
        self.key_counts: dict[str, int] = {}
        self.items: Node | None = None
        self.count = 0  # how many objects were seen here

    def add(self, value: Any) -> Node:
        if value is None:
            self.types.add("null")
        elif isinstance(value, bool):
            self.types.add("boolean")
        elif isinstance(value, int):
            self.types.add("integer")
        elif isinstance(value, float):
            self.types.add("number")
        elif isinstance(value, str):
            self.types.add("string")
        elif isinstance(value, list):
            self.types.add("array")
            for item in value:
                self.items = (self.items or Node()).add(item)
        elif isinstance(value, dict):
            self.types.add("object")
            self.count += 1
            for key, item in value.items():
                self.props.setdefault(key, Node()).add(item)
                self.key_counts[key] = self.key_counts.get(key, 0) + 1
        return self

    def spec(self, depth: int | None = None) -> Any:
        types = set(self.types)
        nullable = "null" in types
        types.discard("null")
        if "integer" in types and "number" in types:
            types.discard("integer")
        mark = "?" if nullable else ""
        if not types:
            return "any"
        deeper = None if depth is None else depth - 1
        if types == {"object"}:
            if not self.props or depth == 0 or any(_map_key(k) for k in self.props):
                return "object" + mark  # empty, too deep, or a map keyed by ids, domains or emails
            out = {(k if self.key_counts[k] == self.count else k + "?"): n.spec(deeper)
                   for k, n in sorted(self.props.items())}
            return out if not nullable else {"$nullable": out}
        if types == {"array"}:
            if depth == 0:
                return "array" + mark
            inner = [] if self.items is None else [self.items.spec(deeper)]
            return inner if not nullable else {"$nullable": inner}
        if types & {"object", "array"}:
            return "any"
        return "|".join(sorted(types)) + mark


def _map_key(key: str) -> bool:
    return key.isdigit() or "." in key or "@" in key or "/" in key


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


_SINGULAR = {"customers": "customer", "orders": "order", "metafields": "metafield", "themes": "theme",
             "assets": "asset", "webhooks": "webhook", "transactions": "transaction", "refunds": "refund"}


def derive(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{api: {"components": {...}, "routes": {...}}}`` from recorded ``{route, status, body}`` rows."""
    components: dict[str, dict[str, Node]] = {"rivo": {}, "shopify": {}, "control": {}}
    routes: dict[str, dict[str, dict[str, Any]]] = {"rivo": {}, "shopify": {}, "control": {}}
    for row in rows:
        status, route, body = row["status"], row["route"], row["body"]
        if not 200 <= status < 300 or row.get("mimetype") != "application/json" or route in DECLARED:
            continue
        api = route.split(".", 1)[0]
        slot = routes[api].setdefault(route, {})
        if api == "rivo" and isinstance(body, dict) and isinstance(body.get("data"), dict | list):
            envelopes = body["data"] if isinstance(body["data"], list) else [body["data"]]
            for env in envelopes:
                components["rivo"].setdefault(_rivo_component(env["type"]), Node()).add(env["attributes"])
            seen = slot.setdefault(str(status), {"types": set(), "list": False, "links": False})
            seen["types"].update(env["type"] for env in envelopes)
            seen["list"] = isinstance(body["data"], list)
            seen["links"] = "links" in body
        elif api == "shopify" and isinstance(body, dict) and len(body) == 1 and next(iter(body)) in (
                *_SINGULAR, *_SINGULAR.values(), "shop", "count"):
            key, value = next(iter(body.items()))
            if key == "count":
                slot[str(status)] = {"$roots": {"count": "integer"}}
                continue
            name = "Shopify" + _camel(_SINGULAR.get(key, key))
            target = components["shopify"].setdefault(name, Node())
            for item in value if isinstance(value, list) else [value]:
                target.add(item)
            slot.setdefault(str(status), {"$roots": {}})["$roots"][key] = (
                ["#" + name] if isinstance(value, list) else "#" + name)
        else:
            node = slot.setdefault(str(status), Node())
            node.add(body) if isinstance(node, Node) else None
    out: dict[str, dict[str, Any]] = {}
    for api in ("rivo", "shopify", "control"):
        out[api] = {"components": {n: c.spec() for n, c in sorted(components[api].items())},
                    "routes": {r: {s: _route_spec(api, v) for s, v in sorted(st.items())}
                               for r, st in sorted(routes[api].items())}}
    return out


def _rivo_component(type_: str) -> str:
    return "Rivo" + _camel("reward" if type_ == "rewards" else type_)


def _route_spec(api: str, seen: Any) -> Any:
    if isinstance(seen, Node):
        return seen.spec(_CONTROL_DEPTH if api == "control" else None)
    if "$roots" in seen:
        alternatives = [{key: spec} for key, spec in sorted(seen["$roots"].items())]
        return alternatives[0] if len(alternatives) == 1 else {"$anyOf": alternatives}
    types = sorted(seen["types"])
    one: Any = {"type": "=" + types[0], "id": "integer", "attributes": "#" + _rivo_component(types[0])} \
        if types else "object"
    if not seen["list"]:
        return {"data": one}
    return {"links": "#RivoLinks", "data": [one]} if seen["links"] else {"data": [one]}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m rivosim.http.openapi.derive RECORDING.jsonl", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in Path(args[0]).read_text("utf-8").splitlines() if line.strip()]
    SHAPES_DIR.mkdir(exist_ok=True)
    for api, table in derive(rows).items():
        path = SHAPES_DIR / f"{api}.json"
        path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", "utf-8")
        print(f"wrote {path} ({len(table['components'])} components, {len(table['routes'])} routes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
