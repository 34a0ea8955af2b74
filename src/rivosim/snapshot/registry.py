"""The allowlist a snapshot may name: rivosim's own classes and functions (the state layers: kernel, domain,
wire, faults, webhooks, snapshot and the engine), a few standard-library types, and nothing else.

A snapshot names a class as ``"module:Qualname"`` and a function as ``"module:qualname"`` (``#k`` when one
function holds several lambdas): restoring looks the name up *here* and refuses any other, so a file can never
make rivosim import a module, call a constructor or run code it chose — it only supplies data for objects and
closures of code rivosim already has. Nothing is ever eval'd, unpickled or unmarshalled.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import types
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Registry", "registry"]

# The layers whose objects make up a simulator's state (``http`` and above hold none: they serve it).
STATE_PACKAGES = ("rivosim.kernel", "rivosim.domain", "rivosim.wire", "rivosim.faults", "rivosim.webhooks",
                  "rivosim.snapshot")
STATE_MODULES = ("rivosim.engine",)

# Library callables state may hold (a trigger log reads a delivered payload back with ``orjson.loads``).
_LIBRARY_CALLABLES = ("orjson:loads", "json:loads", "builtins:list", "builtins:dict", "builtins:set",
                      "builtins:int")


@dataclass
class Registry:
    classes: dict[str, type] = field(default_factory=dict)
    class_names: dict[type, str] = field(default_factory=dict)
    # name -> (code, globals, module-level function or None)
    functions: dict[str, tuple[types.CodeType, dict[str, Any], Any]] = field(default_factory=dict)
    code_names: dict[types.CodeType, str] = field(default_factory=dict)
    builtins: dict[str, Any] = field(default_factory=dict)
    builtin_names: dict[int, str] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    constant_names: dict[int, str] = field(default_factory=dict)
    scanned: set[str] = field(default_factory=set)

    def scan(self) -> None:
        """Import every state module (a fresh process restoring a closure must know its code) and index it."""
        for package in STATE_PACKAGES:
            root = importlib.import_module(package)
            for info in pkgutil.walk_packages(root.__path__, package + "."):
                importlib.import_module(info.name)
        names = [name for name in list(sys.modules)
                 if name in STATE_MODULES or name in STATE_PACKAGES
                 or name.startswith(tuple(p + "." for p in STATE_PACKAGES))]
        for name in sorted(names):
            if name not in self.scanned and sys.modules.get(name) is not None:
                self._index_module(sys.modules[name])
        for spec in _LIBRARY_CALLABLES:
            module_name, _, attr = spec.partition(":")
            try:
                value = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError):
                continue
            self.builtins[spec] = value
            self.builtin_names[id(value)] = spec

    def _index_module(self, module: types.ModuleType) -> None:
        self.scanned.add(module.__name__)
        globals_ = vars(module)
        for attr, value in list(globals_.items()):
            if isinstance(value, type) and value.__module__ == module.__name__:
                self._index_class(value, module)
            elif isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
                self._index_code(value.__code__, globals_, module.__name__, value)
            elif type(value) is object:  # a sentinel (``_UNPARSED = object()``): named, never rebuilt
                name = f"{module.__name__}:{attr}"
                self.constants[name] = value
                self.constant_names[id(value)] = name

    def _index_class(self, cls: type, module: types.ModuleType) -> None:
        name = f"{module.__name__}:{cls.__qualname__}"
        if name in self.classes:
            return
        self.classes[name] = cls
        self.class_names[cls] = name
        for member in vars(cls).values():
            func = member.__func__ if isinstance(member, staticmethod | classmethod) else member
            if isinstance(func, property):
                for part in (func.fget, func.fset):
                    if isinstance(part, types.FunctionType):
                        self._index_code(part.__code__, vars(module), module.__name__, None)
            elif isinstance(func, types.FunctionType) and func.__module__ == module.__name__:
                self._index_code(func.__code__, vars(module), module.__name__, None)
            elif isinstance(func, type) and func.__module__ == module.__name__:
                self._index_class(func, module)

    def _index_code(self, code: types.CodeType, globals_: dict[str, Any], module: str, func: Any) -> None:
        if code in self.code_names:
            return
        base = f"{module}:{code.co_qualname}"
        name, k = base, 1
        while name in self.functions:  # several lambdas in one function share a qualname
            k += 1
            name = f"{base}#{k}"
        self.functions[name] = (code, globals_, func)
        self.code_names[code] = name
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self._index_code(const, globals_, module, None)


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The process's allowlist, built once (importing the state layers) on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        built = Registry()
        built.scan()
        _REGISTRY = built
    return _REGISTRY
