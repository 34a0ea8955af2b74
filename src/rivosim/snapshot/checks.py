"""Which values a record's fields may hold on restore: each dataclass field's annotation read (as a string, by
hand: nothing is eval'd) into the exact types it allows and the rivosim classes (subclasses too) it names.
Fields whose annotation is not one of the simple shapes (Any, Callable, a Literal, an alias) are not checked."""

from __future__ import annotations

import dataclasses
import functools
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = ["Check", "field_checks"]

_SIMPLE: dict[str, tuple[type, ...]] = {
    "int": (int,), "str": (str,), "bool": (bool,), "float": (float, int), "None": (type(None),),
    "datetime": (datetime,), "date": (date,), "Decimal": (Decimal,), "bytes": (bytes,), "timedelta": (timedelta,),
    "list": (list,), "dict": (dict,), "set": (set,), "tuple": (tuple,), "frozenset": (frozenset,),
}

Check = tuple[frozenset[type], tuple[type, ...]]


@functools.cache
def field_checks(cls: type) -> dict[str, Check | None] | None:
    """Per dataclass field: the exact types its annotation allows and the rivosim classes (subclasses too), or
    None for a field whose annotation is not one of the simple shapes."""
    if not dataclasses.is_dataclass(cls):
        return None
    module = sys.modules.get(cls.__module__)
    module_globals = vars(module) if module is not None else None
    return {f.name: _annotation_check(f.type, module_globals) for f in dataclasses.fields(cls)}


def _annotation_check(annotation: Any, module_globals: dict[str, Any] | None) -> Check | None:
    """The types an annotation string allows (parsed by hand: nothing is eval'd), or None when it is not one of
    the simple shapes (Any, Callable, a Literal, a type alias: then the value is taken as it is)."""
    if not isinstance(annotation, str):
        return None
    exact: set[type] = set()
    classes: list[type] = []
    for part in _split_union(annotation):
        base = part.split("[", 1)[0].strip()
        if base in _SIMPLE:
            exact.update(_SIMPLE[base])
            continue
        target = (module_globals or {}).get(base)
        if isinstance(target, type) and target.__module__.startswith("rivosim."):
            classes.append(target)
            continue
        return None
    return frozenset(exact), tuple(classes)


def _split_union(annotation: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in annotation:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "|" and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts
