"""Inputs of Shopify's Admin REST API: the ``{"<root>": {...}}`` body, path ids, list parameters (``ids``,
``since_id``, dates, ``fields``) and cursor pagination with the ``Link`` header and ``page_info``
(shopify-api.md §1.6, §1.7). A bad value is a 400 naming the parameter, before anything is looked up.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson
from flask import request
from werkzeug.wrappers import Response

from rivosim.http import json_body
from rivosim.http.errors import json_response
from rivosim.http.params import path_id, whole_number
from rivosim.http.state import current_req
from rivosim.kernel.errors import MalformedRequest, ValidationFailed

__all__ = [
    "PageRequest",
    "boolean",
    "choice_param",
    "fields_param",
    "id_path",
    "ids_param",
    "int_param",
    "only",
    "paged",
    "read_json",
    "read_page_request",
    "time_window",
]

T = TypeVar("T")
PAGINATION_DOC = "See https://shopify.dev/api/usage/pagination-rest for more information."


# -- inputs ---------------------------------------------------------------------------------------------------
def read_json(root: str, *, required: bool = True) -> dict[str, Any]:
    """The object under ``root`` in the JSON body (``{"customer": {...}}``); anything else is the 400
    ``{"errors": {"customer": "Required parameter missing or invalid"}}`` (shopify-api.md §1.6)."""
    raw = request.get_data(cache=True)
    missing = MalformedRequest("Required parameter missing or invalid", field=root)
    if not raw.strip():
        if required:
            raise missing
        return {}
    try:
        body = json_body.loads(raw)
    except orjson.JSONDecodeError as exc:
        current_req().note(f"the body is not valid JSON: {exc}")
        raise missing from exc
    inner = body.get(root) if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        if not required and isinstance(body, dict) and root not in body:
            return {}
        current_req().note(f'the body must be {{"{root}": {{...}}}}')
        raise missing
    return inner


def id_path(value: str) -> int:
    """A numeric id from the path; anything else is a resource that does not exist."""
    return path_id(value, "id", "shopify")


def _bad_param(name: str, message: str) -> MalformedRequest:
    return MalformedRequest(message, field=name)


def int_param(args: dict[str, str], name: str) -> int | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    number = whole_number(raw)
    if number is None:
        raise _bad_param(name, f"{name} must be a whole number")
    return number


def time_param(args: dict[str, str], name: str, tz: str) -> datetime | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    try:
        # An unencoded "+05:00" offset arrives as " 05:00" (a query string's "+" is a space).
        text = re.sub(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$", r"\1+\2", raw.strip())
        text = text.replace("Z", "+00:00")
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _bad_param(name, f"{name} must be an ISO-8601 date and time, e.g. 2024-01-02T09:20:49-05:00") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo(tz))


def ids_param(args: dict[str, str], name: str = "ids") -> set[int] | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    out: set[int] = set()
    for piece in raw.split(","):
        number = whole_number(piece)
        if number is None:
            raise _bad_param(name, f"{name} must be a comma-separated list of ids")
        out.add(number)
    if len(out) > 250:
        raise _bad_param(name, f"{name} can list at most 250 ids")
    return out


def choice_param(args: dict[str, str], name: str, choices: Sequence[str], default: str) -> str:
    value = args.get(name) or default
    if value not in choices:
        raise _bad_param(name, f"{name} must be one of {', '.join(choices)}")
    return value


def fields_param() -> list[str] | None:
    raw = request.args.get("fields")
    if raw is None or not raw.strip():
        return None
    return [f.strip() for f in raw.split(",") if f.strip()]


def only(obj: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    return obj if fields is None else {k: v for k, v in obj.items() if k in fields}


def time_window(args: dict[str, str], prefix: str, tz: str) -> Callable[[datetime], bool]:
    """A test for ``<prefix>_min``/``<prefix>_max``, parsed (and refused if bad) before any item is looked at."""
    low = time_param(args, f"{prefix}_min", tz)
    high = time_param(args, f"{prefix}_max", tz)
    if low is None and high is None:
        return lambda value: True
    return lambda value: (low is None or value >= low) and (high is None or value <= high)


# -- cursor pagination ----------------------------------------------------------------------------------------
@dataclass(slots=True)
class PageRequest:
    """``limit`` plus either the filters of a first request or the ones a ``page_info`` cursor carries."""

    filters: dict[str, str]
    limit: int
    direction: str | None = None  # next | previous
    anchor: int | None = None  # the id the cursor continues from

    def page(self, items: list[T], id_of: Callable[[T], int]) -> tuple[list[T], str | None]:
        """This page of ``items`` (ascending ids) and the ``Link`` header, or None when it all fits."""
        if self.direction == "previous" and self.anchor is not None:
            before = [i for i in items if id_of(i) < self.anchor]
            chunk = before[-self.limit:]
            has_prev = len(before) > self.limit
            has_next = len(items) > len(before)
        elif self.direction == "next" and self.anchor is not None:
            after = [i for i in items if id_of(i) > self.anchor]
            chunk = after[:self.limit]
            has_prev = len(items) > len(after)
            has_next = len(after) > self.limit
        else:
            chunk = items[:self.limit]
            has_prev = False
            has_next = len(items) > self.limit
        links = []
        if has_prev and chunk:
            links.append(f'<{self._url("previous", id_of(chunk[0]))}>; rel="previous"')
        if has_next and chunk:
            links.append(f'<{self._url("next", id_of(chunk[-1]))}>; rel="next"')
        return chunk, ", ".join(links) or None

    def _url(self, direction: str, anchor: int) -> str:
        cursor = {"r": request.endpoint, "d": direction, "a": anchor, "f": self.filters}
        token = base64.urlsafe_b64encode(orjson.dumps(cursor)).decode().rstrip("=")
        query = {"limit": str(self.limit), "page_info": token}
        if request.args.get("fields"):
            query["fields"] = request.args["fields"]
        # The page URL keeps the host the client used (the simulator's, or <shop>.myshopify.com when proxied).
        return f"{request.base_url}?{urlencode(query)}"


def read_page_request(filters: Sequence[str]) -> PageRequest:
    """``limit`` (default 50, at most 250) and the named filters, or a ``page_info`` cursor — which may come
    only with ``limit`` and ``fields`` (else the 400 of shopify-api.md §1.6)."""
    args = request.args
    raw_limit = args.get("limit")
    limit = 50
    if raw_limit not in (None, ""):
        number = whole_number(raw_limit)
        if number is None or number < 1:
            raise _bad_param("limit", "limit must be a whole number from 1 to 250")
        limit = min(number, 250)  # Shopify caps larger values at 250 (INFERRED)
    if "page" in args:
        raise _bad_param("page", "page cannot be passed: this endpoint uses cursor-based pagination. "
                                 + PAGINATION_DOC)
    token = args.get("page_info")
    if token is None:
        return PageRequest({k: args[k] for k in filters if args.get(k) not in (None, "")}, limit)
    for name in args:
        if name not in ("page_info", "limit", "fields"):
            raise _bad_param(name, f"{name} cannot be passed when page_info is present. {PAGINATION_DOC}")
    try:
        cursor = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        ok = (isinstance(cursor, dict) and cursor.get("r") == request.endpoint
              and cursor.get("d") in ("next", "previous") and isinstance(cursor.get("a"), int)
              and isinstance(cursor.get("f"), dict))
    except (ValueError, orjson.JSONDecodeError):
        ok = False
    if not ok:
        raise _bad_param("page_info", "Invalid value.")
    return PageRequest({str(k): str(v) for k, v in cursor["f"].items()}, limit, cursor["d"], cursor["a"])


def paged(root: str, items: list[T], id_of: Callable[[T], int], to_json: Callable[[T], dict[str, Any]],
          page: PageRequest) -> Response:
    chunk, link = page.page(items, id_of)
    fields = fields_param()
    response = json_response({root: [only(to_json(i), fields) for i in chunk]})
    if link:
        response.headers["Link"] = link
    return response


def boolean(body: dict[str, Any], name: str, default: bool | None = None) -> bool | None:
    value = body.get(name, default)
    if value is not None and not isinstance(value, bool):
        raise ValidationFailed(f"{name} must be true or false", field=name)
    return value
