"""Copy-on-reset: an object graph kept as one pickle and rebuilt, a fresh and independent copy, as often as needed.

A shop's freshly seeded state is a graph of plain objects (members, orders, timers, random streams), closures that
capture the shop, bound methods, and references out to the simulator's shared services. ``pickle.loads`` rebuilds
such a graph in C, an order of magnitude faster than seeding it again, and than ``copy.deepcopy`` (which walks it
in Python); identity and cycles inside the graph are kept, as pickle's memo keeps them.

What must *not* be copied is named up front (``externals``: the simulator, its services, the shared sequence
counter); code objects, module namespaces and bare ``object()`` sentinels are kept by identity too, so closures
and lambdas (which pickle cannot carry by name) are rebuilt from their code, their module's globals and copies
of their cells. All of these are put in pickle's memo before dumping and before loading: the copy refers to the
very same objects, and loading makes no Python-level call for them.
"""

from __future__ import annotations

import copy
import gc
import io
import pickle
import struct
import sys
import types
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

__all__ = ["GraphTemplate", "TemplateShelf"]

T = TypeVar("T")


class GraphTemplate:
    """``GraphTemplate(root, externals)`` keeps ``root``; ``build()`` returns a new deep copy of it each time, whose
    references to ``externals`` (and to code, module globals and sentinels) are the originals.

    Raises ``pickle.PicklingError`` / ``TypeError`` when the graph holds something that cannot be copied this
    way (a lock, a generator, a class defined inside a function): the caller then does without a template."""

    def __init__(self, root: Any, externals: Sequence[Any]) -> None:
        self.externals = list(externals)
        # Pass 1 finds the code objects, module globals and sentinels the graph's functions refer to. Pass 2
        # pickles with every shared object already in the memo (protocol 3: memo slots are numbered explicitly),
        # behind a prologue that puts them into the loader's memo at those numbers, one persistent id each.
        finder = _Finder(io.BytesIO(), self.externals)
        finder.dump(root)
        self._shared = [*self.externals, *finder.found]
        buffer = io.BytesIO()
        pickler = _Pickler(buffer, protocol=3)
        pickler.memo = {id(obj): (index, obj) for index, obj in enumerate(self._shared)}
        pickler.dump(root)
        body = buffer.getvalue()
        assert body[:2] == b"\x80\x03"
        prologue = b"".join(b"J" + struct.pack("<i", i) + b"Q" + b"r" + struct.pack("<I", i) + b"0"
                            for i in range(len(self._shared)))
        self.data = body[:2] + prologue + body[2:]

    @property
    def size(self) -> int:
        """Bytes the template keeps (its pickle)."""
        return len(self.data)

    def build(self) -> Any:
        unpickler = _Unpickler(io.BytesIO(self.data))
        unpickler.persistent_load = self._shared.__getitem__  # a C call per shared object, once each
        # Loading makes only live objects: the cyclic collector, woken every 700 of them, would find nothing.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return unpickler.load()
        finally:
            if collecting:
                gc.enable()


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is types.FunctionType:
            named: Any = sys.modules.get(obj.__module__)
            for part in obj.__qualname__.split("."):
                named = getattr(named, part, None)
            if named is obj:  # a module-level function or a method: pickled by its name
                return NotImplemented
            slots = {name: value for name in ("__kwdefaults__", "__dict__") if (value := getattr(obj, name))}
            return (_function, (obj.__code__, obj.__globals__, obj.__name__, obj.__defaults__, obj.__closure__),
                    (None, slots) if slots else None)
        if kind is types.CellType:
            # An empty cell is made (and memoised) first and filled after (BUILD's slot state is a setattr), so a
            # closure that reaches itself through its own cell (a shop's lambdas capture the shop) closes the
            # cycle instead of recursing.
            try:
                return (_cell, (), (None, {"cell_contents": obj.cell_contents}))
            except ValueError:  # an empty cell (a name assigned after the closure was made)
                return (_cell, ())
        if kind is types.MappingProxyType:
            return (_proxy, (dict(obj),))
        return NotImplemented


class _Finder(_Pickler):
    """The first pass: collects what the real pass keeps by identity (and refers to it by a dummy id)."""

    def __init__(self, file: io.BytesIO, externals: list[Any]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._externals = {id(obj) for obj in externals}
        self.found: list[Any] = []
        self._found: set[int] = set()

    def persistent_id(self, obj: Any) -> Any:
        key = id(obj)
        if key in self._externals:
            return 0
        kind = type(obj)
        if kind in _IMMUTABLE or kind is object or (kind is dict and "__builtins__" in obj and "__name__" in obj):
            if key not in self._found:
                self._found.add(key)
                self.found.append(obj)
            return 0
        return None


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        # Cached: the default looks the module up through the import system each time (~50 µs).
        found = _CLASSES.get((module, name))
        if found is None:
            found = _CLASSES[module, name] = _BUILT_IN[name] if module == __name__ else super().find_class(module, name)
        return found


_CLASSES: dict[tuple[str, str], Any] = {}
# Kept by identity rather than copied: code, and values nothing can change (sharing them is safe, and cheaper to
# load than making them again: a Decimal is parsed from its text, a datetime from its bytes).
_IMMUTABLE = frozenset({types.CodeType, bytes, Decimal, datetime, date, timedelta})


# Pickle names what rebuilds an object, and the built-in types of functions, cells and proxies have no importable
# name: these stand-ins give them one, and loading swaps the real types back in.
def _function(code: types.CodeType, globals_: dict[str, Any], name: str, defaults: tuple[Any, ...] | None,
              closure: tuple[types.CellType, ...] | None) -> types.FunctionType:
    return types.FunctionType(code, globals_, name, defaults, closure)


def _cell() -> types.CellType:
    return types.CellType()


def _proxy(mapping: dict[Any, Any]) -> types.MappingProxyType[Any, Any]:
    return types.MappingProxyType(mapping)


_BUILT_IN: dict[str, Any] = {"_function": types.FunctionType, "_cell": types.CellType, "_proxy": types.MappingProxyType}


class TemplateShelf:
    """Templates by name (a shop's domain), each valid for one key (what its state is a function of) and only
    while its externals are the very objects given now; a graph that cannot be copied is remembered as such."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[Any, GraphTemplate | None]] = {}

    def build(self, name: str, key: Any, externals: Sequence[Any]) -> Any | None:
        """A fresh copy of the template kept under ``name`` for ``key``, or None."""
        kept = self._kept.get(name)
        if kept is None or kept[1] is None or kept[0] != key or len(kept[1].externals) != len(externals) \
                or any(a is not b for a, b in zip(kept[1].externals, externals, strict=True)):
            return None
        return kept[1].build()

    def keep(self, name: str, key: Any, root: Any, externals: Sequence[Any]) -> None:
        try:
            template: GraphTemplate | None = GraphTemplate(root, externals)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
            template = None  # something the copy cannot carry: that graph is made anew each time
        self._kept[name] = (copy.deepcopy(key), template)

    def copy_or_make(self, name: str, key: Any, externals: Sequence[Any], *, place: Callable[[Any], T],
                     make: Callable[[], T], keep: Callable[[T], Any]) -> T:
        """``place`` a copy of the template kept for ``key``; else ``make`` the thing anew and keep what ``keep``
        says of it (its graph; None: nothing) as the template for ``key``."""
        copied = self.build(name, key, externals)
        if copied is not None:
            return place(copied)
        made = make()
        root = keep(made)
        if root is not None:
            self.keep(name, key, root, externals)
        return made

    def drop(self, name: str) -> None:
        self._kept.pop(name, None)

    def size(self) -> int:
        """Bytes held by every template on the shelf."""
        return sum(t.size for _, t in self._kept.values() if t is not None)
