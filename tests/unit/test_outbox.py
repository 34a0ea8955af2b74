"""The outbox: first attempt off the request path, retries on the simulator clock with one webhook id,
failures that do not hold back later deliveries, and redelivery."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rivosim.kernel.clock import VirtualClock
from rivosim.webhooks.outbox import DEFAULT_BACKOFF, Delivery, Outbox
from rivosim.webhooks.senders import AttemptResult, OutgoingRequest


class ScriptedSender:
    """Answers each POST with the next status for its URL (default 200) and records what was sent."""

    def __init__(self, script: dict[str, list[int | None]] | None = None) -> None:
        self.script = script or {}
        self.sent: list[OutgoingRequest] = []

    def send(self, request: OutgoingRequest, done: Callable[[AttemptResult], None]) -> None:
        self.sent.append(request)
        queue = self.script.get(request.url, [])
        status = queue.pop(0) if queue else 200
        done(AttemptResult(status, None if status else "ConnectionError: refused", 1.0))

    def close(self) -> None:
        pass


def headers(delivery: Delivery, at: datetime) -> dict[str, str]:
    return {"rivo-webhook-id": delivery.id, "x-at": at.isoformat()}


def enqueue(outbox: Outbox, n: int, url: str = "http://r/hook", attempts: int = 9) -> Delivery:
    return outbox.enqueue(delivery_id=f"msg_{n}", shop="s.myshopify.com", api="rivo", topic="points_event/created",
                          url=url, body=b'{"n":%d}' % n, headers_for=headers, max_attempts=attempts, timeout=5)


def test_first_attempt_runs_off_the_request_path() -> None:
    clock = VirtualClock()
    sender = ScriptedSender()
    outbox = Outbox(clock, sender)
    delivery = enqueue(outbox, 1)
    assert sender.sent == [] and delivery.status == "pending"
    clock.run_until_idle()
    assert delivery.status == "delivered" and len(sender.sent) == 1


def test_retries_follow_the_backoff_with_the_same_webhook_id() -> None:
    clock = VirtualClock()
    sender = ScriptedSender({"http://r/hook": [500, None, 503]})
    outbox = Outbox(clock, sender)
    delivery = enqueue(outbox, 1)
    start = clock.now()
    clock.run_until_idle()
    assert delivery.status == "delivered"
    assert [a.status_code for a in delivery.attempts] == [500, None, 503, 200]
    offsets = [(a.at - start).total_seconds() for a in delivery.attempts]
    assert offsets == [0, DEFAULT_BACKOFF[0], DEFAULT_BACKOFF[0] + DEFAULT_BACKOFF[1],
                       sum(DEFAULT_BACKOFF[:3])]
    assert {r.headers["rivo-webhook-id"] for r in sender.sent} == {"msg_1"}


def test_gives_up_after_the_last_attempt_and_redeliver_tries_again() -> None:
    clock = VirtualClock()
    sender = ScriptedSender({"http://r/hook": [500] * 9})
    outbox = Outbox(clock, sender)
    delivery = enqueue(outbox, 1, attempts=9)
    clock.run_until_idle()
    assert delivery.status == "failed" and len(delivery.attempts) == 9
    # Shopify's window: first attempt plus 8 retries over 4 hours.
    assert (delivery.attempts[-1].at - delivery.attempts[0].at).total_seconds() == 4 * 3600
    outbox.redeliver(delivery.id)
    clock.run_until_idle()
    assert delivery.status == "delivered" and len(delivery.attempts) == 10


def test_a_failing_delivery_does_not_hold_back_later_ones() -> None:
    clock = VirtualClock()
    sender = ScriptedSender({"http://down/hook": [None, None]})
    outbox = Outbox(clock, sender)
    first = enqueue(outbox, 1, url="http://down/hook")
    second = enqueue(outbox, 2, url="http://up/hook")
    clock.advance(1)
    assert second.status == "delivered" and first.status == "pending"
    clock.run_until_idle()
    assert first.status == "delivered"
    assert first.attempts[-1].at > second.attempts[-1].at  # seen out of order by the receiver


def test_outcome_hooks_and_listing() -> None:
    clock = VirtualClock()
    outbox = Outbox(clock, ScriptedSender({"http://r/hook": [500]}))
    seen: list[tuple[str, bool]] = []
    outbox.on_outcome.append(lambda d, ok: seen.append((d.id, ok)))
    enqueue(outbox, 1)
    enqueue(outbox, 2)
    clock.run_until_idle()
    assert seen == [("msg_1", False), ("msg_2", True), ("msg_1", True)]
    assert [d.id for d in outbox.list(status="delivered")] == ["msg_1", "msg_2"]
    assert outbox.list(topic="other") == []


def test_running_one_shops_work_leaves_another_shops_retries_for_later() -> None:
    clock = VirtualClock()
    sender = ScriptedSender({"http://a/hook": [500] * 9})
    outbox = Outbox(clock, sender)
    start = clock.now()
    failing = outbox.enqueue(delivery_id="msg_a", shop="a.myshopify.com", api="rivo", topic="points_event/created",
                             url="http://a/hook", body=b"{}", headers_for=headers, max_attempts=9, timeout=5)
    fine = outbox.enqueue(delivery_id="msg_b", shop="b.myshopify.com", api="rivo", topic="points_event/created",
                          url="http://b/hook", body=b"{}", headers_for=headers, max_attempts=9, timeout=5)
    clock.run_until_idle(only=lambda timer: outbox.deliveries[str(timer.args[0])].shop == "b.myshopify.com")
    assert fine.status == "delivered"
    # Shop a's first attempt was due at the same instant, so it ran; its retries (hours apart) did not.
    assert failing.status == "pending" and len(failing.attempts) == 1
    assert clock.now() == start
    clock.run_until_idle()
    assert failing.status == "failed" and (clock.now() - start).total_seconds() == 4 * 3600
