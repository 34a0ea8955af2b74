"""The README's request tables, generated from the same documents: every operation's path and query
parameters and body fields (required ones starred, with types, ranges and enums). ``make openapi`` rewrites
the marked sections of README.md; a test fails when they differ from what the code generates.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rivosim.http.openapi import document

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["readme_with_tables", "request_table"]

_PREFIX = {"rivo": "/merchant_api/v1", "shopify": "/admin/api/{version}", "control": "/_rivosim"}


def _schema_text(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        parts = [_schema_text(s) for s in schema["anyOf"] if s.get("type") != "null"]
        text = " or ".join(dict.fromkeys(parts))
        return text + (" or null" if any(s.get("type") == "null" for s in schema["anyOf"]) else "")
    if "enum" in schema:
        values = [str(v) for v in schema["enum"]]
        return "|".join(values) if len(values) <= 6 else "|".join(values[:5]) + f"|… ({len(values)})"
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None or high is not None:
        kind += f" {'' if low is None else low}–{'' if high is None else high}"  # noqa: RUF001 (a range, as the README writes one)
    if "maxLength" in schema:
        kind += f" ≤{schema['maxLength']} chars"
    if kind == "array" and "maxItems" in schema:
        kind += f" of ≤{schema['maxItems']}"
    if "format" in schema:
        kind += f" ({schema['format']})"
    return kind


def _fields(schema: dict[str, Any], prefix: str = "") -> list[str]:
    required = set(schema.get("required", ()))
    out = []
    for name, sub in schema.get("properties", {}).items():
        star = "*" if name in required else ""
        if sub.get("type") == "object" and sub.get("properties") and not prefix:
            out += [f"`{name}`{star}: {{{', '.join(_fields(sub, name + '.'))}}}"]
        else:
            out.append(f"`{name}`{star} {_schema_text(sub)}")
    return out


def request_table(app: Flask, api: str) -> str:
    """A markdown table: route name, method and path (below the API's prefix), what the request takes."""
    doc = document(app, api)
    params = doc["components"].get("parameters", {})
    rows = ["| Route name | Request | Parameters and body fields (`*` required) |", "|---|---|---|"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            takes: list[str] = []
            query = [params[p["$ref"].rsplit("/", 1)[1]] for p in op.get("parameters", ())]
            query = [q for q in query if q["in"] == "query"]
            names = {q["name"] for q in query}
            if names >= _PAGINATION:  # Rivo's four pagination parameters, described once below the table
                query = [q for q in query if q["name"] not in _PAGINATION]
                takes.append("pagination")
            if query:
                takes.append("query: " + ", ".join(f"`{q['name']}` {_schema_text(q['schema'])}" for q in query))
            body = op.get("requestBody")
            if body is not None:
                schema = next(iter(body["content"].values()))["schema"]
                fields = _fields(schema)
                kind = "body" if body.get("required") else "optional body"
                takes.append(f"{kind}: " + (", ".join(fields) if fields else "a JSON object"))
            short = path.removeprefix(_PREFIX[api]) or "/"
            cell = "; ".join(takes).replace("|", "\\|")
            rows.append(f"| `{op['operationId']}` | `{method.upper()} {short}` | {cell} |")
    return "\n".join(rows) + "\n"


_PAGINATION = {"pagination[page]", "pagination[per_page]", "pagination[since_id]", "pagination[limit]"}
_SECTION = re.compile(r"(<!-- openapi:(\w+) -->\n)(.*?)(<!-- /openapi:\2 -->)", re.S)


def readme_with_tables(app: Flask, text: str) -> str:
    """``text`` (README.md) with each ``<!-- openapi:<api> -->`` … ``<!-- /openapi:<api> -->`` section
    replaced by that API's generated table."""
    return _SECTION.sub(lambda m: m.group(1) + request_table(app, m.group(2)) + m.group(4), text)


def main() -> int:
    from rivosim.engine import Simulator
    from rivosim.http.app import create_app

    path = Path("README.md")
    path.write_text(readme_with_tables(create_app(Simulator(seed=0)), path.read_text("utf-8")), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
