"""What a scenario must mean beyond its YAML: the published schema (shallow: steps, actions and the shop document
are checked one by one so errors point at the right line), durations and timeouts that parse, expressions and
templates that compile, known step and action kinds, trigger topics and earning-rule triggers, customers, orders
and workflows named before they are used, and fault rules the server would accept. Each failure is a
``LoadError`` at the line of the offending value, with a "did you mean" where one is close.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from rivosim.domain.config import schema as shop_schema
from rivosim.kernel.clock import parse_duration
from rivosim.kernel.errors import InvalidConfig
from rivosim.scenarios.schema import ACTION_KINDS, build_schema
from rivosim.scenarios.yaml_positions import LoadError, Path_, describe_path, line_of
from rivosim.workflows.expr import Expr, ExprError, compile_template

__all__ = ["NAME_RE", "Checker", "check_actions", "check_step", "check_trigger", "parse_field"]


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
        # The definition itself at the top (not a "$ref" to it): a step is checked once per step, and resolving a
        # top-level reference each time cost a third of loading a long scenario.
        schema = {**schema["$defs"][ref], "$defs": schema["$defs"]}
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


class Checker:
    """The checks shared by every part of a scenario; a problem at a path becomes a ``LoadError`` at its line."""

    def __init__(self, file: str, lines: dict[Path_, int]) -> None:
        self.file = file
        self.lines = lines

    def fail(self, path: Path_, message: str) -> LoadError:
        return LoadError(self.file, line_of(self.lines, path), f"{describe_path(path)}: {message}")

    def schema(self, value: Any, path: Path_, ref: str | None = None) -> None:
        err = _first_error(_validator(ref).iter_errors(value))
        if err is not None:
            full = (*path, *err.absolute_path)
            if err.validator == "additionalProperties" and isinstance(err.instance, dict):
                extra = sorted(set(err.instance) - set(err.schema.get("properties") or {}))
                if extra:  # point at the unknown key itself
                    raise LoadError(self.file, line_of(self.lines, (*full, extra[0])),
                                    f"{describe_path(full)}: {_message(err)}")
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


NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _known_topics() -> set[str]:
    from rivosim.domain.rivo.subscriptions import TOPICS
    from rivosim.workflows import MESA_TRIGGERS

    return set(TOPICS) | set(MESA_TRIGGERS)


def _rule_triggers() -> list[str]:
    return list(shop_schema()["$defs"]["earning_rule"]["properties"]["trigger"]["enum"])


# -- the parts of a scenario ------------------------------------------------------------------------------------
def parse_field(text: str) -> Path_:
    """``fault[0].action.ms`` (how config errors name a field) as a path: ``("fault", 0, "action", "ms")``."""
    parts: list[str | int] = []
    for piece in re.findall(r"[^.\[\]]+|\[\d+\]", text):
        parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return tuple(parts)


def check_trigger(check: Checker, trigger: Any, path: Path_) -> None:
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


def check_actions(check: Checker, actions: list[Any], path: Path_, *, nested: bool) -> None:
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
            check_actions(check, body["actions"], (*where, "actions"), nested=True)


def check_step(check: Checker, kind: str, body: Any, path: Path_, customers: set[str], orders: set[str],
                workflows: set[str]) -> None:
    if isinstance(body, dict):
        for key in ("customer", "advocate"):
            ref = body.get(key)
            if isinstance(ref, str) and NAME_RE.match(ref) and ref not in customers:
                near = difflib.get_close_matches(ref, sorted(customers), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise check.fail((*path, key), f"unknown customer {ref!r}{hint}; customers so far: "
                                                f"{', '.join(sorted(customers)) or 'none'}")
        order = body.get("order")
        if kind.startswith("order_") and kind != "order_placed" and isinstance(order, str) and \
                NAME_RE.match(order) and order not in orders:
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
        if isinstance(body, dict):
            check.duration(body.get("by"), (*path, "by"))
            if isinstance(body.get("shop"), str) and "{{" in body["shop"]:
                check.template(body["shop"], (*path, "shop"))
        else:
            check.duration(body, path)
    elif kind == "restore":
        snapshot_file = snapshot_path(check.file, body)
        if not snapshot_file.is_file():
            raise check.fail(path, f"no snapshot file {body!r} (looked for {snapshot_file})")
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
            check_actions(check, body["actions"], (*path, "actions"), nested=False)
        check_trigger(check, body.get("trigger"), (*path, "trigger"))
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


def _check_fault(check: Checker, body: dict[str, Any], path: Path_) -> None:
    """A fault rule written out in full is checked now, as the server will check it (templated rules are
    checked when the step runs)."""
    if _templated(body):
        return
    from rivosim.faults.fault_set import validate_rules

    rule = {**body, "match": {"shop": "scenario.myshopify.com", **(body.get("match") or {})}} \
        if isinstance(body.get("match", {}), dict) else body
    try:
        validate_rules([rule], where="fault")
    except InvalidConfig as exc:
        field = parse_field(exc.field or "fault")[2:]  # fault[0].action.ms -> ("action", "ms")
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


def _check_name(check: Checker, name: str, customers: set[str], path: Path_) -> None:
    if name not in customers:
        raise check.fail(path, f"unknown customer {name!r}; customers so far: {', '.join(sorted(customers)) or 'none'}")


def snapshot_path(scenario_file: str, name: str) -> Path:
    """A ``restore:`` step's file: relative paths are read next to the scenario file."""
    target = Path(name).expanduser()
    return target if target.is_absolute() else Path(scenario_file).resolve().parent / target
