"""Loading scenario files: YAML with line numbers (``yaml_positions``), checked against the published schema and
then for meaning (``validation``: durations that parse, expressions that compile, names defined before use, known
topics), into a ``Scenario`` of ``Step``s. Every error names ``file:line`` and says what is wrong and, where it
can, what was meant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rivosim.engine import validate_shop_document as validate_config
from rivosim.kernel.errors import InvalidConfig
from rivosim.scenarios.schema import STEP_KINDS
from rivosim.scenarios.validation import NAME_RE, Checker, check_actions, check_step, check_trigger, parse_field
from rivosim.scenarios.yaml_positions import LoadError, Path_, compose, line_of

__all__ = ["LoadError", "Scenario", "Step", "load_paths", "load_scenario", "load_text"]


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


# -- the scenario -------------------------------------------------------------------------------------------------
def load_text(text: str, file: str = "<scenario>") -> Scenario:
    data, lines = compose(text, file)
    check = Checker(file, lines)
    if not isinstance(data, dict):
        raise check.fail((), "a scenario is a mapping with at least `name` and `steps`")
    check.schema(data, ())
    shop = dict(data.get("shop") or {})
    try:
        validate_config({k: v for k, v in shop.items() if k != "customers"})
    except InvalidConfig as exc:
        where = ("shop", *parse_field(exc.field or ""))
        raise LoadError(file, line_of(lines, where), f"shop.{exc.message}") from exc
    check.template(data, ())
    customers = dict(data.get("customers") or {})
    for name, body in customers.items():
        if not NAME_RE.match(name):
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
        check_trigger(check, wf.get("trigger"), (*path, "trigger"))
        schedule = wf.get("schedule")
        if schedule is not None:
            if len(schedule) != 1:
                raise check.fail((*path, "schedule"), "give exactly one of `every` (a duration) or `yearly` (MM-DD)")
            if "every" in schedule:
                check.duration(schedule["every"], (*path, "schedule", "every"))
        if "filters" in wf:
            check.expression(wf["filters"], (*path, "filters"))
        check_actions(check, wf["actions"], (*path, "actions"), nested=False)

    defined = set(customers)
    orders: set[str] = set()
    steps: list[Step] = []
    for i, raw in enumerate(data["steps"]):
        path = ("steps", i)
        kind, body = check.one_key(raw, path, STEP_KINDS, "step")
        check.schema(body, (*path, kind), f"step_{kind}")
        check_step(check, kind, body, (*path, kind), defined, orders, names)
        steps.append(Step(i, kind, body, line_of(lines, path)))

    return Scenario(
        path=file, name=data["name"], steps=steps, description=data.get("description", ""),
        covers=data.get("covers", ""), tags=list(data.get("tags") or []), seed=data.get("seed"), shop=shop,
        customers=customers, workflow_client=dict(data.get("workflow_client") or {}), workflows=workflows,
        workflow_lines=[line_of(lines, ("workflows", i)) for i in range(len(workflows))],
        line=line_of(lines, ("name",)),
    )


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
