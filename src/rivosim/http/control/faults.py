"""Fault rules through the control API (README "Faults"): ``GET/POST/DELETE /_rivosim/faults`` and
``GET/DELETE /_rivosim/faults/<id>``. A rule here is the same data as in a ``--config`` file or ``sim.faults.add``.
"""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.wrappers import Response

from rivosim.http.errors import json_response
from rivosim.http.params import read_body
from rivosim.http.routing import ApiBlueprint, Routes, current_sim
from rivosim.kernel.errors import NotFound, ValidationFailed

__all__ = ["blueprint"]

routes = Routes()
route = routes.route
blueprint = ApiBlueprint("control_faults", __name__, api="control", url_prefix="/_rivosim",
                         routes=(routes,))

_sim = current_sim


@route("/faults", "GET", "control.faults.list")
def faults_list() -> Response:
    """Every rule in force, in the order they apply (first terminal rule wins), with its counters."""
    shop = request.args.get("shop")
    rules = _sim().faults.list()
    if shop:
        rules = [r for r in rules if r.match.get("shop") == shop]
    return json_response({"faults": [r.to_dict() for r in rules]})


@route("/faults", "POST", "control.faults.create")
def faults_create() -> Response:
    """One rule (``{"match", "action", ...}``) → 201 with the rule; ``{"faults": [...]}`` → 201 with all of them,
    all or nothing. A bad rule is a 422 naming the field (``fault.action.ms``, ``faults[2].match.api``)."""
    body = read_body(request)
    faults = _sim().faults
    if "faults" in body:
        if set(body) != {"faults"}:
            raise ValidationFailed('send one rule, or {"faults": [rules]} and nothing else', field="faults")
        rules = faults.add_all(body["faults"] if isinstance(body["faults"], list) else _not_a_list())
        return json_response({"faults": [r.to_dict() for r in rules]}, 201)
    rule = faults.add(body, where="fault")
    return json_response(rule.to_dict(), 201)


def _not_a_list() -> Any:
    raise ValidationFailed("faults must be a list of fault rules", field="faults")


@route("/faults", "DELETE", "control.faults.clear")
def faults_clear() -> Response:
    """Remove every rule (``?shop=`` only that shop's); the journal keeps what they did."""
    removed = _sim().faults.clear(shop=request.args.get("shop") or None)
    return json_response({"deleted": removed})


@route("/faults/<rule_id>", "GET", "control.faults.get")
def faults_get(rule_id: str) -> Response:
    return json_response(_find(rule_id).to_dict())


@route("/faults/<rule_id>", "DELETE", "control.faults.delete")
def faults_delete(rule_id: str) -> Response:
    _find(rule_id)
    return json_response(_sim().faults.remove(rule_id).to_dict())


def _find(rule_id: str) -> Any:
    faults = _sim().faults
    try:
        return next(r for r in faults.list() if r.id == rule_id)
    except StopIteration:
        known = ", ".join(r.id for r in faults.rules[:10]) or "none"
        raise NotFound(f"no fault rule {rule_id!r}; rules: {known}", resource="fault") from None
