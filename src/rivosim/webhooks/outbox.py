"""The outbox: every webhook delivery, its attempts, and its retries scheduled on the simulator clock.

A delivery keeps one webhook id across all attempts (receivers de-duplicate on it). A failing delivery never
holds back later ones: each is retried on its own schedule, so a receiver that recovers may see deliveries out
of order, as on the real platforms. After the last attempt a delivery is ``failed``; ``redeliver`` tries again.

The log is bounded by ``cap``: a new delivery evicts the oldest *finished* one (O(1): finished ids wait in
finishing order); when every stored delivery is still pending, the new one is refused — status ``dropped``,
counted in ``dropped`` (per shop in ``dropped_by_shop``), never stored or sent. A dead receiver can therefore
neither grow the log nor slow the request path.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rivosim.kernel.clock import Clock
from rivosim.webhooks.self_target import delivery_refusal
from rivosim.webhooks.senders import AttemptResult, BlockingSender, OutgoingRequest, Sender, ThreadedSender

__all__ = ["DEFAULT_BACKOFF", "Delivery", "Outbox"]

# Shopify: 8 retries over 4 hours, exponential (shopify-api.md §4.4, C); the exact steps are unpublished, so
# these double from one minute and the last one closes the 4 hours. Rivo's schedule is undocumented: same.
DEFAULT_BACKOFF: tuple[float, ...] = (60, 120, 240, 480, 960, 1920, 3840, 6780)

ATTEMPT = "webhook.attempt"  # the timer action: (delivery id,)

HeadersFor = Callable[["Delivery", datetime], dict[str, str]]


@dataclass(slots=True)
class Attempt:
    number: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "at": self.at.isoformat(), "status_code": self.status_code,
                "error": self.error, "duration_ms": round(self.duration_ms, 3)}


@dataclass(slots=True, eq=False)
class Delivery:
    id: str  # the webhook id sent on every attempt
    shop: str
    api: str  # rivo | shopify
    topic: str
    url: str
    body: bytes
    created_at: datetime
    headers_for: HeadersFor
    max_attempts: int
    timeout: float
    event_id: str | None = None
    subscription_id: int | None = None
    status: str = "pending"  # pending | in_flight | delivered | failed | dropped (refused: the log was full)
    attempts: list[Attempt] = field(default_factory=list)
    next_attempt_at: datetime | None = None
    last_headers: dict[str, str] = field(default_factory=dict)

    def to_dict(self, *, body: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "shop": self.shop, "api": self.api, "topic": self.topic, "url": self.url,
            "status": self.status, "created_at": self.created_at.isoformat(), "event_id": self.event_id,
            "subscription_id": self.subscription_id, "max_attempts": self.max_attempts,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "attempts": [a.to_dict() for a in self.attempts], "headers": dict(self.last_headers),
        }
        if body:
            out["body"] = self.body.decode("utf-8", "replace")
        return out


class Outbox:
    def __init__(self, clock: Clock, sender: Sender | None = None, backoff: tuple[float, ...] = DEFAULT_BACKOFF,
                 cap: int = 50_000, listening: list[tuple[str, int]] | None = None) -> None:
        self.clock = clock  # for deliveries of a shop not attached (an outbox used on its own)
        self._clocks: dict[str, Clock] = {}
        clock.handle(ATTEMPT, self._attempt)
        self.sender: Sender = sender or BlockingSender()
        self.backoff = backoff
        self.cap = cap
        self.deliveries: dict[str, Delivery] = {}
        self._finished: dict[str, None] = {}  # ids of delivered/failed deliveries, oldest finish first
        self.dropped = 0
        self.dropped_by_shop: dict[str, int] = {}
        # Where the simulator itself listens (shared with the engine; see self_target.py).
        self.listening: list[tuple[str, int]] = listening if listening is not None else []
        self.in_flight = 0
        self.attempts_started = 0  # every attempt ever started: lets an advance stop at a delivery
        self.on_outcome: list[Callable[[Delivery, bool], None]] = []

    # -- queueing --------------------------------------------------------------------------------------
    def enqueue(self, *, delivery_id: str, shop: str, api: str, topic: str, url: str, body: bytes,
                headers_for: HeadersFor, max_attempts: int, timeout: float, event_id: str | None = None,
                subscription_id: int | None = None) -> Delivery:
        """Queue a delivery; its first attempt runs off the request path (on the next clock run). With the log
        full of pending deliveries it is refused instead: returned with status ``dropped``, counted, not kept.

        The body is copied: ``orjson.dumps`` hands back bytes whose allocation keeps its 16 KiB working buffer
        (measured: 16 KB retained per 1.6 KB payload), and a delivery may be kept for hours of retries."""
        delivery = Delivery(id=delivery_id, shop=shop, api=api, topic=topic, url=url,
                            body=bytes(memoryview(body)),  # a right-sized copy (see below)
                            created_at=self.clock_of(shop).now(), headers_for=headers_for, max_attempts=max_attempts,
                            timeout=timeout, event_id=event_id, subscription_id=subscription_id)
        if len(self.deliveries) >= self.cap and not self._evict_oldest_finished():
            delivery.status = "dropped"
            self.dropped += 1
            self.dropped_by_shop[shop] = self.dropped_by_shop.get(shop, 0) + 1
            return delivery
        self.deliveries[delivery.id] = delivery
        self._schedule(delivery, delivery.created_at)
        return delivery

    def _evict_oldest_finished(self) -> bool:
        finished = self._finished
        while finished:
            key = next(iter(finished))
            del finished[key]
            if self.deliveries.pop(key, None) is not None:
                return True
        return False

    @property
    def pending(self) -> int:
        """Deliveries kept and not finished (pending or in flight)."""
        return len(self.deliveries) - len(self._finished)

    def stats(self, shop: str | None = None) -> dict[str, Any]:
        """The log's counts; with ``shop``, that shop's share only (what one tenant sees must not depend on what
        the other tenants of a server did)."""
        if shop is None:
            return {"stored": len(self.deliveries), "pending": self.pending, "cap": self.cap,
                    "dropped": self.dropped, "dropped_by_shop": dict(self.dropped_by_shop)}
        mine = [d for d in self.deliveries.values() if d.shop == shop]
        dropped = self.dropped_by_shop.get(shop, 0)
        return {"stored": len(mine), "pending": sum(d.status in ("pending", "in_flight") for d in mine),
                "cap": self.cap, "dropped": dropped, "dropped_by_shop": {shop: dropped} if dropped else {}}

    def attach(self, shop: str, clock: Clock) -> None:
        """Deliveries of ``shop`` run on ``clock`` (the shop's own: its retries move with its time)."""
        self._clocks[shop] = clock
        clock.handle(ATTEMPT, self._attempt)

    def detach(self, shop: str) -> None:
        self._clocks.pop(shop, None)

    def clock_of(self, shop: str) -> Clock:
        return self._clocks.get(shop, self.clock)

    def _schedule(self, delivery: Delivery, due: datetime) -> None:
        delivery.next_attempt_at = due
        self.clock_of(delivery.shop).schedule(due, ATTEMPT, (delivery.id,))

    def _attempt(self, delivery_id: str) -> None:
        delivery = self.deliveries.get(delivery_id)
        if delivery is None or delivery.status not in ("pending",):
            return  # finished (and evicted since), or already attempted by an earlier timer
        now = self.clock_of(delivery.shop).now()
        delivery.status = "in_flight"
        delivery.next_attempt_at = None
        headers = delivery.headers_for(delivery, now)
        delivery.last_headers = headers
        number = len(delivery.attempts) + 1
        self.in_flight += 1
        self.attempts_started += 1
        listening = self.listening
        refuse = (lambda url: delivery_refusal(url, listening)) if listening else None
        self.sender.send(OutgoingRequest(delivery.url, delivery.body, headers, delivery.timeout, shop=delivery.shop,
                                         refuse=refuse),
                         lambda result: self._record(delivery, number, now, result))

    def _record(self, delivery: Delivery, number: int, at: datetime, result: AttemptResult) -> None:
        self.in_flight -= 1
        delivery.attempts.append(Attempt(number, at, result.status_code, result.error, result.duration_ms))
        if result.ok:
            delivery.status = "delivered"
            self._finish(delivery)
        elif len(delivery.attempts) >= delivery.max_attempts:
            delivery.status = "failed"
            self._finish(delivery)
        else:
            delivery.status = "pending"
            step = self.backoff[min(len(delivery.attempts) - 1, len(self.backoff) - 1)]
            self._schedule(delivery, self.clock_of(delivery.shop).now() + timedelta(seconds=step))
        for hook in self.on_outcome:
            hook(delivery, result.ok)

    def _finish(self, delivery: Delivery) -> None:
        if delivery.id in self.deliveries:  # evicted meanwhile? then nothing to remember
            self._finished[delivery.id] = None

    # -- control ---------------------------------------------------------------------------------------
    def redeliver(self, delivery_id: str) -> Delivery:
        delivery = self.deliveries[delivery_id]
        if delivery.status == "in_flight":
            raise ValueError(f"delivery {delivery_id} is in flight; wait for its outcome")
        self._finished.pop(delivery_id, None)
        delivery.status = "pending"
        delivery.max_attempts = max(delivery.max_attempts, len(delivery.attempts) + 1)
        self._schedule(delivery, self.clock_of(delivery.shop).now())
        return delivery

    def drain(self, wait: float = 0.0) -> int:
        """Apply outcomes a threaded sender has queued (waiting up to ``wait`` s for the first). Returns how many."""
        sender = self.sender
        if not isinstance(sender, ThreadedSender):
            return 0
        applied = 0
        timeout = wait
        while True:
            try:
                done, result = sender.results.get(timeout=timeout) if timeout > 0 else sender.results.get_nowait()
            except queue.Empty:
                return applied
            done(result)
            applied += 1
            timeout = 0

    def forget_shop(self, shop: str) -> int:
        """Drop every delivery of ``shop`` (its reset): returns how many."""
        gone = [key for key, d in self.deliveries.items() if d.shop == shop]
        for key in gone:
            del self.deliveries[key]
            self._finished.pop(key, None)
        self.dropped_by_shop.pop(shop, None)
        return len(gone)

    # -- one shop's share, for its snapshot ----------------------------------------------------------------
    def export_state(self, shop: str) -> dict[str, Any]:
        """The shop's deliveries (pending, retrying, finished), which of them are finished, how many were dropped."""
        deliveries = [d for d in self.deliveries.values() if d.shop == shop]
        return {"deliveries": deliveries, "finished": [d.id for d in deliveries if d.id in self._finished],
                "dropped": self.dropped_by_shop.get(shop, 0)}

    def import_state(self, shop: str, clock: Clock, state: dict[str, Any]) -> None:
        """The shop's share back (as ``export_state`` gave it), its deliveries on ``clock``: one saved while its
        attempt was out is attempted again, as is a pending one with no attempt scheduled."""
        self.attach(shop, clock)
        deliveries = state.get("deliveries") or []
        for delivery in deliveries:
            self.deliveries[delivery.id] = delivery
            if delivery.status == "in_flight":
                delivery.status = "pending"
        for delivery_id in state.get("finished") or []:
            self._finished[delivery_id] = None
        if state.get("dropped"):
            self.dropped_by_shop[shop] = state["dropped"]
        for delivery in deliveries:
            if delivery.status == "pending" and delivery.next_attempt_at is None:
                self._schedule(delivery, clock.now())

    def retry_in_flight(self) -> None:
        """After a restore: a delivery saved while its attempt was out (its outcome never came back) is attempted
        again at once."""
        for delivery in self.deliveries.values():
            if delivery.status == "in_flight":
                delivery.status = "pending"
                self._schedule(delivery, self.clock.now())
        self.in_flight = 0

    def list(self, *, shop: str | None = None, topic: str | None = None, status: str | None = None,
             api: str | None = None) -> list[Delivery]:
        return [d for d in self.deliveries.values()
                if (shop is None or d.shop == shop) and (topic is None or d.topic == topic)
                and (status is None or d.status == status) and (api is None or d.api == api)]

    def close(self) -> None:
        self.sender.close()

    def shutdown(self) -> int:
        """Stop sending for good (server shutdown): returns how many deliveries are abandoned unfinished."""
        abandoned = self.pending
        self.sender.close()
        return abandoned
