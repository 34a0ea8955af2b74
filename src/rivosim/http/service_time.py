"""The pipeline's service-time stage: after a Rivo or Shopify view answered, the shop's service-time model
(:mod:`rivosim.faults.service_time`) turns the work the request did into latency, added to whatever latency
faults drew. The journal shows it (``latency_ms`` and a note); the transports carry it out like a latency
fault's (a real wait in server mode, simulated time in-process, a timeout for a client that gives up sooner).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Response

from rivosim.faults.fault_set import WRITE_METHODS, Decision
from rivosim.faults.service_time import count_items, service_seconds

if TYPE_CHECKING:
    from rivosim.http.state import RequestState

__all__ = ["charge"]


def charge(state: RequestState, response: object) -> None:
    """Add the service time of the view's ``response`` to the request's latency (when the shop models it)."""
    shop = state.shop
    if shop is None or state.api == "control" or not isinstance(response, Response):
        return
    settings = shop.settings.service_time
    if not settings.enabled:
        return
    write = state.request is not None and state.request.method in WRITE_METHODS
    items = count_items(response.get_data(), write=write)
    seconds = service_seconds(settings, write=write, items=items)
    if seconds <= 0:
        return
    decision = state.decision
    if decision is None:
        decision = state.decision = Decision()  # no rule fired: the journal names no fault, only the latency
    decision.latency += seconds
    per_item = settings.write_item_ms if write else settings.read_item_ms
    state.note(f"service time {seconds * 1000:g} ms: {settings.base_ms:g} ms + {items} "
               f"{'written' if write else 'read'} x {per_item:g} ms")
