"""Read-after-write lag (a ``read_after_write_lag`` fault rule): after a write, reads of that customer show the
state from before it until the rule's seconds pass — the seed's "points may take a few minutes to reflect". The
HTTP side that takes the copies and filters reads is ``rivosim.http.lag``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["LagEntry", "ReadLag"]


@dataclass(slots=True)
class LagEntry:
    """One lagged write: until ``until``, reads of the customer show ``member`` (a copy taken before the write)
    and hide ledger records whose id is above the ``watermarks`` of that moment."""

    until: datetime
    member: Any
    watermarks: dict[str, int | None]


class ReadLag:
    """Lagged writes by shop and customer id. Reads show the state before the oldest write still in its window
    (its copy is the state after every earlier, already visible, write)."""

    def __init__(self) -> None:
        self._shops: dict[str, dict[int, list[LagEntry]]] = {}

    def __bool__(self) -> bool:
        return bool(self._shops)

    def add(self, shop: str, customer_id: int, entry: LagEntry) -> None:
        self._shops.setdefault(shop, {}).setdefault(customer_id, []).append(entry)

    def view(self, shop: str, now: datetime) -> dict[int, LagEntry] | None:
        """Customer id -> the entry reads must show now, or None when nothing of ``shop`` lags."""
        by_customer = self._shops.get(shop)
        if not by_customer:
            return None
        out: dict[int, LagEntry] = {}
        for cid in list(by_customer):
            live = [e for e in by_customer[cid] if e.until > now]
            if live:
                by_customer[cid] = live
                out[cid] = live[0]
            else:
                del by_customer[cid]
        if not by_customer:
            del self._shops[shop]
        return out or None

    def export_state(self, shop: str) -> dict[str, Any]:
        """One shop's share, for its snapshot: its lagged writes."""
        return {"lag": self._shops.get(shop)}

    def import_state(self, shop: str, state: dict[str, Any]) -> None:
        if state.get("lag"):
            self._shops[shop] = state["lag"]

    def forget(self, shop: str | None = None) -> None:
        if shop is None:
            self._shops.clear()
        else:
            self._shops.pop(shop, None)
