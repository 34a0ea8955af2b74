"""How a scenario compares what it expected with what it got: ``expected`` is a subset of ``actual`` (objects by
key, lists item by item), numbers equal whatever their JSON type (``"10.0"`` matches ``10``), booleans exact.
Used by response checks (``context.py``) and ``expect:`` steps (``expectations.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["equal", "subset_mismatch"]


def equal(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected if isinstance(expected, bool) else actual == expected
    if isinstance(expected, int | float) and isinstance(actual, str | int | float):
        try:
            return Decimal(str(actual)) == Decimal(str(expected))
        except InvalidOperation:
            return False
    if isinstance(expected, str) and isinstance(actual, int | float):
        return equal(expected, actual)
    return bool(actual == expected)


def subset_mismatch(actual: Any, expected: Any, path: str = "") -> str | None:
    """Where ``expected`` is not a subset of ``actual`` (None when it is)."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return f"{path or 'value'}: expected an object, got {actual!r}"
        for key, value in expected.items():
            if key not in actual:
                return f"{path}{'.' if path else ''}{key}: missing"
            problem = subset_mismatch(actual[key], value, f"{path}{'.' if path else ''}{key}")
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{path or 'value'}: expected {expected!r}, got {actual!r}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            problem = subset_mismatch(a, e, f"{path}[{i}]")
            if problem:
                return problem
        return None
    return None if equal(actual, expected) else f"{path or 'value'}: expected {expected!r}, got {actual!r}"
