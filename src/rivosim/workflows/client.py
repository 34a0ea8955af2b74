"""``WorkflowClient``: subscribing through the Rivo webhooks API, receiving (verify, de-duplicate, queue), the API
calls every action goes through (honouring ``Retry-After`` and per-call timeouts) and the records the client
keeps. Running what it received is ``runs.RunsMixin``; the actions themselves are ``actions.ActionsMixin``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson

from rivosim.transports.runner import Reply, Transport
from rivosim.webhooks.schemas import check_delivery
from rivosim.workflows.actions import ActionsMixin
from rivosim.workflows.model import (
    API,
    ActionRecord,
    ClientError,
    Inbound,
    LoopReport,
    Message,
    Run,
    Workflow,
    _attributes,
    _retry_after,
    _ts,
)
from rivosim.workflows.runs import RunsMixin
from rivosim.workflows.signatures import rivo_signature_problem

__all__ = ["WorkflowClient"]


# -- the client -----------------------------------------------------------------------------------------------
class WorkflowClient(RunsMixin, ActionsMixin):
    """Declared workflows, run against a shop through its API key. Thread-safe receipt, single-threaded runs."""

    def __init__(self, http: Transport, receiver_url: str, workflows: Iterable[Workflow], *,
                 shop: Mapping[str, Any] | None = None, dedupe: bool = True, verify_signatures: bool = True,
                 loop_limit: int = 1, max_chain: int = 10, honour_retry_after: bool = True,
                 max_retries: int = 5, sleep: Callable[[float], None] | None = None,
                 timeout: float | None = None, check_contract: bool = True,
                 shop_domain: str | None = None) -> None:
        self.http = http
        self.receiver_url = receiver_url.rstrip("/")
        self.workflows: dict[str, Workflow] = {w.name: w for w in workflows}
        self.shop = dict(shop or {})
        self.dedupe = dedupe
        self.verify_signatures = verify_signatures
        # Every delivery is checked against its topic's JSON Schema (rivosim/schema/webhooks/rivo/): a payload
        # that drifts from the reference is recorded here, and the scenario runner fails the scenario.
        self.check_contract = check_contract
        # The Shopify store the tool is set up for (MESA's store setting). When set, connecting checks it
        # against the shop behind the key: it must match exactly, or nothing syncs ("Data Not Syncing").
        self.shop_domain = shop_domain
        self.contract_violations: list[dict[str, Any]] = []
        self.loop_limit = loop_limit
        self.max_chain = max_chain
        # A 429 is waited out (Retry-After, in simulator time: ``sleep`` moves the clock) and retried.
        self.honour_retry_after = honour_retry_after
        self.max_retries = max_retries
        self.sleep = sleep
        # Seconds each API call waits for its response (None: the transport's default); an action's own
        # ``timeout:`` overrides it while that action runs.
        self.timeout = timeout
        self._action_timeout: float | None = None
        self.throttled: list[dict[str, Any]] = []
        self.api_key: str | None = None
        self.connected = False
        self.secret: str | None = None
        self.subscriptions: dict[str, int] = {}
        self._lock = threading.RLock()
        self._seq = 0
        self.inbound: list[Inbound] = []
        self.seen: set[str] = set()
        self.received: list[dict[str, Any]] = []
        self.duplicates: list[str] = []
        self.runs: list[Run] = []
        self.actions: list[ActionRecord] = []
        self.messages: list[Message] = []
        self.errors: list[ClientError] = []
        self.loops: list[LoopReport] = []
        self._round = 0
        self._cause: int | None = None
        self._writers: dict[int, dict[int, list[tuple[str, ...]]]] = {}
        self._anchor: datetime | None = None
        self._next_fire: dict[str, datetime] = {}
        self.on_event: Callable[[str, dict[str, Any]], None] | None = None  # transcript hook

    # -- helpers -----------------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.http.now()

    def _next_seq(self) -> int:
        with self._lock:  # the receiver thread records errors too
            self._seq += 1
            return self._seq

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(kind, data)

    def _instant(self) -> datetime:
        """The simulator's time, without a request when the transport knows it exactly."""
        now, exact = self.http.now_estimate()
        return now if exact else self.now()

    def _error(self, where: str, message: str, *, run: Run | None = None, status: int | None = None,
               method: str | None = None, path: str | None = None, at: datetime | None = None,
               timed_out: bool = False) -> None:
        err = ClientError(self._next_seq(), at or self.now(), where, run.workflow if run else None,
                          run.id if run else None, status, message, method, path, timed_out)
        self.errors.append(err)
        self._emit("client_error", err.to_dict())

    def _call(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None) -> Reply:
        headers = {"Authorization": self.api_key} if self.api_key is not None else {}
        timeout = self._action_timeout if self._action_timeout is not None else self.timeout
        for attempt in range(self.max_retries + 1):
            reply = self.http.request(method, API + path, json=json, params=params, headers=headers,
                                      timeout=timeout)
            if reply.status != 429 or not self.honour_retry_after or self.sleep is None or attempt == self.max_retries:
                return reply
            wait = _retry_after(reply)
            record = {"at": _ts(self.now()), "method": method, "path": API + path, "retry_after": wait}
            self.throttled.append(record)
            self._emit("throttled", record)
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- connection --------------------------------------------------------------------------------------
    def topics(self) -> list[str]:
        return sorted({t for w in self.workflows.values() if w.enabled for t in w.topics})

    def connect(self, api_key: str) -> bool:
        """Enter the credential (MESA's "Rivo password") and subscribe every topic the workflows need.
        Returns whether every subscription is in place; failures are recorded as client errors."""
        with self._lock:
            self.api_key = api_key
            if self._anchor is None:
                self._anchor = self.now()
            if self.shop_domain is not None and not self._same_shop():
                self.connected = False
                self._emit("connect", {"ok": False, "topics": self.topics(), "subscriptions": {}})
                return False
            ok = True
            for topic in self.topics():
                ok = self._subscribe(topic) and ok
            self.connected = ok
            self._emit("connect", {"ok": ok, "topics": self.topics(), "subscriptions": dict(self.subscriptions)})
            return ok

    def _same_shop(self) -> bool:
        """The seed's "Data Not Syncing: verify your Shopify store domain matches exactly between Rivo and MESA":
        the shop behind the key (``GET /shop``) must be the store the tool is set up for, character for
        character. A mismatch is recorded and nothing is subscribed."""
        reply = self._call("GET", "/shop")
        if not reply.ok:
            self._error("connect", "reading the Rivo shop failed: " + (
                reply.error if reply.error is not None else f"{reply.status} {reply.error_detail()}"),
                status=reply.status if reply.error is None else None, method="GET", path=API + "/shop",
                timed_out=reply.timed_out)
            return False
        rivo_domain = _attributes(reply.json).get("shopify_domain")
        if rivo_domain != self.shop_domain:
            self._error("connect", f"Data Not Syncing: the workflow tool is set up for the store "
                        f"{self.shop_domain!r} but the Rivo key belongs to {rivo_domain!r}; the Shopify store "
                        "domain must match exactly between Rivo and the workflow tool", method="GET",
                        path=API + "/shop")
            return False
        return True

    def _subscribe(self, topic: str) -> bool:
        url = f"{self.receiver_url}/{topic}"
        reply = self._call("POST", "/webhooks", json={"event_type": topic, "url": url})
        if reply.status == 422 and "already exists" in reply.error_detail():
            # One webhook per event type (rivo-api.md §4.1): take over the existing one.
            existing = self._find_subscription(topic)
            if existing is not None:
                reply = self._call("PUT", f"/webhooks/{existing}", json={"url": url, "status": "enabled"})
        if not reply.ok:
            self._error("subscribe", f"subscribing to {topic} failed: "
                        + (reply.error if reply.error is not None else f"{reply.status} {reply.error_detail()}"),
                        status=reply.status if reply.error is None else None, method="POST", path=API + "/webhooks",
                        timed_out=reply.timed_out)
            return False
        attrs = _attributes(reply.json)
        self.subscriptions[topic] = int(attrs["id"])
        self.secret = attrs.get("secret") or self.secret
        return True

    def disconnect(self) -> None:
        """Remove the client's webhook subscriptions (an integration being uninstalled), so the shop stops
        delivering to an endpoint that is going away."""
        with self._lock:
            for _topic, sub_id in sorted(self.subscriptions.items()):
                self._call("DELETE", f"/webhooks/{sub_id}")
            self.subscriptions.clear()
            self.connected = False

    def _find_subscription(self, topic: str) -> int | None:
        reply = self._call("GET", "/webhooks", params={"pagination[per_page]": 250})
        if not reply.ok:
            return None
        for item in _attributes(reply.json):
            if item.get("event_type") == topic:
                return int(item["id"])
        return None

    def update_workflow(self, name: str, changes: Mapping[str, Any]) -> None:
        """Edit a workflow the way a merchant does in the builder (filters, actions, trigger, enabled)."""
        with self._lock:
            current = self.workflows[name]
            spec: dict[str, Any] = {"name": name, "trigger": list(current.topics), "actions": current.actions,
                                    "enabled": current.enabled, "filters": [f.source for f in current.filters]}
            spec.update(changes)
            updated = Workflow.from_spec(spec, current.line)
            if "schedule" not in changes:
                updated.schedule = current.schedule
            self.workflows[name] = updated
            missing = [t for t in updated.topics if t not in self.subscriptions]
            if self.api_key is not None and missing:
                for topic in missing:
                    self._subscribe(topic)
            self._emit("workflow_updated", {"workflow": name, "changes": sorted(changes)})

    # -- receiving ---------------------------------------------------------------------------------------
    def receive(self, body: bytes, headers: Mapping[str, str]) -> int:
        """One webhook request: verify, de-duplicate, queue. Returns the HTTP status to answer with."""
        lowered = {k.lower(): v for k, v in headers.items()}
        # Never ask the server for the time here: it may be waiting for this very response.
        now, exact = self.http.now_estimate()
        with self._lock:
            delivery_id = lowered.get("rivo-webhook-id", "")
            topic = lowered.get("rivo-webhook-topic", "")
            if self.verify_signatures:
                problem = "no webhook secret yet" if self.secret is None else rivo_signature_problem(
                    body, lowered, self.secret, now=now.timestamp(), tolerance_seconds=300 if exact else None)
                if problem is not None:
                    self._error("receive", f"invalid signature on delivery {delivery_id} ({topic}): refused "
                                f"({problem})", status=401, at=now)
                    return 401
            if self.check_contract:
                for problem in check_delivery("rivo", topic, body, lowered):
                    record = {"delivery_id": delivery_id, "topic": topic, "problem": problem}
                    self.contract_violations.append(record)
                    self._emit("contract_violation", record)
            if self.dedupe and delivery_id in self.seen:
                self.duplicates.append(delivery_id)
                self._emit("duplicate", {"delivery_id": delivery_id, "topic": topic})
                return 200
            self.seen.add(delivery_id)
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError:
                self._error("receive", f"delivery {delivery_id} is not JSON", status=400, at=now)
                return 400
            topic = topic or str(payload.get("event_type", ""))
            self.inbound.append(Inbound(delivery_id, topic, payload, now if exact else None, self._cause))
            self.received.append({"delivery_id": delivery_id, "topic": topic})
            return 200
