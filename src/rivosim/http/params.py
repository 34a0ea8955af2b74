"""Request bodies (JSON or form-encoded, both accepted as the Rivo docs and integrators use them) and Rivo's
bracketed query parameters: ``pagination[...]``, ``sort[...]``, ``filters[...]`` (rivo-api.md §1.5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import ceil
from typing import Any, TypeVar
from urllib.parse import urlencode

import orjson
from flask import Request
from werkzeug.sansio.utils import get_current_url

from rivosim.http import json_body
from rivosim.kernel.errors import MalformedRequest as BadRequest
from rivosim.kernel.errors import NotFound, ValidationFailed

__all__ = ["Page", "path_id", "read_body", "read_filters", "read_page", "read_sort", "whole_number"]

T = TypeVar("T")


def raw_body(request: Request) -> bytes:
    """The request body's bytes, read once and cached on the request (``get_data(cache=True)`` returns them
    later, e.g. for the journal). With a plain ``Content-Length`` the bytes are read straight from
    ``wsgi.input``: werkzeug's stream wrapping costs more than the rest of a small write's parsing. The size
    limit was checked before the view ran."""
    cached = request.__dict__.get("_cached_data")  # what werkzeug's get_data(cache=True) keeps
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    environ = request.environ
    length = environ.get("CONTENT_LENGTH")
    if not length or not length.isdigit() or "HTTP_TRANSFER_ENCODING" in environ or len(length) > 9:
        return request.get_data(cache=True)
    size = int(length)
    raw = environ["wsgi.input"].read(size) if size else b""
    if len(raw) < size:
        raise BadRequest(f"the body ended after {len(raw)} of the {size} bytes its Content-Length announced")
    request._cached_data = raw
    return raw


def _mimetype(request: Request) -> str:
    ctype = request.environ.get("CONTENT_TYPE")
    if not ctype:
        return ""
    return ctype.partition(";")[0].strip().lower()


def read_body(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The body as a dict: JSON (any ``+json`` type, or no type with a JSON-looking body) or form fields."""
    unwrap = getattr(request, "_get_current_object", None)  # Flask's ``request`` proxy: resolve it once
    if unwrap is not None:
        request = unwrap()
    ctype = _mimetype(request)
    if ctype == "application/x-www-form-urlencoded" or ctype == "multipart/form-data":
        raw = request.get_data(cache=True)
    else:
        raw = raw_body(request)
    if not raw.strip():
        if required:
            raise BadRequest("the request body is empty; send JSON (Content-Type: application/json) or form fields")
        return {}
    if ctype == "application/x-www-form-urlencoded" or ctype == "multipart/form-data":
        return {k: (v[0] if len(v) == 1 else v) for k, v in request.form.to_dict(flat=False).items()}
    if ctype.endswith("json") or (not ctype and raw.lstrip()[:1] in (b"{", b"[")):
        try:
            body = json_body.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the body is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise BadRequest("the JSON body must be an object")
        return body
    raise BadRequest(f"unsupported Content-Type {ctype or '(none)'}; send application/json or "
                     "application/x-www-form-urlencoded")


MAX_DIGITS = 18  # ids are at most 16 digits; anything longer is nonsense, and int() refuses past 4300 digits


def whole_number(raw: str) -> int | None:
    """``raw`` as a non-negative whole number, or None. ASCII digits only: ``str.isdigit`` also accepts
    characters such as ``'²'`` that ``int()`` cannot parse."""
    text = raw.strip()
    if not text or not text.isascii() or not text.isdigit() or len(text) > MAX_DIGITS:
        return None
    return int(text)


def path_id(value: str, what: str, api: str) -> int:
    """A numeric id from a path segment (``what`` names it: ``reward id``), refused as ``api`` refuses it:

    - Rivo: anything but ASCII digits is a 422 naming the id; digits longer than any id are a 404;
    - Shopify: anything but a whole number is a resource that does not exist (404 ``Not Found``);
    - control API: anything but a whole number is a 422 naming the id.
    """
    if api == "rivo" and (not value.isascii() or not value.isdigit()):
        raise ValidationFailed(f"{what} must be a numeric id, got {value!r}", field="id")
    number = whole_number(value)
    if number is not None:
        return number
    if api == "shopify":
        raise NotFound("Not Found")
    if api == "rivo":  # digits, but longer than any id
        raise NotFound(f"{what} {value[:30]}... not found", resource=what.split(" id")[0].replace(" ", "_"))
    raise ValidationFailed(f"{what} must be numeric, got {value!r}", field="id")


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = whole_number(raw)
    if value is None:
        raise ValidationFailed(f"{name} must be a whole number from {low} to {high}, got {raw!r}", field=name)
    if not low <= value <= high:
        raise ValidationFailed(f"{name} must be from {low} to {high}, got {value}", field=name)
    return value


@dataclass(slots=True)
class Page:
    """One page of a collection plus Rivo's ``links`` block (offset or cursor form)."""

    items: list[Any]
    links: dict[str, Any]


def read_page(request: Request, items: Sequence[T], id_of: Callable[[T], int], *,
              ids_sorted: bool = True) -> Page:
    """Offset mode (``pagination[page]`` ≤ 500, ``per_page`` default 25, max 250) or cursor mode
    (``pagination[since_id]`` + ``pagination[limit]``), exactly as /reference/pagination documents them.
    ``items`` is already filtered and sorted; in cursor mode it is re-ordered by id."""
    args = request.args
    known = {"pagination[page]", "pagination[per_page]", "pagination[since_id]", "pagination[limit]"}
    for key in args:
        if key.startswith("pagination[") and key not in known:
            raise ValidationFailed(f"unknown pagination parameter {key}; accepted: {', '.join(sorted(known))}",
                                   field=key)
    since_raw = args.get("pagination[since_id]")
    # A per_page next to since_id falls back to offset mode (CONFIRMED).
    if since_raw not in (None, "") and "pagination[per_page]" not in args:
        since = whole_number(since_raw)
        if since is None:
            raise ValidationFailed(f"pagination[since_id] must be a whole number, got {since_raw!r}",
                                   field="pagination[since_id]")
        limit = _int_param(request, "pagination[limit]", 25, 1, 250)
        ordered = items if ids_sorted else sorted(items, key=id_of)
        start = _first_after(ordered, since, id_of)
        page = list(ordered[start:start + limit + 1])
        more = len(page) > limit
        page = page[:limit]
        return Page(page, {"since_id": since, "limit": limit,
                           "next_since_id": id_of(page[-1]) if more and page else None})
    page_no = _int_param(request, "pagination[page]", 1, 1, 500)
    per_page = _int_param(request, "pagination[per_page]", 25, 1, 250)
    total = len(items)
    last = max(1, ceil(total / per_page))
    start = (page_no - 1) * per_page
    chunk = list(items[start:start + per_page])
    url = _page_url(request, per_page)
    return Page(chunk, {"self": url(page_no), "next": url(page_no + 1) if page_no < min(last, 500) else None,
                        "last": url(min(last, 500))})


def _first_after(items: Sequence[T], since: int, id_of: Callable[[T], int]) -> int:
    lo, hi = 0, len(items)
    while lo < hi:
        mid = (lo + hi) // 2
        if id_of(items[mid]) <= since:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _page_url(request: Request, per_page: int) -> Callable[[int], str]:
    """The URL of a page: this request's URL with its other parameters kept (encoded once per request) and the
    offset pagination parameters replaced."""
    args = urlencode([(k, v) for k, v in request.args.items(multi=True) if not k.startswith("pagination[")])
    host = _host_url(request.scheme, request.host).rstrip("/")
    base = f"{host}{request.path}?{args}{'&' if args else ''}pagination%5Bpage%5D="
    tail = f"&pagination%5Bper_page%5D={per_page}"
    return lambda page: f"{base}{page}{tail}"


@lru_cache(maxsize=256)
def _host_url(scheme: str, host: str) -> str:
    """``request.host_url`` (werkzeug's IRI form of ``scheme://host/``), worked out once per host: it costs as
    much as the rest of a page's links."""
    return get_current_url(scheme, host)


def read_sort(request: Request, allowed: Sequence[str]) -> tuple[str | None, bool]:
    """``sort[order_type]`` (one of ``allowed``) and ``sort[order_direction]`` (asc/desc); ignored in cursor mode."""
    field = request.args.get("sort[order_type]")
    direction = (request.args.get("sort[order_direction]") or "asc").lower()
    if direction not in ("asc", "desc"):
        raise ValidationFailed("sort[order_direction] must be asc or desc", field="sort[order_direction]")
    if field in (None, ""):
        return None, direction == "desc"
    if field not in allowed:
        raise ValidationFailed(f"sort[order_type] must be one of {', '.join(allowed)}", field="sort[order_type]")
    if request.args.get("pagination[since_id]") not in (None, "") and "pagination[per_page]" not in request.args:
        return None, False
    return field, direction == "desc"


def read_filters(request: Request, allowed: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in request.args.items():
        if key.startswith("filters[") and key.endswith("]"):
            name = key[len("filters["):-1]
            if name not in allowed:
                raise ValidationFailed(f"unknown filter {key}; accepted: "
                                       f"{', '.join(f'filters[{a}]' for a in allowed) or 'none'}", field=key)
            out[name] = value
        elif key.startswith("filter"):
            raise ValidationFailed(f"unknown parameter {key}; filters look like filters[customer_identifier]=…",
                                   field=key)
    return out
