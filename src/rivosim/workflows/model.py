"""Workflow definitions and the client's records: the MESA trigger table, the action catalogue, ``Workflow``
(trigger or schedule, filters, actions), and what a run leaves behind (runs, actions, messages, errors, loops).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rivosim.kernel.clock import Duration, parse_duration
from rivosim.transports.runner import Reply
from rivosim.workflows.expr import Expr, parse

__all__ = [
    "ACTIONS", "API", "CUSTOMER_ACTIONS", "MESA_TRIGGERS", "MESSAGE_ACTIONS", "WRITE_ACTIONS", "ActionFailed",
    "ActionRecord", "ClientError", "Inbound", "LoopReport", "Message", "Run", "Schedule", "Workflow",
]

API = "/merchant_api/v1"

# The 21 Rivo triggers of the MESA connector (help 8456369) and the webhook topics that carry them, with the
# filter that narrows a shared topic to the trigger. Documentation and ``trigger:`` aliases.
MESA_TRIGGERS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "Loyalty Points Earned": (("points_event/created",), "points_diff > 0"),
    "Points Purchase/Redemption": (("points_redemption/created",), None),
    "Points Expiry": (("notification/points_expiry_warning", "notification/points_expiry_last_chance",
                       "points/expired"), None),
    "Manual Points Adjustment": (("points_event/created",), "source == 'manual'"),
    "Customer Signup": (("customer/joined",), None),
    "Customer Birthday": (("customer/birthday",), None),
    "Customer Anniversary": (("customer/anniversary",), None),
    "VIP Tier Updated": (("customer_vip_tier/upgraded", "customer_vip_tier/downgraded"), None),
    "VIP Tier Unlocked": (("customer_vip_tier/unlocked",), None),
    "Social Media Follow": (("social/followed",), None),
    "Social Media Share": (("social/shared",), None),
    "Email Subscribe": (("marketing/email_subscribed",), None),
    "SMS Subscribe": (("marketing/sms_subscribed",), None),
    "Review Complete": (("review/completed",), None),
    "Custom Action": (("custom_action/completed",), None),
    "Visit URL": (("url/visited",), None),
    "Order Placed": (("order/placed",), None),
    "Product Purchased": (("product/purchased",), None),
    "Receipt Upload": (("receipt/uploaded",), None),
    "Referral Complete": (("referral/completed",), None),
    "Referral Claimed": (("referral/claimed",), None),
}

# The eleven Rivo actions (help 8456369) -> what they call; then the client's own steps.
ACTIONS: dict[str, str] = {
    "get_customer": "Get Customer Details: GET /customers/{customer}",
    "update_vip_tier": "Update Customer VIP Tier: POST /customers/{customer}/vip_tier (tier by name or id)",
    "get_points_history": "Get Customer Points History: GET /points_events?filters[customer_identifier]=…",
    "get_referrals": "Get Customer Referrals: GET /referrals?filters[customer_identifier]=…",
    "get_vip_tier_history": "(FAQ: 'VIP tier progression') the tiers a customer reached and when, replayed from "
                            "GET /shop (entry method, period), GET /vip_tiers and the points history",
    "grant_points": "Grant Points: POST /points_events (source manual)",
    "grant_points_batch": "(extra) Grant Points to many customers in one call: POST /points_events/batch (at most "
                          "10, all or nothing)",
    "deduct_points": "Deduct Points: POST /points_events (source manual, negative)",
    "create_reward": "Create Reward: POST /rewards if new, then POST /points_redemptions for the customer (a code)",
    "get_available_rewards": "Get Available Rewards: GET /rewards (enabled; affordable for a customer if given)",
    "get_vip_tiers": "Get VIP Tiers: GET /vip_tiers",
    "get_earning_rules": "Get Earning Rules: GET /earning_rules",
    "get_program_settings": "Get Program Settings: GET /shop",
    "list_customers": "(extra) GET /customers, every page: the list a scheduled workflow loops over",
    "send_email": "(recorded) an outbound email with templated fields",
    "send_sms": "(recorded) an outbound SMS with templated fields",
    "delay": "wait (simulator time) before the next action",
    "filter": "stop here unless the condition holds (inside for_each: skip this item)",
    "for_each": "run nested actions once per item of a list",
}
WRITE_ACTIONS = frozenset({"grant_points", "grant_points_batch", "deduct_points", "update_vip_tier", "create_reward"})
MESSAGE_ACTIONS = ("send_email", "send_sms")
CUSTOMER_ACTIONS = frozenset({"get_customer", "update_vip_tier", "get_points_history", "get_referrals", "grant_points",
                              "deduct_points", "create_reward", "get_available_rewards", "get_vip_tier_history"})


class ActionFailed(Exception):
    """An action that did not succeed: an HTTP error (``status``), or no response at all (``status`` None;
    ``timed_out`` when the client gave up waiting)."""

    def __init__(self, message: str, *, status: int | None = None, method: str | None = None,
                 path: str | None = None, timed_out: bool = False) -> None:
        super().__init__(message)
        self.status, self.method, self.path, self.timed_out = status, method, path, timed_out


# -- definitions ----------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Schedule:
    every: Duration | None = None
    yearly: str | None = None  # MM-DD, at 00:00 UTC

    def next_after(self, anchor: datetime, after: datetime) -> datetime:
        if self.every is not None:
            at = self.every.after(anchor)
            while at <= after:
                at = self.every.after(at)
            return at
        assert self.yearly is not None
        month, day = int(self.yearly[:2]), int(self.yearly[3:])
        year = after.year
        while True:
            try:
                at = datetime(year, month, day, tzinfo=UTC)
            except ValueError:
                year += 1
                continue
            if at > after:
                return at
            year += 1


@dataclass(slots=True)
class Workflow:
    name: str
    topics: tuple[str, ...] = ()
    schedule: Schedule | None = None
    filters: list[Expr] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    enabled: bool = True
    line: int | None = None

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], line: int | None = None) -> Workflow:
        """A workflow from its scenario form (already schema-checked by the loader)."""
        topics: list[str] = []
        filters: list[Expr] = []
        trigger = spec.get("trigger")
        for item in ([trigger] if isinstance(trigger, str) else list(trigger or ())):
            if item in MESA_TRIGGERS:
                mapped, implied = MESA_TRIGGERS[item]
                topics.extend(mapped)
                if implied:
                    filters.append(parse(implied))
            else:
                topics.append(item)
        schedule = None
        if spec.get("schedule"):
            raw = spec["schedule"]
            schedule = Schedule(every=parse_duration(raw["every"]) if "every" in raw else None,
                                yearly=raw.get("yearly"))
        raw_filters = spec.get("filters") or []
        filters += [parse(f) for f in ([raw_filters] if isinstance(raw_filters, str) else raw_filters)]
        return cls(name=spec["name"], topics=tuple(dict.fromkeys(topics)), schedule=schedule, filters=filters,
                   actions=list(spec.get("actions") or []), enabled=spec.get("enabled", True), line=line)


# -- records --------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Inbound:
    delivery_id: str
    topic: str
    payload: dict[str, Any]
    # None: the time was not known exactly on arrival (a virtual clock over HTTP, whose last reading may be from
    # before the advance that made the delivery); the run then counts from when the client picks it up, the
    # instant the advance stopped at — not from a stale reading that depends on when the delivery landed.
    received_at: datetime | None
    cause: int | None  # the processing round whose writes caused it (None: the outside world did)


@dataclass(slots=True)
class Run:
    id: int
    workflow: str
    trigger: str
    delivery_id: str | None
    customer_id: int | None
    chain: tuple[str, ...]
    started_at: datetime
    status: str = "running"  # running | waiting | completed | filtered | failed | stopped_loop
    # When the workflow tool got the triggering delivery (a schedule: its fire time), and when the run ended:
    # the run's latency as a merchant sees it ("the email went out 4 s after the points were earned").
    received_at: datetime | None = None
    finished_at: datetime | None = None
    position: int = 0
    resume_at: datetime | None = None
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    detail: str | None = None
    wrote: set[int] = field(default_factory=set)

    @property
    def latency(self) -> float | None:
        """Seconds from the triggering delivery's receipt to the run's end (None while it has not ended)."""
        if self.finished_at is None or self.received_at is None:
            return None
        return (self.finished_at - self.received_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        latency = self.latency
        return {"id": self.id, "workflow": self.workflow, "trigger": self.trigger, "delivery_id": self.delivery_id,
                "customer_id": self.customer_id, "chain": list(self.chain), "status": self.status,
                "started_at": _ts(self.started_at), "received_at": _ts(self.received_at),
                "finished_at": _ts(self.finished_at),
                "latency_ms": None if latency is None else round(latency * 1000, 3),
                "error": self.error, "detail": self.detail}


@dataclass(slots=True)
class ActionRecord:
    seq: int
    at: datetime
    workflow: str
    run: int
    action: str
    customer_id: int | None
    status: int | None  # HTTP status, None for recorded messages
    ok: bool
    fields: dict[str, Any]
    method: str | None = None
    path: str | None = None
    error: str | None = None
    round: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": _ts(self.at), "workflow": self.workflow, "run": self.run,
                "action": self.action, "customer_id": self.customer_id, "status": self.status, "ok": self.ok,
                "method": self.method, "path": self.path, "fields": self.fields, "error": self.error}


@dataclass(slots=True)
class Message:
    seq: int
    at: datetime
    channel: str  # email | sms
    to: str
    workflow: str
    run: int
    customer_id: int | None
    fields: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": _ts(self.at), "channel": self.channel, "to": self.to,
                "workflow": self.workflow, "run": self.run, "customer_id": self.customer_id, "fields": self.fields}


@dataclass(slots=True)
class ClientError:
    seq: int
    at: datetime
    where: str  # subscribe | receive | <action>
    workflow: str | None
    run: int | None
    status: int | None
    message: str
    method: str | None = None
    path: str | None = None
    timed_out: bool = False  # no response: the client gave up waiting (status None)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": _ts(self.at), "where": self.where, "workflow": self.workflow,
                "run": self.run, "status": self.status, "message": self.message, "method": self.method,
                "path": self.path, "timed_out": self.timed_out}


@dataclass(slots=True)
class LoopReport:
    workflow: str
    chain: tuple[str, ...]
    topic: str
    delivery_id: str
    customer_id: int | None
    caused_by: list[str]

    @property
    def message(self) -> str:
        chain = " → ".join((*self.chain, self.workflow))
        return (f"loop stopped: workflow {self.workflow!r} was re-triggered by its own actions "
                f"({', '.join(self.caused_by)} → {self.topic} delivery {self.delivery_id} for customer "
                f"{self.customer_id}; chain {chain}); the run was not performed. Add a filter that excludes "
                "the events the workflow itself causes (e.g. source != 'manual').")

    def to_dict(self) -> dict[str, Any]:
        return {"workflow": self.workflow, "chain": list(self.chain), "topic": self.topic,
                "delivery_id": self.delivery_id, "customer_id": self.customer_id, "caused_by": self.caused_by,
                "message": self.message}


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _customer_of(payload: Mapping[str, Any]) -> int | None:
    customer = payload.get("customer")
    if isinstance(customer, Mapping) and isinstance(customer.get("id"), int):
        return int(customer["id"])
    for key in ("customer_id", "referrer_customer_id"):
        if isinstance(payload.get(key), int):
            return int(payload[key])
    return None


def _attributes(body: Any) -> Any:
    """``data.attributes`` (or a list of them) from a Rivo envelope."""
    data = body.get("data") if isinstance(body, Mapping) else None
    if isinstance(data, list):
        return [item.get("attributes", item) for item in data if isinstance(item, Mapping)]
    if isinstance(data, Mapping):
        return data.get("attributes", data)
    return body


def _retry_after(reply: Reply) -> float:
    raw = {k.lower(): v for k, v in reply.headers.items()}.get("retry-after", "1")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return 1.0


def _written_customer(attrs: Any) -> int | None:
    """The customer a write touched, read from its response (points event, redemption or customer)."""
    if not isinstance(attrs, Mapping):
        return None
    if isinstance(attrs.get("customer_id"), int):
        return int(attrs["customer_id"])
    customer = attrs.get("customer")
    if isinstance(customer, Mapping) and isinstance(customer.get("id"), int):
        return int(customer["id"])
    if "points_tally" in attrs and isinstance(attrs.get("id"), int):
        return int(attrs["id"])
    return None


