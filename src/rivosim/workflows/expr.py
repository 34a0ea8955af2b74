"""The small expression language of scenarios and workflows: filters (``points_diff > 0``), references
(``$customers.alice.id``) and templates (``"Hi {{ customer.first_name }}"``).

Expressions are Python syntax restricted to a safe subset (names, dotted paths, indexing, literals, comparisons,
``and``/``or``/``not``, arithmetic, ``x if c else y`` and a fixed set of functions); they are parsed once at load
time, so a typo is a load error with file:line, and evaluated against a scope of plain JSON values. Paths are
null-safe: a missing field is ``None`` (as a workflow tool's filter treats an absent field), never a crash.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from rivosim.kernel.clock import parse_duration, parse_instant

__all__ = ["Expr", "ExprError", "Scope", "compile_template", "expressions_in", "parse", "render"]


class ExprError(ValueError):
    """An expression that cannot be parsed or evaluated; the message says which and why."""


_TEMPLATE_RE = re.compile(r"\{\{(.*?)\}\}", re.S)
# ``$root.path`` references (type-preserving when they are the whole string). Only roots the scope defines
# are references, so "$5 off coupon" stays text.
_REF_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+|\[-?\d+\])*)")
_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.BinOp,
            ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.FloorDiv, ast.Compare, ast.Eq, ast.NotEq, ast.Lt,
            ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot, ast.Name, ast.Load, ast.Attribute,
            ast.Subscript, ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.Call, ast.IfExp, ast.keyword)
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Mod: operator.mod, ast.FloorDiv: operator.floordiv}
_CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.In: lambda a, b: b is not None and a in b,
    ast.NotIn: lambda a, b: b is None or a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not}


class Scope:
    """Names visible to expressions, plus the simulator's ``now`` (for ``now()``, ``days_since`` …)."""

    def __init__(self, values: Mapping[str, Any], now: Callable[[], datetime]) -> None:
        self.values = values
        self.now = now

    def child(self, **values: Any) -> Scope:
        return Scope({**self.values, **values}, self.now)


# -- functions ----------------------------------------------------------------------------------------------
def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return parse_instant(value)
        except ValueError as exc:
            raise ExprError(f"{value!r} is not a date-time") from exc
    raise ExprError(f"{value!r} is not a date-time")


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else None


def _functions(scope: Scope) -> dict[str, Callable[..., Any]]:
    def days_since(value: Any) -> float:
        when = _as_datetime(value)
        # Never happened = infinitely long ago: "no order for 90 days" holds for someone who never ordered.
        return float("inf") if when is None else (scope.now() - when).total_seconds() / 86400

    def where(items: Any, condition: str) -> list[Any]:
        expr = parse(condition)
        return [item for item in items or ()
                if expr.test(Scope({**scope.values, **(item if isinstance(item, Mapping) else {}), "item": item},
                                   scope.now))]

    def latest(items: Any, name: str) -> Any:
        values = [v for v in (_field(i, name) for i in items or ()) if v is not None]
        return max(values) if values else None

    def next_date(mmdd: str) -> datetime:
        """The next midnight (UTC) falling on ``MM-DD`` after now."""
        now = scope.now()
        month, day = int(mmdd[:2]), int(mmdd[3:])
        for year in (now.year, now.year + 1, now.year + 2):
            try:
                when = datetime(year, month, day, tzinfo=UTC)
            except ValueError:  # 29 February in a common year
                continue
            if when > now:
                return when
        raise ExprError(f"no date {mmdd!r} in the next two years")

    return {
        "len": lambda x: 0 if x is None else len(x),
        "lower": lambda s: None if s is None else str(s).lower(),
        "upper": lambda s: None if s is None else str(s).upper(),
        "str": str, "int": int, "float": float, "round": round, "abs": abs, "bool": bool,
        "min": lambda *a: min(*a) if len(a) > 1 else min(a[0]),
        "max": lambda *a: max(*a) if len(a) > 1 else max(a[0]),
        "sum": lambda items: sum(items or ()),
        "now": scope.now,
        "after": lambda d: parse_duration(d).after(scope.now()),
        "before": lambda d: scope.now() - timedelta(seconds=parse_duration(d).seconds),
        "plus": lambda t, d: parse_duration(d).after(_as_datetime(t)),  # type: ignore[arg-type]
        "minus": lambda t, d: _as_datetime(t) - timedelta(seconds=parse_duration(d).seconds),  # type: ignore[operator]
        "days_since": days_since,
        "mmdd": lambda v: _as_datetime(v).strftime("%m-%d"),  # type: ignore[union-attr]
        "date": lambda v: _as_datetime(v).date().isoformat(),  # type: ignore[union-attr]
        "strftime": lambda v, fmt: _as_datetime(v).strftime(fmt),  # type: ignore[union-attr]
        "month": lambda v: _as_datetime(v).month,  # type: ignore[union-attr]
        "next_date": next_date,
        "where": where,
        "pluck": lambda items, name: [_field(i, name) for i in items or ()],
        "first": lambda items: next(iter(items), None) if items else None,
        "last": lambda items: list(items)[-1] if items else None,
        "latest": latest,
        "has_tag": lambda tags, tag: any(str(t).casefold() == str(tag).casefold() for t in tags or ()),
        "join": lambda items, sep=", ": sep.join(str(i) for i in items or ()),
    }


FUNCTION_NAMES = frozenset(_functions(Scope({}, lambda: datetime.now(UTC))))


class Expr:
    """One parsed expression. ``Expr("points_diff > 0").test(scope)``."""

    __slots__ = ("_tree", "source")

    def __init__(self, source: str) -> None:
        self.source = source.strip()
        try:
            tree = ast.parse(self.source, mode="eval")
        except SyntaxError as exc:
            raise ExprError(f"cannot parse expression {self.source!r}: {exc.msg}") from exc
        for node in ast.walk(tree):
            if not isinstance(node, _ALLOWED):
                raise ExprError(f"{type(node).__name__} is not allowed in expression {self.source!r}")
            if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTION_NAMES):
                name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise ExprError(f"unknown function {name}() in {self.source!r}; known: "
                                f"{', '.join(sorted(FUNCTION_NAMES))}")
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                raise ExprError(f"private name {node.attr} in {self.source!r}")
        self._tree = tree

    def __repr__(self) -> str:
        return f"Expr({self.source!r})"

    def evaluate(self, scope: Scope) -> Any:
        try:
            return _eval(self._tree.body, scope, _functions(scope))
        except ExprError:
            raise
        except Exception as exc:  # a type error between values, a bad date: say which expression
            raise ExprError(f"{self.source!r}: {type(exc).__name__}: {exc}") from exc

    def test(self, scope: Scope) -> bool:
        return bool(self.evaluate(scope))


@lru_cache(maxsize=4096)
def parse(source: str) -> Expr:
    """A parsed expression, cached by its text (templates are evaluated many times)."""
    return Expr(source)


def _eval(node: ast.AST, scope: Scope, funcs: dict[str, Callable[..., Any]]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[node.id]
        return scope.values.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _eval(node.value, scope, funcs)
        return base.get(node.attr) if isinstance(base, Mapping) else None
    if isinstance(node, ast.Subscript):
        base = _eval(node.value, scope, funcs)
        key = _eval(node.slice, scope, funcs)
        if isinstance(base, Mapping):
            return base.get(key)
        if isinstance(base, list | tuple | str) and isinstance(key, int):
            return base[key] if -len(base) <= key < len(base) else None
        return None
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for value in node.values:
                result = _eval(value, scope, funcs)
                if not result:
                    return result
            return result
        result = False
        for value in node.values:
            result = _eval(value, scope, funcs)
            if result:
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, scope, funcs)
        if isinstance(node.op, ast.Not):
            return not operand
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](_eval(node.left, scope, funcs), _eval(node.right, scope, funcs))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, scope, funcs)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, scope, funcs)
            if not isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn | ast.Is | ast.IsNot) and (
                    left is None or right is None):
                return False  # null-safe ordering: an absent field is never greater or less than anything
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _eval(node.test, scope, funcs) else node.orelse, scope, funcs)
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, scope, funcs) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {_eval(k, scope, funcs): _eval(v, scope, funcs) for k, v in zip(node.keys, node.values, strict=True)
                if k is not None}
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        args = [_eval(a, scope, funcs) for a in node.args]
        kwargs = {k.arg: _eval(k.value, scope, funcs) for k in node.keywords if k.arg}
        return funcs[node.func.id](*args, **kwargs)
    raise ExprError(f"unsupported expression element {type(node).__name__}")  # pragma: no cover


# -- templates ----------------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _plain(value: Any) -> Any:
    """Datetimes become the wire's timestamp text so rendered values are JSON."""
    return _text(value) if isinstance(value, datetime) else value


def expressions_in(text: str) -> list[str]:
    """Every ``{{ … }}`` expression in ``text`` (for load-time checking)."""
    return [m.group(1) for m in _TEMPLATE_RE.finditer(text)]


def compile_template(text: str) -> None:
    """Raise :class:`ExprError` if any ``{{ … }}`` in ``text`` does not parse."""
    for source in expressions_in(text):
        Expr(source)
    if text.count("{{") != text.count("}}"):
        raise ExprError(f"unbalanced {{{{ }}}} in {text!r}")


def _render_text(text: str, scope: Scope) -> Any:
    whole = _TEMPLATE_RE.fullmatch(text)
    if whole and text.count("{{") == 1:
        return _plain(parse(whole.group(1)).evaluate(scope))
    ref = _REF_RE.fullmatch(text)
    if ref and ref.group(1).split(".")[0].split("[")[0] in scope.values:
        return _plain(parse(ref.group(1)).evaluate(scope))
    out = _TEMPLATE_RE.sub(lambda m: _text(parse(m.group(1)).evaluate(scope)), text)

    def ref_sub(m: re.Match[str]) -> str:
        root = m.group(1).split(".")[0].split("[")[0]
        return _text(parse(m.group(1)).evaluate(scope)) if root in scope.values else m.group(0)

    return _REF_RE.sub(ref_sub, out) if "$" in out else out


def render(value: Any, scope: Scope) -> Any:
    """``value`` with every template and reference in its strings evaluated (dicts and lists recursively)."""
    if isinstance(value, str):
        if "{{" not in value and "$" not in value:
            return value
        return _render_text(value, scope)
    if isinstance(value, dict):
        return {k: render(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    return value
