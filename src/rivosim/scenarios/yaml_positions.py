"""YAML with positions: a scenario file composed into plain values (mappings, lists, scalars; dates kept as
text) together with the line each path starts on, and ``LoadError``, the ``file:line: message`` error every
part of loading raises. Duplicate keys are refused here, where the YAML nodes still know their lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import yaml

__all__ = ["LoadError", "Path_", "compose", "describe_path", "line_of"]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path_ = tuple[str | int, ...]


class LoadError(Exception):
    """A scenario file that cannot be used. ``str()`` is ``file:line: message``."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        super().__init__(f"{file}:{line or 1}: {message}")
        self.file, self.line, self.message = file, line or 1, message


def compose(text: str, file: str) -> tuple[Any, dict[Path_, int]]:
    """The document as plain values, and the line each path (``("steps", 3, "advance")``) starts on."""
    # libyaml when PyYAML has it (much faster on big generated scenarios); both give nodes with line marks. A
    # document it refuses is parsed again in Python, whose messages are the more specific ("found character '\t'
    # that cannot start any token"): the same words on every machine, and errors are rare enough not to matter.
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError:
        loader.dispose()
        loader = yaml.SafeLoader(text)
        node = _python_parse(loader, file)
    lines: dict[Path_, int] = {}
    try:
        if node is None:
            return None, lines
        return _build(loader, node, (), lines, file), lines
    finally:
        loader.dispose()


def _python_parse(loader: yaml.SafeLoader, file: str) -> Any:
    try:
        return loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise LoadError(file, mark.line + 1 if mark else 1, f"not valid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise LoadError(file, 1, f"not valid YAML: {exc}") from exc


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, lines: dict[Path_, int], file: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # merge keys (<<: *anchor)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            if not isinstance(key, str):
                key = str(key).lower() if isinstance(key, bool) else str(key)
            if key in out:
                raise LoadError(file, key_node.start_mark.line + 1, f"{describe_path((*path, key))}: duplicate key "
                                f"{key!r} (the first is on line {lines[(*path, key)]})")
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _build(loader, value_node, (*path, key), lines, file)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), lines, file) for i, item in enumerate(node.value)]
    value = loader.construct_object(node)
    if isinstance(value, datetime | date):
        return value.isoformat()  # JSON has no dates: keep YAML's 2026-01-01 as text
    return value


def describe_path(path: Iterable[str | int]) -> str:
    """``steps[3].advance``: a path as the error messages write it."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def line_of(lines: dict[Path_, int], path: Path_) -> int:
    """The line of ``path``, else of its nearest ancestor that has one (a schema error can name a missing key)."""
    path = tuple(path)
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)
