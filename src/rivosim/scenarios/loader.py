"""Loading scenario files: YAML with line numbers, checked against the published schema and then for meaning
(durations that parse, expressions that compile, names defined before use, known topics). Every error names
``file:line`` and says what is wrong and, where it can, what was meant.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ..clock import parse_duration
from ..config import schema as shop_schema
from ..config import validate_config
from ..errors import InvalidConfig
from .expr import Expr, ExprError, compile_template
from .schema import ACTION_KINDS, STEP_KINDS, build_schema

__all__ = ["LoadError", "Scenario", "Step", "load_paths", "load_scenario", "load_text"]

Path_ = tuple[str | int, ...]


class LoadError(Exception):
    """A scenario file that cannot be used. ``str()`` is ``file:line: message``."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        super().__init__(f"{file}:{line or 1}: {message}")
        self.file, self.line, self.message = file, line or 1, message


@dataclass(slots=True)
class Step:
    index: int
    kind: str
    body: Any
    line: int

    def describe(self) -> str:
        if isinstance(self.body, str | int | float):
            return f"{self.kind}: {self.body}"
        return self.kind


@dataclass(slots=True)
class Scenario:
    path: str
    name: str
    steps: list[Step]
    description: str = ""
    covers: str = ""
    tags: list[str] = field(default_factory=list)
    seed: int | None = None
    shop: dict[str, Any] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    workflow_client: dict[str, Any] = field(default_factory=dict)
    workflows: list[dict[str, Any]] = field(default_factory=list)
    workflow_lines: list[int] = field(default_factory=list)
    line: int = 1

    @property
    def domain(self) -> str:
        return str(self.shop.get("domain") or f"{self.name}.myshopify.com")


# -- YAML with positions ----------------------------------------------------------------------------------------
def _compose(text: str, file: str) -> tuple[Any, dict[Path_, int]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise LoadError(file, mark.line + 1 if mark else 1, f"not valid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise LoadError(file, 1, f"not valid YAML: {exc}") from exc
    lines: dict[Path_, int] = {}
    try:
        if node is None:
            return None, lines
        return _build(loader, node, (), lines, file), lines
    finally:
        loader.dispose()


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
                raise LoadError(file, key_node.start_mark.line + 1, f"{_where((*path, key))}: duplicate key "
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


def _where(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def _line(lines: dict[Path_, int], path: Path_) -> int:
    path = tuple(path)
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


# -- schema checks ----------------------------------------------------------------------------------------------
def _shallow_schema() -> dict[str, Any]:
    """The published schema with steps, actions and the shop document left to the detailed checks."""
    schema = copy.deepcopy(build_schema())
    one_key = {"type": "object", "minProperties": 1}
    schema["$defs"]["step"] = one_key
    schema["$defs"]["action"] = one_key
    schema["properties"]["shop"] = {"type": "object"}
    return schema


@cache
def _validator(ref: str | None = None) -> Draft202012Validator:
    schema = _shallow_schema()
    if ref is not None:
        schema = {"$ref": f"#/$defs/{ref}", "$defs": schema["$defs"]}
    return Draft202012Validator(schema)


def _first_error(errors: Iterable[ValidationError]) -> ValidationError | None:
    ordered = sorted(errors, key=lambda e: (-len(e.absolute_path), str(list(e.absolute_path))))
    if not ordered:
        return None
    err = ordered[0]
    if err.validator == "oneOf" and err.context:
        deeper = sorted(err.context, key=lambda e: (-len(e.absolute_path), e.message))
        return deeper[0]
    return err


def _message(err: ValidationError) -> str:
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = sorted((err.schema.get("properties") or {}).keys())
        extra = sorted(set(err.instance) - set(allowed))
        if extra:
            near = difflib.get_close_matches(extra[0], allowed, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            return f"unknown field {extra[0]!r}{hint}; allowed: {', '.join(allowed)}"
    return err.message


class _Checker:
    def __init__(self, file: str, lines: dict[Path_, int]) -> None:
        self.file = file
        self.lines = lines

    def fail(self, path: Path_, message: str) -> LoadError:
        return LoadError(self.file, _line(self.lines, path), f"{_where(path)}: {message}")

    def schema(self, value: Any, path: Path_, ref: str | None = None) -> None:
        err = _first_error(_validator(ref).iter_errors(value))
        if err is not None:
            full = (*path, *err.absolute_path)
            if err.validator == "additionalProperties" and isinstance(err.instance, dict):
                extra = sorted(set(err.instance) - set(err.schema.get("properties") or {}))
                if extra:  # point at the unknown key itself
                    raise LoadError(self.file, _line(self.lines, (*full, extra[0])),
                                    f"{_where(full)}: {_message(err)}")
            raise self.fail(full, _message(err))

    def one_key(self, value: Any, path: Path_, kinds: tuple[str, ...], what: str) -> tuple[str, Any]:
        if not isinstance(value, dict) or len(value) != 1:
            got = f"keys {', '.join(map(repr, value))}" if isinstance(value, dict) else repr(value)
            raise self.fail(path, f"a {what} is a mapping with exactly one key (its kind), got {got}")
        kind, body = next(iter(value.items()))
        if kind not in kinds:
            near = difflib.get_close_matches(kind, kinds, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise self.fail((*path, kind), f"unknown {what} {kind!r}; {hint}known: {', '.join(kinds)}")
        return kind, body

    def duration(self, value: Any, path: Path_) -> None:
        if isinstance(value, str) and ("{{" in value or "$" in value):
            self.template(value, path)
            return
        try:
            parse_duration(value)
        except ValueError as exc:
            raise self.fail(path, str(exc)) from exc

    def timeout(self, value: Any, path: Path_) -> None:
        """A per-call timeout: a duration of more than 0 s without months or years (PT2S, 1.5)."""
        self.duration(value, path)
        if isinstance(value, str) and ("{{" in value or "$" in value):
            return
        parsed = parse_duration(value)
        if parsed.months or parsed.seconds <= 0:
            raise self.fail(path, f"a timeout is a duration of more than 0 seconds (PT2S, 1.5), got {value!r}")

    def expression(self, source: Any, path: Path_) -> None:
        for item in source if isinstance(source, list) else [source]:
            try:
                Expr(str(item))
            except ExprError as exc:
                raise self.fail(path, str(exc)) from exc

    def template(self, value: Any, path: Path_) -> None:
        """Every ``{{ … }}`` in every string below ``value`` must compile."""
        if isinstance(value, str):
            if "{{" in value or "}}" in value:
                try:
                    compile_template(value)
                except ExprError as exc:
                    raise self.fail(path, str(exc)) from exc
        elif isinstance(value, dict):
            for key, item in value.items():
                self.template(item, (*path, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.template(item, (*path, i))


_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _known_topics() -> set[str]:
    from ..domain.rivo.subscriptions import TOPICS
    from ..workflows import MESA_TRIGGERS

    return set(TOPICS) | set(MESA_TRIGGERS)


def _rule_triggers() -> list[str]:
    return list(shop_schema()["$defs"]["earning_rule"]["properties"]["trigger"]["enum"])


# -- the scenario -------------------------------------------------------------------------------------------------
def load_text(text: str, file: str = "<scenario>") -> Scenario:
    data, lines = _compose(text, file)
    check = _Checker(file, lines)
    if not isinstance(data, dict):
        raise check.fail((), "a scenario is a mapping with at least `name` and `steps`")
    check.schema(data, ())
    shop = dict(data.get("shop") or {})
    try:
        validate_config({k: v for k, v in shop.items() if k != "customers"})
    except InvalidConfig as exc:
        where = ("shop", *_parse_field(exc.field or ""))
        raise LoadError(file, _line(lines, where), f"shop.{exc.message}") from exc
    check.template(data, ())
    customers = dict(data.get("customers") or {})
    for name, body in customers.items():
        if not _NAME_RE.match(name):
            raise check.fail(("customers", name), f"customer names are identifiers (letters, digits, _), got {name!r}")
        if "visibility_delay" in body:
            check.duration(body["visibility_delay"], ("customers", name, "visibility_delay"))

    client_options = data.get("workflow_client") or {}
    if "timeout" in client_options:
        check.timeout(client_options["timeout"], ("workflow_client", "timeout"))
    workflows = list(data.get("workflows") or [])
    names: set[str] = set()
    for i, wf in enumerate(workflows):
        path: Path_ = ("workflows", i)
        if wf["name"] in names:
            raise check.fail((*path, "name"), f"duplicate workflow name {wf['name']!r}")
        names.add(wf["name"])
        if ("trigger" in wf) == ("schedule" in wf):
            raise check.fail(path, "a workflow has either a `trigger` (a topic) or a `schedule`, not both or neither")
        _check_trigger(check, wf.get("trigger"), (*path, "trigger"))
        schedule = wf.get("schedule")
        if schedule is not None:
            if len(schedule) != 1:
                raise check.fail((*path, "schedule"), "give exactly one of `every` (a duration) or `yearly` (MM-DD)")
            if "every" in schedule:
                check.duration(schedule["every"], (*path, "schedule", "every"))
        if "filters" in wf:
            check.expression(wf["filters"], (*path, "filters"))
        _check_actions(check, wf["actions"], (*path, "actions"), nested=False)

    defined = set(customers)
    orders: set[str] = set()
    steps: list[Step] = []
    for i, raw in enumerate(data["steps"]):
        path = ("steps", i)
        kind, body = check.one_key(raw, path, STEP_KINDS, "step")
        check.schema(body, (*path, kind), f"step_{kind}")
        _check_step(check, kind, body, (*path, kind), defined, orders, names)
        steps.append(Step(i, kind, body, _line(lines, path)))

    return Scenario(
        path=file, name=data["name"], steps=steps, description=data.get("description", ""),
        covers=data.get("covers", ""), tags=list(data.get("tags") or []), seed=data.get("seed"), shop=shop,
        customers=customers, workflow_client=dict(data.get("workflow_client") or {}), workflows=workflows,
        workflow_lines=[_line(lines, ("workflows", i)) for i in range(len(workflows))], line=_line(lines, ("name",)),
    )


def _parse_field(text: str) -> Path_:
    parts: list[str | int] = []
    for piece in re.findall(r"[^.\[\]]+|\[\d+\]", text):
        parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return tuple(parts)


def _check_trigger(check: _Checker, trigger: Any, path: Path_) -> None:
    if trigger is None:
        return
    known = _known_topics()
    for i, topic in enumerate([trigger] if isinstance(trigger, str) else trigger):
        if topic not in known:
            near = difflib.get_close_matches(topic, sorted(known), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            where = path if isinstance(trigger, str) else (*path, i)
            raise check.fail(where, f"unknown trigger {topic!r}{hint}; a webhook topic such as points_event/created "
                                    "or a MESA trigger name such as 'Loyalty Points Earned'")


def _check_actions(check: _Checker, actions: list[Any], path: Path_, *, nested: bool) -> None:
    for i, raw in enumerate(actions):
        kind, body = check.one_key(raw, (*path, i), ACTION_KINDS, "workflow action")
        where = (*path, i, kind)
        check.schema(body, where, f"action_{kind}")
        if isinstance(body, dict) and "timeout" in body:
            check.timeout(body["timeout"], (*where, "timeout"))
        if kind == "delay":
            if nested:
                raise check.fail(where, "a delay cannot sit inside for_each; give the loop `pace:` to space its "
                                        "items out, or delay before the loop")
            check.duration(body, where)
        elif kind == "filter":
            check.expression(body, where)
        elif kind == "for_each":
            if "pace" in body:
                check.duration(body["pace"], (*where, "pace"))
            _check_actions(check, body["actions"], (*where, "actions"), nested=True)


def _check_step(check: _Checker, kind: str, body: Any, path: Path_, customers: set[str], orders: set[str],
                workflows: set[str]) -> None:
    if isinstance(body, dict):
        for key in ("customer", "advocate"):
            ref = body.get(key)
            if isinstance(ref, str) and _NAME_RE.match(ref) and ref not in customers:
                near = difflib.get_close_matches(ref, sorted(customers), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise check.fail((*path, key), f"unknown customer {ref!r}{hint}; customers so far: "
                                                f"{', '.join(sorted(customers)) or 'none'}")
        order = body.get("order")
        if kind.startswith("order_") and kind != "order_placed" and isinstance(order, str) and \
                _NAME_RE.match(order) and order not in orders:
            raise check.fail((*path, "order"), f"unknown order {order!r}; orders so far: "
                                                f"{', '.join(sorted(orders)) or 'none'} (name one with `as:`)")
    if kind == "customer_created":
        if body["as"] in customers:
            raise check.fail((*path, "as"), f"customer {body['as']!r} already exists")
        customers.add(body["as"])
        if "visibility_delay" in body:
            check.duration(body["visibility_delay"], (*path, "visibility_delay"))
    elif kind == "order_placed":
        if "amount" not in body and "line_items" not in body:
            raise check.fail(path, "give `amount` (one line item) or `line_items`")
        if "as" in body:
            orders.add(body["as"])
    elif kind == "advance":
        check.duration(body, path)
    elif kind == "http" and "timeout" in body:
        check.timeout(body["timeout"], (*path, "timeout"))
    elif kind == "fault" and not body.get("clear"):
        _check_fault(check, body, path)
    elif kind in ("enable_rule", "disable_rule"):
        triggers = _rule_triggers()
        if body["trigger"] not in triggers:
            near = difflib.get_close_matches(body["trigger"], triggers, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise check.fail((*path, "trigger"), f"unknown earning-rule trigger {body['trigger']!r}{hint}")
    elif kind == "workflow_update":
        if body["name"] not in workflows:
            raise check.fail((*path, "name"), f"no workflow named {body['name']!r}; workflows: "
                                               f"{', '.join(sorted(workflows)) or 'none'}")
        if "filters" in body:
            check.expression(body["filters"], (*path, "filters"))
        if "actions" in body:
            _check_actions(check, body["actions"], (*path, "actions"), nested=False)
        _check_trigger(check, body.get("trigger"), (*path, "trigger"))
    elif kind == "expect":
        for name in (body.get("customers") or {}):
            _check_name(check, name, customers, (*path, "customers", name))
        for i, want in enumerate(body.get("workflow_latency") or []):
            where = (*path, "workflow_latency", i)
            if want["workflow"] not in workflows:
                raise check.fail((*where, "workflow"), f"no workflow named {want['workflow']!r}; workflows: "
                                                       f"{', '.join(sorted(workflows)) or 'none'}")
            for key in ("min", "max"):
                if key in want:
                    check.duration(want[key], (*where, key))
        for name in (body.get("ledger") or {}):
            _check_name(check, name, customers, (*path, "ledger", name))


def _check_fault(check: _Checker, body: dict[str, Any], path: Path_) -> None:
    """A fault rule written out in full is checked now, as the server will check it (templated rules are
    checked when the step runs)."""
    if _templated(body):
        return
    from ..faults import validate_rules

    rule = {**body, "match": {"shop": "scenario.myshopify.com", **(body.get("match") or {})}} \
        if isinstance(body.get("match", {}), dict) else body
    try:
        validate_rules([rule], where="fault")
    except InvalidConfig as exc:
        field = _parse_field(exc.field or "fault")[2:]  # fault[0].action.ms -> ("action", "ms")
        message = exc.message.split(": ", 1)[1] if ": " in exc.message else exc.message
        raise check.fail((*path, *field), message) from exc


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or value.startswith("$")
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    return False


def _check_name(check: _Checker, name: str, customers: set[str], path: Path_) -> None:
    if name not in customers:
        raise check.fail(path, f"unknown customer {name!r}; customers so far: {', '.join(sorted(customers)) or 'none'}")


def load_scenario(path: str | Path) -> Scenario:
    file = str(path)
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise LoadError(file, 1, f"cannot read: {exc.strerror or exc}") from exc
    return load_text(text, file)


def load_paths(paths: Iterable[str | Path]) -> tuple[list[Scenario], list[LoadError]]:
    """Every scenario under ``paths`` (files, or directories of ``*.yaml``/``*.yml``), sorted by file name
    within a directory; load errors are collected, not raised, so all of them can be reported at once."""
    scenarios: list[Scenario] = []
    errors: list[LoadError] = []
    seen: dict[str, str] = {}
    for raw in paths:
        path = Path(raw)
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
        if path.is_dir() and not files:
            errors.append(LoadError(str(path), 1, "no *.yaml scenarios in this directory"))
        for file in files:
            try:
                scenario = load_scenario(file)
            except LoadError as exc:
                errors.append(exc)
                continue
            if scenario.name in seen:
                errors.append(LoadError(str(file), scenario.line, f"name: scenario {scenario.name!r} is also defined "
                                                                  f"in {seen[scenario.name]}"))
                continue
            seen[scenario.name] = str(file)
            scenarios.append(scenario)
    return scenarios, errors
