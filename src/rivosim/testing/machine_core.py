"""The ``LoyaltyMachine``'s plumbing: its knobs (class attributes subclasses override), the set-up that creates the
shop and the model, the subclass hooks, the HTTP helpers (Rivo API, control API, ``GET /_rivosim/state``), the
checks every rule ends with (``expect``, ``refused``, ``throttled_now``) and the teardown. No rules here: those are
grouped by who acts (``machine_shoppers``, ``machine_client``, ``machine_environment``), on top of the model's
program rules (``machine_program``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize

from rivosim.testing import strategies as rs
from rivosim.testing.machine_model import (
    API,
    KNOWN_DEVIATIONS,
    MEMBERS,
    ORDERS,
    REFERRALS,
    TOPICS,
    MemberModel,
    OrderModel,
    ReferralModel,
    Tier,
    Topic,
)
from rivosim.webhooks.senders import AttemptResult, OutgoingRequest

__all__ = ["MachineCore"]


class _MachineSender:
    """Carries deliveries to ``machine.on_delivery`` and records every attempt (with the receiver's health)."""

    def __init__(self, machine: MachineCore) -> None:
        self.machine = machine
        self.sent: list[tuple[OutgoingRequest, bool, int]] = []

    def send(self, request: OutgoingRequest, done: Any) -> None:
        healthy = self.machine.receiver_healthy
        status = self.machine.on_delivery(request)
        self.sent.append((request, healthy, status))
        done(AttemptResult(status, None, 0.1))

    def close(self) -> None:
        pass


class MachineCore(RuleBasedStateMachine):
    """The state and helpers every rule and invariant of ``LoyaltyMachine`` uses (see ``rivosim.testing.machine``).
    Class attributes are the knobs subclasses override."""

    members = MEMBERS
    orders = ORDERS
    referrals = REFERRALS

    DOMAIN = "machine.myshopify.com"
    # Faults the machine injects: ones that refuse a request before its view (latency would move the virtual
    # clock mid-request and commit-then-fail changes state by design, so neither is here).
    FAULT_KINDS: tuple[str, ...] = ("error", "rate", "timeout", "reset", "empty_reply")
    FAULT_ROUTES: tuple[str, ...] = ("rivo.points_events.create", "rivo.points_redemptions.create",
                                     "rivo.referrals.*", "rivo.customers.*", "rivo.*")
    KNOWN_DEVIATIONS: frozenset[str] = KNOWN_DEVIATIONS
    SUBSCRIBE: tuple[str, ...] | None = None  # the topics to subscribe to (None: a random set per run)
    config_strategy: st.SearchStrategy[dict[str, Any]] = rs.shop_configs(program=rs.programs(
        vip=rs.tier_structures(),
        rules=rs.earning_rules()))

    def __init__(self) -> None:
        super().__init__()
        self.receiver_healthy = True
        self._ready = False
        self._state: dict[str, Any] | None = None

    # -- hooks for subclasses ------------------------------------------------------------------------------
    def on_setup(self) -> None:
        """Called once the shop, its subscriptions and the model exist (``self.sim``, ``self.client`` …)."""

    def on_delivery(self, request: OutgoingRequest) -> int:
        """The receiver's answer to one webhook attempt: 200 while healthy, 503 while not."""
        return 200 if self.receiver_healthy else 503

    # -- set-up ----------------------------------------------------------------------------------------------
    @initialize(data=st.data())
    def setup(self, data: st.DataObject) -> None:
        from rivosim.engine import Simulator
        from rivosim.http.app import create_app

        config = data.draw(self.config_strategy, label="shop config")
        seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
        subscribed = set(self.SUBSCRIBE) if self.SUBSCRIBE is not None else data.draw(
            st.sets(st.sampled_from(TOPICS)), label="subscribed topics")
        self.sim = Simulator(seed=seed)
        self.sender = _MachineSender(self)
        self.sim.use_sender(self.sender)
        self.client = create_app(self.sim).test_client()
        resp = self.client.post("/_rivosim/shops", json={**config, "domain": self.DOMAIN})
        assert resp.status_code == 201, resp.get_json()
        self.credentials: dict[str, Any] = resp.get_json()
        self.config: dict[str, Any] = config
        self.subscribed = set(subscribed)
        for topic in sorted(self.subscribed):
            body = {"event_type": topic, "url": f"https://hooks.example.test/{topic}"}
            r = self.rivo("POST", "/webhooks", body)
            while r.status_code == 429:  # a small burst: wait as told (on the simulator clock) and retry
                wait = max(1.0, float(r.headers.get("Retry-After", "1")))
                assert self.control("POST", "/clock/advance", {"seconds": wait}).status_code == 200
                r = self.rivo("POST", "/webhooks", body)
            assert r.status_code == 201, r.get_json()
        state = self.state()
        self.tiers = {t["id"]: Tier(t["id"], t["name"], Decimal(str(t["threshold"]))) for t in state["vip_tiers"]}
        self.tier_order = sorted(self.tiers.values(), key=lambda t: t.threshold)
        self.rewards = {r["id"]: r for r in state["rewards"] if r.get("enabled", True)}
        program = config["program"]
        self.vip = program["vip"]
        self.rules = {r["trigger"]: r for r in program["earning_rules"] if r["trigger"] != "product_purchased"}
        self.product_rules = [r for r in program["earning_rules"] if r["trigger"] == "product_purchased"]
        self.referral_settings = {"enabled": True, "advocate_points": 500, "new_customers_only": True,
                                  "weekly_ip_threshold": 10, **program.get("referrals", {})}
        self.allow_negative = bool(config.get("api", {}).get("allow_negative_balance", False))
        self.tz = ZoneInfo(config.get("timezone", "UTC"))
        limit = config.get("rate_limits", {}).get("rivo", {"enabled": True, "rate": 15, "burst": 15})
        self.rate_limit = (float(limit.get("rate", 15)), float(limit.get("burst", 15))) \
            if limit.get("enabled", True) else None
        self.model: dict[int, MemberModel] = {}
        self.order_model: dict[int, OrderModel] = {}
        self.referral_model: dict[int, ReferralModel] = {}
        self.seq = self._last_trigger_seq()
        self.journal_seq = 0
        self.accepted_at: list[datetime] = []
        self.throttled = False
        self.fault_ids: list[str] = []
        self.injected = 0
        self._emails = 0
        self._ready = True
        self.on_setup()

    # -- HTTP helpers ----------------------------------------------------------------------------------------
    def rivo(self, method: str, path: str, json: Any = None, query: dict[str, str] | None = None) -> Any:
        """A Rivo merchant API call with this shop's key."""
        self._state = None if method != "GET" else self._state
        return self.client.open(API + path, method=method, json=json, query_string=query,
                                headers={"Authorization": self.credentials["rivo_api_key"]})

    def control(self, method: str, path: str, json: Any = None, query: dict[str, str] | None = None) -> Any:
        """A control API call (``/_rivosim``...)."""
        self._state = None if method != "GET" else self._state
        return self.client.open("/_rivosim" + path, method=method, json=json, query_string=query)

    def shop_path(self, path: str = "") -> str:
        return f"/shops/{self.DOMAIN}{path}"

    def state(self) -> dict[str, Any]:
        """``GET /_rivosim/state`` for the shop (cached until the next mutating request)."""
        if self._state is None:
            resp = self.client.get("/_rivosim/state", query_string={"shop": self.DOMAIN, "limit": "100000"})
            assert resp.status_code == 200, resp.get_json()
            self._state = resp.get_json()
        return self._state

    def now(self) -> datetime:
        return self.sim.now()

    def _last_trigger_seq(self) -> int:
        items = self.sim.triggers.log(self.DOMAIN).items
        return items[-1].seq if items else 0

    def fired_since(self) -> list[dict[str, Any]]:
        resp = self.control("GET", self.shop_path("/triggers"), query={"since": str(self.seq)})
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()["triggers"]  # type: ignore[no-any-return]

    def model_points(self) -> dict[int, int]:
        """The model's points balance per customer id (for subclasses' invariants)."""
        return {cid: m.points for cid, m in self.model.items()}

    # -- expectations ----------------------------------------------------------------------------------------
    def expect(self, expected: Iterable[Topic], *, per_customer: bool = False) -> None:
        """The topics fired since the last check are exactly ``expected`` (in order; per customer when the
        README leaves the order across customers open, e.g. a period boundary)."""
        expected = list(expected)
        fired = self.fired_since()
        got = [(t["topic"], t["customer_id"]) for t in fired]
        if per_customer:
            def split(items: list[Topic]) -> dict[int | None, list[str]]:
                out: dict[int | None, list[str]] = {}
                for topic, cid in items:
                    out.setdefault(cid, []).append(topic)
                return out
            assert split(got) == split(expected), f"topics fired {got}, expected (per customer) {expected}"
        else:
            assert got == expected, f"topics fired {got}, expected {expected}"
        self._check_queued(fired)
        if fired:
            self.seq = fired[-1]["seq"]

    def _check_queued(self, fired: list[dict[str, Any]]) -> None:
        """A fired topic is queued for delivery exactly when it is subscribed, with the payload as its body."""
        queued = [t for t in fired if t["delivery_id"] is not None]
        for t in fired:
            assert (t["delivery_id"] is not None) == (t["topic"] in self.subscribed), (t["topic"], t["delivery_id"])
        if not queued:
            return
        resp = self.control("GET", "/webhooks/deliveries", query={"shop": self.DOMAIN})
        bodies = {d["id"]: d for d in resp.get_json()["deliveries"]}
        for t in queued:
            d = bodies[t["delivery_id"]]
            assert d["topic"] == t["topic"], (d["topic"], t["topic"])
            assert orjson.loads(d["body"]) == t["payload"], t["topic"]

    def refused(self, resp: Any, before: dict[str, Any], status: int | None = None) -> None:
        """A 4xx answer (``status`` when given; a 429 always qualifies): nothing changed, nothing fired."""
        if resp.headers.get("X-Rivosim-Fault"):
            self.throttled_now(resp, before)
            return
        if status is not None and resp.status_code not in (status, 429):
            raise AssertionError(f"expected {status}, got {resp.status_code}: {resp.get_json()}")
        assert 400 <= resp.status_code < 500, (resp.status_code, resp.get_json())
        assert "X-Rivosim-Bug" not in resp.headers
        if resp.status_code == 429:
            assert float(resp.headers.get("Retry-After", "0")) > 0, dict(resp.headers)
        self._unchanged(before, f"a refused request ({resp.status_code})")

    def throttled_now(self, resp: Any, before: dict[str, Any]) -> bool:
        """True when the pipeline refused ``resp`` before the view (the rate limit's 429, or a fault the machine
        injected: an error status, or no response at all), after checking that it changed nothing."""
        if resp.headers.get("X-Rivosim-Fault"):
            assert resp.headers["X-Rivosim-Fault"] in self.fault_ids, dict(resp.headers)
            assert "X-Rivosim-Bug" not in resp.headers
            self.injected += 1
            self._unchanged(before, f"an injected fault ({resp.status_code})")
            return True
        if resp.status_code == 429:
            self.refused(resp, before)
            return True
        return False

    def _unchanged(self, before: dict[str, Any], what: str) -> None:
        after = self.state()
        for key in before:
            if key != "now":
                assert after[key] == before[key], f"{what} changed {key}"
        self.expect([])

    # -- picking ---------------------------------------------------------------------------------------------
    def _fresh_email(self, base: str) -> str:
        self._emails += 1
        return f"m{self._emails}.{base}"

    def _visible(self, m: MemberModel) -> bool:
        return self.now() >= m.visible_at

    def teardown(self) -> None:
        sim = getattr(self, "sim", None)
        if sim is not None:
            assert not sim.bugs, f"simulator bugs: {sim.bugs}"
            sim.outbox.close()
