"""Decoding a snapshot graph (the format is described in ``codec.py``): objects are built with ``__new__`` from
the allowlist (``registry.py``) and their attributes set, closures are rebuilt from allowlisted code with the
captured values the file gives; nothing the file names is ever called. Each dataclass field is checked against
its annotation (simple types only: int, str, float, bool, datetime, Decimal, containers, rivosim classes) so a
value of the wrong type is refused with its path."""

from __future__ import annotations

import base64
import functools
import random
import re
import types
from collections import defaultdict, deque
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from rivosim.snapshot.checks import field_checks
from rivosim.snapshot.codec import SnapshotError, paused_gc
from rivosim.snapshot.registry import registry
from rivosim.snapshot.tables import decode_table

__all__ = ["Decoder"]


def _check_str(value: Any, where: str, what: str) -> str:
    if type(value) is not str:
        raise SnapshotError(f"{what} must be a string, not {type(value).__name__}", where)
    return value


class Decoder:
    """One decoding pass. ``externals`` maps each ``$ext`` name to the live object it stands for."""

    def __init__(self, externals: dict[str, Any] | None = None) -> None:
        self.reg = registry()
        self.externals = dict(externals or {})
        self.refs: dict[int, Any] = {}
        self.roots: list[Any] = []
        self._index: dict[int, dict[str, Any]] | None = None
        self.tables: dict[int, Any] = {}  # id(table node) -> what it made (a $ref may have built it early)

    def decode_all(self, roots: dict[str, Any]) -> dict[str, Any]:
        """Decode several roots written by one ``Encoder.encode_all`` (their ``$ref``s may cross)."""
        self.roots.extend(roots.values())
        out = {}
        with paused_gc(promote=True):
            for name, node in roots.items():
                try:
                    out[name] = self.decode(node)
                except SnapshotError as exc:
                    raise exc.under(name) from exc
        return out

    def register(self, data: dict[str, Any], made: Any) -> Any:
        """``made``, known by its node's ``$id`` (when it has one) to the ``$ref``s that follow."""
        n = data.get("$id")
        if n is not None:
            self.register_id(n, made)
        return made

    def register_id(self, n: Any, made: Any) -> None:
        if type(n) is not int or n in self.refs:
            raise SnapshotError(f"$id {n!r} is not a new whole number", "")
        self.refs[n] = made

    def _lookup(self, n: Any, where: str) -> Any:
        """The object ``$ref n`` names: built already, or (in a file whose keys a tool reordered) built now from
        its ``$id`` node, wherever that is."""
        if type(n) is int and n in self.refs:
            return self.refs[n]
        if self._index is None:
            self._index = {}
            stack = list(self.roots)
            while stack:
                node = stack.pop()
                if isinstance(node, dict):
                    if type(node.get("$id")) is int:
                        self._index.setdefault(node["$id"], node)
                    if "$table" in node and isinstance(node.get("ids"), list):  # its records' own $ids
                        for row_id in node["ids"]:
                            if type(row_id) is int:
                                self._index.setdefault(row_id, node)
                    stack.extend(node.values())
                elif isinstance(node, list):
                    stack.extend(node)
        node = self._index.get(n) if type(n) is int else None
        if node is None:
            raise SnapshotError(f"$ref {n!r} points at nothing", where)
        self.decode(node, where)
        return self.refs[n]

    def decode(self, data: Any, where: str = "") -> Any:
        """A node decoded. Paths (``where``) are put together only on the way out of a refusal."""
        kind = type(data)
        if kind is str or kind is int or kind is bool or data is None or kind is float:
            return data
        if kind is list:
            if set(map(type, data)) <= _SCALAR_TYPES:
                return list(data)
            out: list[Any] = []
            try:
                for item in data:
                    out.append(self.decode(item))
            except SnapshotError as exc:
                raise exc.under(f"{where}[{len(out)}]") from exc
            return out
        if kind is not dict:
            raise SnapshotError(f"unexpected {type(data).__name__}", where)
        keys = iter(data)
        tag = next(keys, "")
        if not tag.startswith("$"):  # a plain dict (its keys never start with "$"; tags sort first)
            return self._plain(data, {}, where)
        if tag == "$id":
            n = data["$id"]
            if type(n) is int and n in self.refs:
                return self.refs[n]  # built earlier, from a $ref met before its definition
            tag = next(keys, "")
        try:
            return self._tagged(tag, data, where)
        except SnapshotError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError, InvalidOperation) as exc:
            raise SnapshotError(f"bad {tag} value ({type(exc).__name__}: {exc})", where) from exc

    def _plain(self, data: dict[str, Any], made: dict[str, Any], where: str) -> dict[str, Any]:
        if set(map(type, data.values())) <= _SCALAR_TYPES:  # an index (email -> id): copied at once
            made.update(data)
            return made
        key = ""
        try:
            for key, value in data.items():
                made[key] = self.decode(value)
        except SnapshotError as exc:
            raise exc.under(f"{where}[{key!r}]") from exc
        return made

    def _tagged(self, tag: str, data: dict[str, Any], where: str) -> Any:
        if "$id" in data and data["$id"] in self.refs and type(data["$id"]) is int:
            return self.refs[data["$id"]]
        value = data[tag]
        if tag == "$obj":
            return self._object(_check_str(value, where, "$obj"), data, where)
        if tag == "$dt":
            parsed = datetime.fromisoformat(_check_str(value, where, "$dt"))  # "+00:00" reads as UTC itself
            if "tz" in data:
                return parsed.astimezone(ZoneInfo(_check_str(data["tz"], where, "tz")))
            return parsed
        if tag == "$table":
            return decode_table(self, data, where)
        if tag == "$ref":
            return self._lookup(value, where)
        if tag == "$list":
            made_list: list[Any] = self.register(data, [])
            try:
                for item in _list(value, where):
                    made_list.append(self.decode(item))
            except SnapshotError as exc:
                raise exc.under(f"{where}[{len(made_list)}]") from exc
            return made_list
        if tag == "$dict":
            if type(value) is not dict:
                raise SnapshotError("$dict must be an object", where)
            return self._plain(value, self.register(data, {}), where)
        if tag == "$ext":
            if value not in self.externals:
                raise SnapshotError(f"unknown $ext {value!r}", where)
            return self.externals[value]
        if tag == "$map":
            result: dict[Any, Any] = self.register(data, {})
            for k, v in value:
                result[self.decode(k)] = self.decode(v)
            return result
        if tag == "$int":
            return int(_check_str(value, where, "$int"))
        if tag == "$dec":
            return Decimal(_check_str(value, where, "$dec"))
        if tag == "$tuple":
            return tuple([self.decode(v) for v in _list(value, where)])
        if tag == "$utf8":
            return _check_str(value, where, "$utf8").encode("utf-8")
        if tag == "$b64":
            return base64.b64decode(_check_str(value, where, "$b64"), validate=True)
        if tag == "$set":
            made: set[Any] = self.register(data, set())
            made.update(self.decode(v, where) for v in _list(value, where))
            return made
        if tag == "$frozenset":
            return frozenset(self.decode(v, where) for v in _list(value, where))
        if tag == "$date":
            return date.fromisoformat(_check_str(value, where, "$date"))
        if tag == "$td":
            days, seconds, micro = value
            return timedelta(days=days, seconds=seconds, microseconds=micro)
        if tag == "$float":
            if value not in ("nan", "inf", "-inf"):
                raise SnapshotError(f"$float must be nan, inf or -inf, not {value!r}", where)
            return float(value)
        if tag == "$random":
            stream = self.register(data, random.Random())
            version, internal, gauss = value
            if type(version) is not int or not isinstance(internal, list) or len(internal) != 625 \
                    or not all(type(x) is int for x in internal):
                raise SnapshotError("$random must be [version, 625 integers, gauss]", where)
            stream.setstate((version, tuple(internal), gauss))
            return stream
        if tag == "$deque":
            made_deque: deque[Any] = self.register(data, deque(maxlen=data.get("maxlen")))
            made_deque.extend(self.decode(v, where) for v in _list(value, where))
            return made_deque
        if tag == "$proxy":
            return types.MappingProxyType({k: self.decode(v, where) for k, v in value.items()})
        if tag == "$zone":
            return ZoneInfo(_check_str(value, where, "$zone"))
        if tag == "$re":
            return re.compile(_check_str(value, where, "$re"), int(data.get("flags", 0)))
        if tag == "$fn":
            return self._function(_check_str(value, where, "$fn"), data, where)
        if tag == "$method":
            owner = self.decode(value, where)
            name = _check_str(data.get("name"), where, "method name")
            if type(owner) not in self.reg.class_names and not any(owner is e for e in self.externals.values()):
                raise SnapshotError("$method of an object that is not part of a simulator's state", where)
            method = getattr(owner, name, None)
            if not isinstance(method, types.MethodType):
                raise SnapshotError(f"{type(owner).__name__} has no method {name!r}", where)
            return method
        if tag == "$partial":
            func = self.decode(value, where)
            if not callable(func):
                raise SnapshotError("$partial of something that is not a function", where)
            return functools.partial(func, *self.decode(data.get("args", []), where),
                                     **self.decode(data.get("keywords", {}), where))
        if tag == "$defaultdict":
            made_dd: defaultdict[Any, Any] = self.register(data, defaultdict())
            factory = self.decode(value, where)
            if factory is not None and not callable(factory):
                raise SnapshotError("$defaultdict needs a factory function", where)
            made_dd.default_factory = factory
            for i, (k, v) in enumerate(_list(data.get("items", []), where)):
                made_dd[self.decode(k, f"{where}[{i}]")] = self.decode(v, f"{where}[{i}]")
            return made_dd
        if tag == "$builtin":
            if value not in self.reg.builtins:
                raise SnapshotError(f"unknown $builtin {value!r}", where)
            return self.reg.builtins[value]
        if tag == "$class":
            return self.class_named(value, where)
        if tag == "$const":
            if value not in self.reg.constants:
                raise SnapshotError(f"unknown $const {value!r}", where)
            return self.reg.constants[value]
        raise SnapshotError(f"unknown tag {tag!r}", where)

    def class_named(self, name: Any, where: str) -> type:
        cls = self.reg.classes.get(name) if type(name) is str else None
        if cls is None:
            raise SnapshotError(f"{name!r} is not a class a snapshot may hold", where)
        return cls

    def _function(self, name: str, data: dict[str, Any], where: str) -> Any:
        entry = self.reg.functions.get(name)
        if entry is None:
            raise SnapshotError(f"{name!r} is not a function a snapshot may hold", where)
        code, globals_, plain = entry
        if "cells" not in data and "defaults" not in data and "kwdefaults" not in data and plain is not None:
            return plain
        cells_data = data.get("cells", [])
        if not isinstance(cells_data, list) or len(cells_data) != len(code.co_freevars):
            raise SnapshotError(f"{name} captures {len(code.co_freevars)} values", where)
        cells = tuple(types.CellType() for _ in code.co_freevars)
        fn = self.register(data, types.FunctionType(code, globals_, code.co_name, None, cells or None))
        for cell, var, item in zip(cells, code.co_freevars, cells_data, strict=True):
            if not (isinstance(item, dict) and item.get("$empty") is True):
                cell.cell_contents = self.decode(item, f"{where}<{name}.{var}>")
        if "defaults" in data:
            fn.__defaults__ = tuple(_list(self.decode(data["defaults"], where), where))
        if "kwdefaults" in data:
            fn.__kwdefaults__ = self.decode(data["kwdefaults"], where)
        fn.__qualname__ = code.co_qualname
        return fn

    def _object(self, name: str, data: dict[str, Any], where: str) -> Any:
        cls = self.class_named(name, where)
        obj = self.register(data, cls.__new__(cls))  # object.__new__ (or deque's): no __init__, no file code
        if isinstance(obj, deque):
            deque.__init__(obj, (), data.get("maxlen"))
            obj.extend(self.decode(v, where) for v in _list(data.get("items", []), where))
        attrs = data.get("attrs", {})
        if type(attrs) is not dict:
            raise SnapshotError("attrs must be an object", where)
        checks = field_checks(cls)
        attr = ""
        try:
            decode = self.decode
            for attr, raw in attrs.items():
                kind = type(raw)  # most attributes are plain JSON scalars: no call for those
                value = raw if kind is str or kind is int or kind is bool or raw is None or kind is float \
                    else decode(raw)
                if checks is not None:
                    spec = checks.get(attr)
                    if spec is not None and type(value) not in spec[0] and not (spec[1] and isinstance(value, spec[1])):
                        raise SnapshotError(f"wrong type {type(value).__name__} for {cls.__name__}.{attr}")
                try:
                    object.__setattr__(obj, attr, value)
                except (AttributeError, TypeError) as exc:
                    raise SnapshotError(f"{cls.__name__} has no attribute {attr!r}") from exc
        except SnapshotError as exc:
            raise exc.under(f"{where}.{attr}") from exc
        if checks is not None:
            missing = [f for f in checks if f not in attrs]  # the encoder writes every field: a cut file
            if missing:
                raise SnapshotError(f"{cls.__name__} lacks {', '.join(missing)}", where)
        return obj


def _list(value: Any, where: str) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise SnapshotError(f"expected a list, not {type(value).__name__}", where)
    return value


_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})  # JSON scalars: each decodes to itself
