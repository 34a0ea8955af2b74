"""What every Rivo view shares: the request's shop, what lags for it, and the ``{"data": ...}`` envelopes of one
object and of a page of a collection (rivo-api.md §1.3, §1.5)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from werkzeug.wrappers import Response

from rivosim.domain.shop import Shop
from rivosim.faults.read_lag import LagEntry
from rivosim.http.errors import dumps, json_response
from rivosim.http.lean_flask import LeanResponse
from rivosim.http.params import Page, read_page, read_sort
from rivosim.http.state import current_req
from rivosim.wire import rivo as wire

__all__ = ["PREFIX", "encoded_page", "lag_view", "many", "one", "request_shop"]

PREFIX = "/merchant_api/v1"


def request_shop() -> Shop:
    """The shop the API key named (the gate found it)."""
    return current_req().shop  # type: ignore[return-value]


def lag_view(shop: Shop) -> dict[int, LagEntry] | None:
    """What lags for this shop now (read-after-write lag), or None: the usual case costs one truth test."""
    state = current_req()
    lag = state.sim.lag
    return lag.view(shop.domain, state.at) if lag else None


def one(type_: str, id_: Any, attributes: dict[str, Any], status: int = 200) -> Response:
    return json_response({"data": wire.envelope(type_, id_, attributes)}, status)


def many(type_: str, items: Sequence[Any], id_of: Callable[[Any], int], to_attrs: Callable[[Any], dict[str, Any]],
         *, sort_fields: Sequence[str] = ("id", "created_at"), sort_key: Callable[[Any, str], Any] | None = None,
         ids_sorted: bool = True, encoded: Callable[[Any], bytes] | None = None) -> Response:
    """A collection response. ``ids_sorted`` says whether ``items`` come in ascending id order (cursor mode
    relies on it; pass False when the natural order is something else). ``encoded``, when given, makes an item's
    whole envelope as JSON bytes (a cache of them: ``shapes.py``) instead of ``to_attrs`` making its attributes."""
    if encoded is not None:
        body = encoded_page(items, id_of, encoded, sort_fields=sort_fields, sort_key=sort_key, ids_sorted=ids_sorted)
        return LeanResponse(body, status=200, content_type="application/json")
    page = _page(items, id_of, sort_fields, sort_key, ids_sorted)
    data = [wire.envelope(type_, id_of(obj), to_attrs(obj)) for obj in page.items]
    return json_response({"links": page.links, "data": data})


def encoded_page(items: Sequence[Any], id_of: Callable[[Any], int], encoded: Callable[[Any], bytes], *,
                 sort_fields: Sequence[str] = ("id", "created_at"), sort_key: Callable[[Any, str], Any] | None = None,
                 ids_sorted: bool = True) -> bytes:
    """The body :func:`many` answers when each item's envelope comes encoded: the same bytes ``json_response``
    would make of the whole document."""
    page = _page(items, id_of, sort_fields, sort_key, ids_sorted)
    return b"".join((b'{"links":', dumps(page.links), b',"data":[', b",".join(map(encoded, page.items)), b"]}"))


def _page(items: Sequence[Any], id_of: Callable[[Any], int], sort_fields: Sequence[str],
          sort_key: Callable[[Any, str], Any] | None, ids_sorted: bool) -> Page:
    request = current_req().request  # the request itself, not Flask's proxy: a page reads it many times
    assert request is not None
    field, desc = read_sort(request, sort_fields)
    if field is not None:
        key = sort_key or (lambda obj, f: getattr(obj, f))
        items = sorted(items, key=lambda obj: (_sortable(key(obj, field)), id_of(obj)), reverse=desc)
    elif desc:
        items = list(reversed(items))
    return read_page(request, items, id_of, ids_sorted=ids_sorted and field is None and not desc)


def _sortable(value: Any) -> Any:
    if value is None:
        return (0, "")
    if isinstance(value, datetime):
        return (1, value.timestamp())
    return (1, value)
