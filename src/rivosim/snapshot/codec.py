"""The reflective codec: a graph of rivosim objects <-> JSON, with identity kept and nothing run.

JSON scalars, arrays and objects stand for themselves (a dict whose keys are not all plain strings is a
``{"$map": [[k, v], ...]}``). Everything else is an object with one ``$``-tag: ``$obj`` (an allowlisted rivosim
class and its attributes), ``$fn`` (a rivosim function or closure: its allowlisted code plus the values it
captured), ``$method``, ``$partial``, ``$dt``, ``$dec``, ``$tuple``, ``$set``, ``$bytes``, ``$random`` (a
``random.Random`` at its exact position) and a few more; ``$ext`` names a piece of the live simulator that a
snapshot does not carry (its clocks, lock, sender, the simulator itself) and restore wires back in; ``$table``
(``tables.py``) is a big list or dict of records of one class, column by column.

Identity: a list, dict, set, object, closure or random stream met more than once (found by a counting pass
first) carries ``"$id": n`` where it is written (a shared plain list or dict becomes ``{"$list": [...], "$id": n}``
or ``{"$dict": {...}, "$id": n}``) and every other meeting is a ``{"$ref": n}``. So shared objects stay shared (a
shop's ``rng`` and its context's), cycles close, and the file means the same whatever a JSON tool does to the
order of its keys.

Restore (``decode.py``) builds objects with ``object.__new__`` and sets attributes (a table's records: with the
``__init__`` ``dataclasses`` generated, which only assigns): no other constructor, ``__setstate__`` or code from
the file runs. Each dataclass field is checked against its annotation (simple types: int, str, float, bool,
datetime, Decimal, containers, rivosim classes) so a value of the wrong type is refused with its path.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import gc
import random
import re
import types
from collections import defaultdict, deque
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import chain
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from rivosim.snapshot.errors import SnapshotError, slots_of
from rivosim.snapshot.registry import Registry, registry
from rivosim.snapshot.tables import TABLE_MIN, encode_table

__all__ = ["Encoder", "SnapshotError", "attrs_of", "paused_gc", "slots_of"]


class Encoder:
    """One encoding pass. ``externals`` maps ``id(obj)`` to the name restore wires back in for it."""

    def __init__(self, externals: dict[int, str] | None = None) -> None:
        self.reg: Registry = registry()
        self.externals = dict(externals or {})
        self.refs: dict[int, int] = {}
        self.shared: set[int] = set()
        self.keep: list[Any] = []  # what was counted stays alive, so no id() is reused mid-pass
        self.memo: dict[int, Any] = {id(None): None}  # id(datetime) -> its ISO-8601 text (tables.py)

    def encode_all(self, roots: dict[str, Any]) -> dict[str, Any]:
        """Encode several roots that may share objects (the state and the clock handlers): counted together
        first, so a ``$ref`` in one finds its ``$id`` in another."""
        with paused_gc():
            self._count(list(roots.values()))
            return {name: self.encode(value, name) for name, value in roots.items()}

    def _bears_identity(self, value: Any, kind: type) -> bool:
        if kind in _IDENTITY_TYPES:
            return True
        if kind is types.FunctionType:
            name = self.reg.code_names.get(value.__code__)
            return name is None or self.reg.functions[name][2] is not value
        return kind in self.reg.class_names

    def _count(self, roots: list[Any]) -> None:
        """Which objects are met more than once (those get an ``$id``). Walks what ``encode`` will walk."""
        seen: set[int] = set()
        stack = list(roots)
        externals, shared, keep = self.externals, self.shared, self.keep
        while stack:
            value = stack.pop()
            kind = type(value)
            if kind in _SCALARS or value is None:
                continue
            key = id(value)
            if key in externals:
                continue
            if self._bears_identity(value, kind):
                if key in seen:
                    shared.add(key)
                    continue
                seen.add(key)
                keep.append(value)
            if (kind is list or kind is tuple) and len(value) >= TABLE_MIN:
                self._count_many(value, stack, seen)
            elif kind is dict and len(value) >= TABLE_MIN:
                self._count_many(list(value), stack, seen)
                self._count_many(list(value.values()), stack, seen)
            else:
                stack.extend(_children(value, kind, self.reg.class_names))

    def _count_many(self, values: Any, stack: list[Any], seen: set[int]) -> None:
        """The counting pass over a big collection (a shop's members, an email index), a batch at a time: leaves
        (scalars, datetimes, decimals) skipped by the set of their types, records of one slotted class walked
        column by column, lists and tuples of leaves looked into at once. Anything else goes on the stack."""
        held = set(map(type, values))
        if held <= _LEAVES:
            return
        kind = next(iter(held)) if len(held) == 1 else None
        if kind is tuple:
            self._count_many(list(chain.from_iterable(values)), stack, seen)
            return
        names = _slot_record(kind) if kind is list or kind in self.reg.class_names else None
        if kind is None or names is None or any(id(v) in self.externals for v in values):
            stack.extend(values)
            return
        shared, fresh = self.shared, []
        for value in values:
            key = id(value)
            if key in seen:
                shared.add(key)
            else:
                seen.add(key)
                fresh.append(value)
        self.keep.extend(fresh)
        if kind is list:
            self._count_many(list(chain.from_iterable(fresh)), stack, seen)
            return
        try:
            rows = list(map(attrgetter(*names), fresh))
        except AttributeError:  # a slot left unset: one at a time
            for value in fresh:
                stack.extend(_children(value, kind, self.reg.class_names))
            return
        for column in zip(*rows, strict=True):
            self._count_many(column, stack, seen)

    def number(self, value: Any, node: dict[str, Any]) -> dict[str, Any]:
        """``node`` for ``value``, given an ``$id`` when ``value`` is met again later."""
        n = self.identify(value)
        if n is not None:
            node["$id"] = n
        return node

    def identify(self, value: Any) -> int | None:
        """The ``$id`` of ``value`` (met here first) when it is met again later, else None."""
        key = id(value)
        if key in self.shared:
            n = self.refs[key] = len(self.refs)
            return n
        return None

    def encode(self, value: Any, where: str = "state") -> Any:
        kind = type(value)
        if kind is str or kind is bool or value is None:
            return value
        if kind is int:  # JSON readers (orjson) stop at 64 bits; a client may send a bigger one (the journal)
            return value if _INT_MIN <= value <= _INT_MAX else {"$int": str(value)}
        if kind is float:
            return value if value == value and value not in (float("inf"), float("-inf")) else {"$float": repr(value)}
        key = id(value)
        ext = self.externals.get(key)
        if ext is not None:
            return {"$ext": ext}
        ref = self.refs.get(key)
        if ref is not None:
            return {"$ref": ref}
        if kind is list:
            if len(value) >= TABLE_MIN and (table := encode_table(self, value, value, None, where)) is not None:
                return table
            node = self.number(value, {"$list": None}) if key in self.shared else None  # before what it holds
            items = list(value) if _json_scalars(value) else [self.encode(v, where) for v in value]
            if node is None:
                return items
            node["$list"] = items
            return node
        if kind is dict:
            if len(value) >= TABLE_MIN \
                    and (table := encode_table(self, value, list(value.values()), list(value), where)) is not None:
                return table
            plain = all(type(k) is str and not k.startswith("$") for k in value)
            if plain:
                node = self.number(value, {"$dict": None}) if key in self.shared else None
                copied = dict(value) if _json_scalars(value.values()) \
                    else {k: self.encode(v, where) for k, v in value.items()}
                if node is None:
                    return copied
                node["$dict"] = copied
                return node
            node = self.number(value, {"$map": None})
            node["$map"] = [[self.encode(k, where), self.encode(v, where)] for k, v in value.items()]
            return node
        if kind is datetime:
            if value.tzinfo is UTC or value.tzinfo is None:
                return {"$dt": value.isoformat()}
            if isinstance(value.tzinfo, ZoneInfo):
                return {"$dt": value.isoformat(), "tz": value.tzinfo.key}
            return {"$dt": value.isoformat()}
        if kind is Decimal:
            return {"$dec": str(value)}
        if kind is tuple:
            return {"$tuple": [self.encode(v, where) for v in value]}
        if kind is bytes:
            try:
                return {"$utf8": value.decode("utf-8")}
            except UnicodeDecodeError:
                return {"$b64": base64.b64encode(value).decode("ascii")}
        if kind is set or kind is frozenset:
            node = self.number(value, {"$set": None}) if kind is set else {"$frozenset": None}
            items = [self.encode(v, where) for v in value]
            with contextlib.suppress(TypeError):
                items.sort(key=_sort_key)
            node["$set" if kind is set else "$frozenset"] = items
            return node
        if kind is date:
            return {"$date": value.isoformat()}
        if kind is timedelta:
            return {"$td": [value.days, value.seconds, value.microseconds]}
        if kind is random.Random:
            version, internal, gauss = value.getstate()
            return self.number(value, {"$random": [version, list(internal), gauss]})
        if kind is deque:
            node = self.number(value, {"$deque": None, "maxlen": value.maxlen})
            node["$deque"] = [self.encode(v, where) for v in value]
            return node
        if kind is types.MappingProxyType:
            return {"$proxy": {k: self.encode(v, where) for k, v in value.items()}}
        if kind is ZoneInfo:
            return {"$zone": value.key}
        if kind is re.Pattern:
            return {"$re": value.pattern, "flags": value.flags}
        if kind is types.FunctionType:
            return self._function(value, where)
        if kind is types.MethodType:
            return {"$method": self.encode(value.__self__, where), "name": value.__func__.__name__}
        if kind is functools.partial:
            return {"$partial": self.encode(value.func, where), "args": self.encode(list(value.args), where),
                    "keywords": self.encode(dict(value.keywords), where)}
        if kind is defaultdict:
            node = self.number(value, {"$defaultdict": None})
            node["$defaultdict"] = self.encode(value.default_factory, where)
            node["items"] = [[self.encode(k, where), self.encode(v, where)] for k, v in value.items()]
            return node
        if kind is types.BuiltinFunctionType or (kind is type and key in self.reg.builtin_names):
            name = self.reg.builtin_names.get(key)
            if name is None:
                raise SnapshotError(f"cannot keep the built-in {value!r}", where)
            return {"$builtin": name}
        if kind is type:
            return {"$class": self._class_name(value, where)}
        if key in self.reg.constant_names:
            return {"$const": self.reg.constant_names[key]}
        return self._object(value, where)

    def _class_name(self, cls: type, where: str) -> str:
        name = self.reg.class_names.get(cls)
        if name is None:
            raise SnapshotError(f"{cls.__module__}.{cls.__qualname__} is not part of a simulator's state", where)
        return name

    def _function(self, fn: types.FunctionType, where: str) -> Any:
        name = self.reg.code_names.get(fn.__code__)
        if name is None:
            raise SnapshotError(f"function {fn.__module__}.{fn.__qualname__} is not part of a simulator's state", where)
        plain = self.reg.functions[name][2]
        if plain is fn:
            return {"$fn": name}
        out: dict[str, Any] = self.number(fn, {"$fn": name})
        if fn.__closure__:
            cells = []
            for var, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True):
                try:
                    cells.append(self.encode(cell.cell_contents, f"{where}<{name}.{var}>"))
                except ValueError:  # an empty cell (a name assigned after the closure was made)
                    cells.append({"$empty": True})
            out["cells"] = cells
        if fn.__defaults__:
            out["defaults"] = self.encode(list(fn.__defaults__), where)
        if fn.__kwdefaults__:
            out["kwdefaults"] = self.encode(dict(fn.__kwdefaults__), where)
        return out

    def _object(self, value: Any, where: str) -> Any:
        cls = type(value)
        name = self._class_name(cls, where)
        attrs = attrs_of(value)
        out: dict[str, Any] = self.number(value, {"$obj": name})
        if isinstance(value, deque):
            out["items"] = [self.encode(v, where) for v in value]
            out["maxlen"] = value.maxlen
        encode = self.encode  # plain JSON scalars (not floats: nan and inf are tagged) need no call
        out["attrs"] = {k: v if v is None or type(v) in _PLAIN or (type(v) is int and _INT_MIN <= v <= _INT_MAX)
                        else encode(v, where) for k, v in attrs.items()}
        return out


@contextlib.contextmanager
def paused_gc(*, promote: bool = False) -> Iterator[None]:
    """The cyclic garbage collector held off while a snapshot is written or read: a pass makes (or walks) hundreds
    of thousands of objects and frees none, so every collection the allocations would trigger is wasted work
    (it was most of a restore's time). Its previous state is put back after.

    ``promote``: what was made meanwhile (a restored world) is long-lived — moved straight to the oldest
    generation (``gc.freeze()`` then ``gc.unfreeze()``, two list splices) instead of being walked by the young
    collection its allocations would set off at once. Skipped when something else froze objects (``rivosim
    serve`` does, and refreezes after a restore itself): unfreezing is not ours to do then."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if promote and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


_SCALARS = frozenset({str, int, bool, float})
_PLAIN = frozenset({str, bool})
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
_IDENTITY_TYPES = frozenset({list, dict, set, defaultdict, deque, random.Random})


_LEAVES = frozenset({str, int, float, bool, type(None), datetime, date, timedelta, Decimal, bytes})


def _json_scalars(values: Any) -> bool:
    """Whether every value stands for itself in JSON (strings, booleans, nulls, whole numbers within 64 bits): an
    index (email -> id) is then copied at once."""
    held = set(map(type, values))
    if not held <= _JSON_SELF:
        return False
    if int in held:
        ints = values if held == {int} else [v for v in values if type(v) is int]
        return min(ints) >= _INT_MIN and max(ints) <= _INT_MAX
    return True


_JSON_SELF = frozenset({str, bool, int, type(None)})


@functools.cache
def _slot_record(kind: type | None) -> tuple[str, ...] | None:
    """The slots of a record class whose instances hold nothing else (no ``__dict__``, not a deque), at least
    two (``attrgetter`` of one name gives no tuple); ``()`` for a list, which has none; None otherwise."""
    if kind is list:
        return ()
    if kind is None or issubclass(kind, deque) or kind.__dictoffset__ != 0:
        return None
    slots = slots_of(kind)
    return slots if len(slots) >= 2 else None


def attrs_of(value: Any) -> dict[str, Any]:
    """An object's attributes: its slots that are set, then its ``__dict__``."""
    attrs: dict[str, Any] = {}
    for attr in slots_of(type(value)):
        try:
            attrs[attr] = getattr(value, attr)
        except AttributeError:
            continue
    attrs.update(getattr(value, "__dict__", {}))
    return attrs


def _children(value: Any, kind: type, classes: dict[type, str]) -> list[Any]:
    """What ``Encoder.encode`` descends into from ``value`` (for the counting pass)."""
    if kind in (list, tuple, set, frozenset, deque):
        return list(value)
    if kind is dict or kind is types.MappingProxyType:
        return [*value.keys(), *value.values()]
    if kind is defaultdict:
        return [value.default_factory, *value.keys(), *value.values()]
    if kind is types.FunctionType:
        out: list[Any] = []
        for cell in value.__closure__ or ():
            with contextlib.suppress(ValueError):
                out.append(cell.cell_contents)
        out.extend(value.__defaults__ or ())
        out.extend((value.__kwdefaults__ or {}).values())
        return out
    if kind is types.MethodType:
        return [value.__self__]
    if kind is functools.partial:
        return [value.func, *value.args, *value.keywords.values()]
    if kind in classes:
        out = list(attrs_of(value).values())
        if isinstance(value, deque):
            out.extend(value)
        return out
    return []


def _sort_key(item: Any) -> Any:
    return (0, item) if isinstance(item, int | str) else (1, repr(item))
