"""Compact specs (see ``derive.py``) expanded into JSON Schema as OpenAPI 3.1 uses it (Draft 2020-12), and the
small schema helpers the request declarations are written with.
"""

from __future__ import annotations

from typing import Any

__all__ = ["arr", "boolean", "enum", "expand", "integer", "nullable", "number", "obj", "string"]

_SCALARS = {"integer", "number", "string", "boolean", "object", "array"}


def expand(spec: Any, ref_prefix: str = "#/components/schemas/", *, closed: bool = True) -> dict[str, Any]:
    """JSON Schema for a compact spec. ``closed``: objects list every key they may have
    (``additionalProperties: false``), so a new field is drift too."""
    if isinstance(spec, str):
        return _expand_text(spec, ref_prefix)
    if isinstance(spec, list):
        return {"type": "array", "items": expand(spec[0], ref_prefix, closed=closed)} if spec else {"type": "array"}
    if isinstance(spec, dict):
        if "$anyOf" in spec:
            return {"anyOf": [expand(alt, ref_prefix, closed=closed) for alt in spec["$anyOf"]]}
        if "$nullable" in spec:
            return {"anyOf": [expand(spec["$nullable"], ref_prefix, closed=closed), {"type": "null"}]}
        properties: dict[str, Any] = {}
        required: list[str] = []
        for key, value in spec.items():
            name = key[:-1] if key.endswith("?") else key
            if not key.endswith("?"):
                required.append(name)
            properties[name] = expand(value, ref_prefix, closed=closed)
        out: dict[str, Any] = {"type": "object", "properties": properties}
        if closed:
            out["additionalProperties"] = False
        if required:
            out["required"] = required
        return out
    raise TypeError(f"not a compact spec: {spec!r}")


def _expand_text(text: str, ref_prefix: str) -> dict[str, Any]:
    if text == "any":
        return {}
    nullable = text.endswith("?")
    core = text[:-1] if nullable else text
    if core.startswith("#"):
        ref = {"$ref": ref_prefix + core[1:]}
        return {"anyOf": [ref, {"type": "null"}]} if nullable else ref
    if core.startswith("="):
        return {"const": core[1:]} if not nullable else {"enum": [core[1:], None]}
    types = core.split("|")
    unknown = set(types) - _SCALARS
    if unknown:
        raise ValueError(f"unknown type(s) {sorted(unknown)} in compact spec {text!r}")
    if nullable:
        types.append("null")
    return {"type": types[0] if len(types) == 1 else types}


# -- helpers for hand-written declarations ------------------------------------------------------------------
def integer(minimum: int | None = None, maximum: int | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "integer", **extra}
    if minimum is not None:
        out["minimum"] = minimum
    if maximum is not None:
        out["maximum"] = maximum
    return out


def number(minimum: float | None = None, maximum: float | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "number", **extra}
    if minimum is not None:
        out["minimum"] = minimum
    if maximum is not None:
        out["maximum"] = maximum
    return out


def string(max_length: int | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string", **extra}
    if max_length is not None:
        out["maxLength"] = max_length
    return out


def boolean(**extra: Any) -> dict[str, Any]:
    return {"type": "boolean", **extra}


def enum(*values: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "enum": list(values), **extra}


def arr(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **extra}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, dict[str, Any]], required: tuple[str, ...] = (), *, closed: bool = False,
        **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        out["required"] = list(required)
    if closed:
        out["additionalProperties"] = False
    return out
