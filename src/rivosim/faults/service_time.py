"""Service time: how long an API takes to answer, from the work the request did, so timeouts come from the model
instead of a fault placed on one route.

A request costs ``base_ms``, plus ``read_item_ms`` for every item a read returns (the rows of a list page), plus
``write_item_ms`` for every item a write changes (each event of ``POST /points_events/batch``, each line item of
an order, one for a single create/update/delete), at most ``max_ms``. The shop document's ``service_time`` section
holds the figures (off by default; the default figures are inferred: neither Rivo nor Shopify publishes any).
So a client with a 1 s timeout meets a timeout on a four-event batch (50 + 4 x 250 = 1050 ms) and none on the
four single grants that replace it (300 ms each): the seed's "break complex workflows into smaller steps".

The cost is deterministic (no draw): the pipeline adds it to the request's latency after the view, and latency
is simulated time in-process and a real wait in server mode, as a latency fault's is.
"""

from __future__ import annotations

from typing import Any

import orjson

from rivosim.domain.settings import ServiceTimeSettings

__all__ = ["count_items", "service_seconds"]


def service_seconds(settings: ServiceTimeSettings, *, write: bool, items: int) -> float:
    """Seconds one request takes: the base, plus each item read or written, capped at ``max_ms``."""
    per_item = settings.write_item_ms if write else settings.read_item_ms
    return min(settings.base_ms + per_item * items, settings.max_ms) / 1000.0


def count_items(body: bytes, *, write: bool) -> int:
    """How many items an answer carries: the rows of a list (Rivo's ``{"data": [...]}``, Shopify's
    ``{"customers": [...]}``), an order's line items when a write made or changed one, else 1 (one object)."""
    try:
        doc: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return 1
    if not isinstance(doc, dict):
        return 1
    value = doc["data"] if "data" in doc else (next(iter(doc.values())) if len(doc) == 1 else None)
    if isinstance(value, list):
        return len(value)
    if write and isinstance(value, dict):
        lines = value.get("line_items")
        if isinstance(lines, list) and lines:
            return len(lines)
    return 1
