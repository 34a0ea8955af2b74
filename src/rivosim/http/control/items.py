"""Control API for one item of a shop document's lists, under ``/_rivosim/shops/<domain>/…``: earning rules
(named in the path by trigger or id), rewards (by id or name), VIP tiers (by name or id) and integrations (by
name). ``GET`` the list or one item, ``POST`` one more, ``PATCH`` one (an RFC 7386 merge patch into that item
alone), ``DELETE`` one — without resending every other item of the list, as ``PATCH /_rivosim/shops/<domain>``
(lists replace) would need.

Nothing forks from the whole-document PATCH: each change is the document's list with that one item changed, sent
through ``Simulator.patch_shop``, so it is validated and applied exactly as that PATCH would be (a VIP tier change
re-evaluates every member, their tier tags and metafields; a reward change keeps redemption counts). A refusal is
the control API's ``{"error": {"code", "message", "field"}}`` (``field`` is the document path) and changes
nothing; an unknown item is a 404 naming the known ones; adding (or renaming to) an item that is already there is
a 409. The document gives an entry an ``id`` only if someone wrote one; the id shown is the one the Rivo API
uses. An item renamed here keeps its id (the document records it, so the whole-document PATCH keeps it too).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import request
from werkzeug.wrappers import Response

from rivosim.domain.config import merge_patch
from rivosim.domain.shop import Shop
from rivosim.http.errors import json_response, sim_error_response
from rivosim.http.params import read_body
from rivosim.http.routing import ApiBlueprint, Routes, current_shop, current_sim
from rivosim.kernel.errors import AlreadyExists, Conflict, NotFound, ValidationFailed

__all__ = ["LISTS", "blueprint"]

routes = Routes()
blueprint = ApiBlueprint("control_items", __name__, api="control", url_prefix="/_rivosim/shops/<domain>",
                         routes=(routes,))


def _text(value: Any) -> str:
    """A value as a comparable, hashable key: a bad one (a list for a name) still reaches the document's own
    validation, which refuses it properly."""
    return value if isinstance(value, str) else repr(value)


def _casefold(value: Any) -> str:
    return value.casefold() if isinstance(value, str) else repr(value)


@dataclass(frozen=True)
class ItemList:
    """One list of the shop document and how an item of it is named."""

    kind: str  # "earning rule": in messages
    plural: str  # "earning_rules": the route segment, the response key and the route names' middle part
    where: tuple[str, ...]  # the list's path in the document
    ids: str | None  # its key in Program.document_ids; None: its items have no id (integrations)
    param: str  # the path parameter naming one item
    named_by: Callable[[Mapping[str, Any]], str]  # what the path names an item by (besides its id), casefolded
    same: Callable[[Mapping[str, Any]], Any]  # two items with the same value are duplicates (409)
    label: Callable[[Mapping[str, Any]], str]  # an item in a 404's list of the known ones

    def entries(self, shop: Shop) -> list[dict[str, Any]]:
        node: Any = shop.config
        for part in self.where:
            node = node.get(part) or {}
        return copy.deepcopy(list(node or []))

    def item_ids(self, shop: Shop, count: int) -> list[int | None]:
        if self.ids is None:
            return [None] * count
        ids = list(shop.rivo.program.document_ids.get(self.ids, ()))
        if len(ids) != count:  # the program applies every list it is given: a mismatch is a simulator bug
            raise RuntimeError(f"{self.plural}: {count} document entries but {len(ids)} program ids")
        return ids  # type: ignore[return-value]

    def patch_of(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        patch: Any = items
        for part in reversed(self.where):
            patch = {part: patch}
        return patch  # type: ignore[no-any-return]


def _rule_key(rule: Mapping[str, Any]) -> Any:
    # As the program matches rules: one per trigger, except custom actions and URL visits (one per name / URL).
    return _text(rule.get("trigger")), _text(rule.get("custom_action_name") or rule.get("url"))


LISTS: tuple[ItemList, ...] = (
    ItemList("earning rule", "earning_rules", ("program", "earning_rules"), "earning_rules", "rule",
             named_by=lambda r: _casefold(r.get("trigger")), same=_rule_key,
             label=lambda r: str(r.get("trigger")) + "".join(f" {r[k]!r}" for k in ("custom_action_name", "url")
                                                              if r.get(k))),
    ItemList("reward", "rewards", ("program", "rewards"), "rewards", "reward",
             named_by=lambda r: _casefold(r.get("name")), same=lambda r: _casefold(r.get("name")),
             label=lambda r: repr(r.get("name"))),
    ItemList("VIP tier", "vip_tiers", ("program", "vip", "tiers"), "tiers", "tier",
             named_by=lambda t: _casefold(t.get("name")), same=lambda t: _casefold(t.get("name")),
             label=lambda t: repr(t.get("name"))),
    ItemList("integration", "integrations", ("integrations",), None, "name",
             named_by=lambda i: _casefold(i.get("name")), same=lambda i: _text(i.get("name")),
             label=lambda i: str(i.get("name"))),
)


def _shown(entry: dict[str, Any], id_: int | None) -> dict[str, Any]:
    return entry if id_ is None else {"id": id_, **{k: v for k, v in entry.items() if k != "id"}}


def _find(items: ItemList, entries: list[dict[str, Any]], ids: list[int | None], ref: str) -> int:
    """The index of the entry ``ref`` names: its id (all digits), else what the list names items by."""
    found = []
    if items.ids is not None and ref.isdigit() and len(ref) <= 18:
        found = [i for i, id_ in enumerate(ids) if id_ == int(ref)]
    if not found:
        found = [i for i, entry in enumerate(entries) if items.named_by(entry) == ref.casefold()]
    if len(found) == 1:
        return found[0]
    if not found:
        known = ", ".join(items.label(e) + (f" (id {id_})" if id_ is not None else "")
                          for e, id_ in zip(entries, ids, strict=True)) or "none"
        by = "its id or " if items.ids is not None else ""
        raise NotFound(f"no {items.kind} {ref!r} in {items.plural} (named by {by}"
                       f"{'trigger' if items.plural == 'earning_rules' else 'name'}); {items.plural}: {known}",
                       resource=items.plural[:-1])
    raise Conflict(f"{len(found)} {items.plural} are named {ref!r} (ids {', '.join(str(ids[i]) for i in found)}): "
                   f"name one by its id", field=items.param)


def _duplicate(items: ItemList, entries: list[dict[str, Any]], candidate: dict[str, Any], skip: int | None) -> None:
    key = items.same(candidate)
    for i, entry in enumerate(entries):
        if i != skip and items.same(entry) == key:
            raise AlreadyExists(f"{items.plural} already has {items.label(entry)}; change that {items.kind} "
                                f"instead (PATCH), or remove it first", field=items.plural)


def _pin(items: ItemList, entries: list[dict[str, Any]], ids: list[int | None], touched: set[int]) -> None:
    """Write the ids of the entries a change could otherwise give new ids: the program matches an entry without
    an id by its name (or trigger), so an entry renamed, or sharing its name with another, keeps its id only
    this way."""
    if items.ids is None:
        return
    counts: dict[Any, int] = {}
    for entry in entries:
        counts[items.same(entry)] = counts.get(items.same(entry), 0) + 1
    for i, entry in enumerate(entries):
        if ids[i] is not None and (i in touched or counts[items.same(entry)] > 1):
            entry["id"] = ids[i]


def _apply(domain: str, items: ItemList, entries: list[dict[str, Any]]) -> Shop:
    return current_sim().patch_shop(domain, items.patch_of(entries))


def _conflicts_are_409(view: Callable[..., Response]) -> Callable[..., Response]:
    """The control API answers a clash with an existing item (or an ambiguous name) with 409."""
    @wraps(view)
    def answer(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except Conflict as exc:
            return sim_error_response("control", exc, 409)
    return answer


def _item_body(items: ItemList) -> dict[str, Any]:
    body = read_body(request)
    if "id" in body and items.ids is None:
        raise ValidationFailed(f"an {items.kind} has no id; it is named by its name", field="id")
    return body


def _routes_for(items: ItemList) -> None:
    route, base, one = routes.route, f"/{items.plural}", f"/{items.plural}/<{items.param}>"
    name = f"control.{items.plural}"

    def located(domain: str, ref: dict[str, str]) -> tuple[list[dict[str, Any]], list[Any], int]:
        """The shop's entries, their ids, and the index of the one the path names (404 naming the known ones)."""
        shop = current_shop(domain)
        entries = items.entries(shop)
        ids = items.item_ids(shop, len(entries))
        return entries, ids, _find(items, entries, ids, ref[items.param])

    @_conflicts_are_409
    def get_one(domain: str, **ref: str) -> Response:
        entries, ids, i = located(domain, ref)
        return json_response(_shown(entries[i], ids[i]))

    @_conflicts_are_409
    def create(domain: str) -> Response:
        shop = current_shop(domain)
        body = _item_body(items)
        entries = items.entries(shop)
        ids = items.item_ids(shop, len(entries))
        _duplicate(items, entries, body, None)
        if "id" in body and body["id"] in ids:
            raise AlreadyExists(f"{items.plural} already has an item with id {body['id']}", field="id")
        _pin(items, entries, ids, set())
        shop = _apply(domain, items, [*entries, body])
        entries = items.entries(shop)
        return json_response(_shown(entries[-1], items.item_ids(shop, len(entries))[-1]), 201)

    @_conflicts_are_409
    def update(domain: str, **ref: str) -> Response:
        current_shop(domain)  # an unknown shop is a 404 before the body is read, the item after it
        body = _item_body(items)
        entries, ids, i = located(domain, ref)
        if "id" in body and body["id"] != ids[i]:
            raise ValidationFailed(f"id: an {items.kind}'s id cannot change (it is {ids[i]})", field="id")
        merged = merge_patch(entries[i], body)
        _duplicate(items, entries, merged, i)
        renamed = items.same(merged) != items.same(entries[i])
        entries[i] = merged
        _pin(items, entries, ids, {i} if renamed else set())
        shop = _apply(domain, items, entries)
        return json_response(_shown(items.entries(shop)[i], ids[i]))

    @_conflicts_are_409
    def delete(domain: str, **ref: str) -> Response:
        entries, ids, i = located(domain, ref)
        removed, removed_id = entries.pop(i), ids.pop(i)
        _pin(items, entries, ids, set())
        _apply(domain, items, entries)
        return json_response({"deleted": _shown(removed, removed_id)})

    if items.ids is not None:  # the integrations' list, one and delete are control/shopify.py's (their state)
        def list_all(domain: str) -> Response:
            shop = current_shop(domain)
            entries = items.entries(shop)
            ids = items.item_ids(shop, len(entries))
            return json_response({items.plural: [_shown(e, id_) for e, id_ in zip(entries, ids, strict=True)]})

        route(base, "GET", f"{name}.list")(list_all)
        route(one, "GET", f"{name}.get")(get_one)
        route(one, "DELETE", f"{name}.delete")(delete)
    route(base, "POST", f"{name}.create")(create)
    route(one, "PATCH", f"{name}.update")(update)


for _items in LISTS:
    _routes_for(_items)
