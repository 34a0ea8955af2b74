"""The MESA-style workflow client on its own: subscriptions through the Rivo API, signature checks, de-duplication,
filters, the action → endpoint mapping, delays, Retry-After and the loop guard."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from rivosim import Simulator
from rivosim.transports.runner import InProcessTransport
from rivosim.webhooks import sign_rivo
from rivosim.workflows import MESA_TRIGGERS, InProcessReceiver, Workflow, WorkflowClient
from rivosim.workflows.expr import Expr, ExprError, Scope, render

HOOKS = "http://mesa.test/hooks"
DOMAIN = "wf.myshopify.com"


class World:
    """A shop, the in-process transport and a connected workflow client, settled like the runner does."""

    def __init__(self, workflows: list[dict[str, Any]], shop: dict[str, Any] | None = None, **client: Any) -> None:
        self.sim = Simulator(seed=3)
        self.shop = self.sim.create_shop({"domain": DOMAIN, "plan": "scale",
                                          "api": {"new_customer_visibility_delay": 0}, **(shop or {})})
        self.http = InProcessTransport(self.sim)
        self.client = WorkflowClient(self.http, HOOKS, [Workflow.from_spec(w) for w in workflows],
                                     shop={"domain": DOMAIN}, sleep=self.sleep, **client)
        self.sim.use_sender(InProcessReceiver(self.client, self.http))
        self.client.connect(self.shop.credentials.rivo_api_key)

    def sleep(self, seconds: float) -> None:
        self.sim.advance(seconds)

    def settle(self) -> None:
        self.sim.run_until_idle()
        for _ in range(50):
            if not self.client.has_work(self.sim.now()):
                break
            self.client.process_round()
            self.sim.run_until_idle()
        self.client.begin_step()

    def customer(self, email: str = "ann@example.com", **kw: Any) -> int:
        cid = self.shop.shopify.create_customer(email=email, first_name="Ann", **kw).id
        self.settle()
        return cid

    def order(self, cid: int, price: str) -> None:
        self.shop.shopify.create_order(customer_id=cid, line_items=[{"title": "Thing", "price": price}], paid=True)
        self.settle()

    def routes(self) -> list[str]:
        return [e.route or "" for e in self.sim.journal.entries() if e.api == "rivo" and e.status != 429]


def email(template: str) -> dict[str, Any]:
    return {"send_email": {"to": "{{ customer.email }}", "template": template}}


# -- subscriptions --------------------------------------------------------------------------------------------
def test_workflows_sharing_a_trigger_share_one_subscription() -> None:
    w = World([{"name": "a", "trigger": "points_event/created", "actions": [email("a")]},
               {"name": "b", "trigger": "Loyalty Points Earned", "actions": [email("b")]}])
    assert w.client.subscriptions.keys() == {"points_event/created"}
    assert len(w.shop.rivo.subscriptions) == 1
    w.customer()
    assert sorted(m.fields["template"] for m in w.client.messages) == ["a", "b"]


def test_connecting_takes_over_an_existing_subscription_for_the_topic() -> None:
    w = World([])
    w.shop.rivo.create_subscription({"event_type": "customer/joined", "url": "https://old.example/hook"})
    client = WorkflowClient(w.http, HOOKS, [Workflow.from_spec({"name": "x", "trigger": "customer/joined",
                                                                 "actions": [email("x")]})])
    assert client.connect(w.shop.credentials.rivo_api_key)
    (sub,) = w.shop.rivo.subscriptions.values()
    assert sub.url == f"{HOOKS}/customer/joined"


def test_a_refused_key_is_a_client_error_and_nothing_is_subscribed() -> None:
    w = World([{"name": "x", "trigger": "customer/joined", "actions": [email("x")]}])
    client = WorkflowClient(w.http, HOOKS, [Workflow.from_spec({"name": "x", "trigger": "customer/joined",
                                                                 "actions": [email("x")]})])
    assert not client.connect("not-the-key")
    assert client.errors[0].where == "subscribe" and client.errors[0].status == 401


def test_mesa_trigger_names_cover_the_21_seed_triggers() -> None:
    assert len(MESA_TRIGGERS) == 21
    wf = Workflow.from_spec({"name": "m", "trigger": "Manual Points Adjustment", "actions": [email("m")]})
    assert wf.topics == ("points_event/created",) and wf.filters[0].source == "source == 'manual'"


# -- receiving ------------------------------------------------------------------------------------------------
def _delivery(w: World, body: dict[str, Any], delivery_id: str = "msg_1") -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps(body)
    return raw, {"rivo-webhook-id": delivery_id, "rivo-webhook-topic": "customer/joined",
                 "rivo-signature": sign_rivo(raw, w.shop.credentials.webhook_secret)}


def test_a_bad_signature_is_refused_with_401_and_not_run() -> None:
    w = World([{"name": "x", "trigger": "customer/joined", "actions": [email("x")]}])
    raw, headers = _delivery(w, {"customer": {"id": 1, "email": "a@example.com"}})
    assert w.client.receive(raw + b" ", headers) == 401
    assert not w.client.inbound and w.client.errors[-1].where == "receive"
    assert w.client.receive(raw, headers) == 200
    assert len(w.client.inbound) == 1


def test_a_repeated_webhook_id_is_ignored_unless_dedupe_is_off() -> None:
    for dedupe, runs in ((True, 1), (False, 2)):
        w = World([{"name": "x", "trigger": "customer/joined", "actions": [email("x")]}], dedupe=dedupe)
        w.customer()
        delivery = next(iter(w.sim.outbox.deliveries.values()))
        w.sim.outbox.redeliver(delivery.id)
        w.settle()
        assert len(delivery.attempts) == 2
        assert len(w.client.runs) == runs
        assert w.client.duplicates == ([delivery.id] if dedupe else [])


# -- filters and templates ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("source", "expected"), [
    ("points_diff > 0", True),
    ("points_diff > 0 and source == 'manual'", False),
    ("vip_tier.name == 'Gold'", True),
    ("has_tag(customer.shopify_tags, 'vip')", True),
    ("missing.field > 3", False),            # null-safe: an absent field is never greater than anything
    ("missing.field == null", True),
    ("len(where(history, 'points_diff > 0')) == 2", True),
    ("latest(history, 'applied_at') == '2026-03-01T00:00:00.000Z'", True),
    ("days_since(latest(history, 'applied_at')) > 30", True),
    ("days_since(None) > 1000", True),       # never happened: infinitely long ago
    ("network in ['instagram', 'tiktok']", True),
])
def test_filter_expressions(source: str, expected: bool) -> None:
    from datetime import UTC, datetime

    scope = Scope({"points_diff": 5, "source": "order_placed", "vip_tier": {"name": "Gold"}, "network": "tiktok",
                   "customer": {"shopify_tags": ["VIP", "wholesale"]},
                   "history": [{"points_diff": 5, "applied_at": "2026-01-01T00:00:00.000Z"},
                               {"points_diff": -2, "applied_at": "2026-02-01T00:00:00.000Z"},
                               {"points_diff": 7, "applied_at": "2026-03-01T00:00:00.000Z"}]},
                  lambda: datetime(2026, 6, 1, tzinfo=UTC))
    assert Expr(source).test(scope) is expected


@pytest.mark.parametrize("source", ["__import__('os')", "customer.__class__", "open('x')", "lambda: 1", "x = 1"])
def test_unsafe_or_invalid_expressions_are_refused(source: str) -> None:
    with pytest.raises(ExprError):
        Expr(source)


def test_templates_keep_types_when_whole_and_references_only_resolve_known_roots() -> None:
    from datetime import UTC, datetime

    scope = Scope({"customers": {"al": {"id": 7}}, "points_diff": 3}, lambda: datetime(2026, 1, 1, tzinfo=UTC))
    assert render("{{ points_diff * 2 }}", scope) == 6
    assert render("$customers.al.id", scope) == 7
    assert render("/customers/$customers.al.id/x", scope) == "/customers/7/x"
    assert render("$5 off coupon", scope) == "$5 off coupon"
    assert render(" {{ points_diff }} ", scope) == " 3 "       # surrounding text stays text
    assert render({"a": ["{{ mmdd(after('P5D')) }}"]}, scope) == {"a": ["01-06"]}


def test_workflow_filters_gate_runs_and_are_recorded() -> None:
    w = World([{"name": "big", "trigger": "points_event/created", "filters": ["points_diff >= 100"],
                "actions": [email("big")]}])
    cid = w.customer()                     # +100 sign-up: passes
    w.order(cid, "20.00")                  # +20: filtered
    assert [r.status for r in w.client.runs] == ["completed", "filtered"]
    assert "points_diff >= 100" in (w.client.runs[1].detail or "")


# -- actions --------------------------------------------------------------------------------------------------
def test_each_rivo_action_calls_its_endpoint_with_the_shop_key() -> None:
    actions = [{"get_customer": {"as": "c"}}, {"get_points_history": None}, {"get_referrals": None},
               {"get_vip_tiers": None}, {"get_earning_rules": None}, {"get_program_settings": None},
               {"get_available_rewards": None}, {"grant_points": {"points": 5}}, {"deduct_points": {"points": 2}},
               {"update_vip_tier": {"tier": "Gold"}},
               {"create_reward": {"name": "Gift", "reward_type": "fixed_amount", "reward_value": 5, "as": "gift"}},
               {"send_sms": {"to": "{{ c.email }}", "body": "code {{ gift.code }}"}}]
    w = World([{"name": "all", "trigger": "customer/joined", "actions": actions}])
    cid = w.customer()
    assert w.client.runs[0].status == "completed", w.client.errors
    assert w.routes()[1:] == [
        "rivo.customers.get", "rivo.points_events.list", "rivo.referrals.list", "rivo.vip_tiers.list",
        "rivo.earning_rules.list", "rivo.shop.get", "rivo.rewards.list", "rivo.customers.get",
        "rivo.points_events.create", "rivo.points_events.create", "rivo.vip_tiers.list",
        "rivo.customers.vip_tier.update", "rivo.rewards.list", "rivo.rewards.create",
        "rivo.points_redemptions.create"]
    member = w.shop.rivo.members[cid]
    assert member.points_tally == 103 and w.shop.rivo.tiers[member.vip_tier_id].name == "Gold"
    assert w.client.messages[0].channel == "sms" and "REDEEM-" in w.client.messages[0].fields["body"]


def test_a_failed_action_fails_the_run_and_says_why() -> None:
    w = World([{"name": "x", "trigger": "customer/joined",
                "actions": [{"grant_points": {"customer": "gid://shopify/Customer/{{ customer.id }}", "points": 5}},
                            email("never")]}])
    w.customer()
    (run,) = w.client.runs
    assert run.status == "failed" and w.client.messages == []
    assert w.client.errors[-1].status == 404 and "digits" in w.client.errors[-1].message


def test_a_delay_waits_in_simulator_time() -> None:
    w = World([{"name": "later", "trigger": "customer/joined", "actions": [{"delay": "P2D"}, email("later")]}])
    w.customer()
    (run,) = w.client.runs
    assert run.status == "waiting" and w.client.next_wakeup() == w.sim.now() + timedelta(days=2)
    w.sim.advance("P1D")
    w.settle()
    assert w.client.messages == []
    w.sim.advance("P1D")
    w.settle()
    assert run.status == "completed" and w.client.messages[0].at == run.started_at + timedelta(days=2)


def test_a_429_is_waited_out_and_retried() -> None:
    w = World([{"name": "x", "trigger": "customer/joined", "actions": [{"get_vip_tiers": None}] * 20}],
              shop={"rate_limits": {"rivo": {"enabled": True, "rate": 5, "burst": 5}}})
    w.customer()
    assert w.client.runs[0].status == "completed"
    assert w.client.throttled and all(t["retry_after"] >= 1 for t in w.client.throttled)
    assert not any(a.status == 429 for a in w.client.actions)


def test_retry_after_can_be_ignored_like_a_naive_client() -> None:
    w = World([{"name": "x", "trigger": "customer/joined", "actions": [{"get_vip_tiers": None}] * 20}],
              shop={"rate_limits": {"rivo": {"enabled": True, "rate": 5, "burst": 5}}}, honour_retry_after=False)
    w.customer()
    assert w.client.runs[0].status == "failed" and w.client.errors[-1].status == 429


# -- the loop guard -------------------------------------------------------------------------------------------
def test_a_grant_that_retriggers_its_own_workflow_is_stopped_with_a_report() -> None:
    w = World([{"name": "echo", "trigger": "Loyalty Points Earned",
                "actions": [{"grant_points": {"points": "{{ points_diff }}"}}]}])
    cid = w.customer()
    assert [r.status for r in w.client.runs] == ["completed", "stopped_loop"]
    (loop,) = w.client.loops
    assert loop.workflow == "echo" and loop.customer_id == cid
    assert "re-triggered by its own actions" in loop.message and "grant_points by echo#1" in loop.message
    assert w.shop.rivo.members[cid].points_tally == 200       # the sign-up and one echo, not an endless chain


def test_a_ping_pong_between_two_workflows_is_stopped_too() -> None:
    w = World([{"name": "ping", "trigger": "points_event/created", "filters": ["points_diff > 0"],
                "actions": [{"deduct_points": {"points": 1}}]},
               {"name": "pong", "trigger": "points_event/created", "filters": ["points_diff < 0"],
                "actions": [{"grant_points": {"points": 1}}]}])
    w.customer()
    assert [lp.workflow for lp in w.client.loops] == ["ping"]
    assert [r.workflow for r in w.client.runs if r.status == "completed"] == ["ping", "pong"]


def test_loop_limit_allows_a_bounded_chain() -> None:
    w = World([{"name": "echo", "trigger": "Loyalty Points Earned",
                "actions": [{"grant_points": {"points": "{{ points_diff }}"}}]}], loop_limit=3)
    cid = w.customer()
    assert [r.status for r in w.client.runs].count("completed") == 3
    assert w.shop.rivo.members[cid].points_tally == 100 + 3 * 100   # sign-up, then three echoes of 100


def test_unrelated_later_events_are_not_mistaken_for_a_loop() -> None:
    # One long advance: the second anniversary is not caused by the first anniversary's grant.
    w = World([{"name": "thanks", "trigger": "customer/anniversary", "actions": [{"grant_points": {"points": 10}}]}],
              shop={"program": {"earning_rules": [{"trigger": "customer_member_enabled", "points_amount": 100},
                                                  {"trigger": "customer_anniversary", "points_amount": 5}]}})
    w.customer()
    for _ in range(2):
        w.sim.advance("P1Y1D")
        w.settle()
    assert [r.status for r in w.client.runs] == ["completed", "completed"] and not w.client.loops


def test_pacing_a_bulk_loop_stays_under_the_rate_limit() -> None:
    loop = {"for_each": {"items": "{{ customers }}", "as": "c", "pace": "PT0.25S",
                         "actions": [{"grant_points": {"customer": "{{ c.id }}", "points": 5}}]}}
    w = World([{"name": "bulk", "schedule": {"every": "P1D"}, "actions": [{"list_customers": {"as": "customers"}},
                                                                          loop]}],
              shop={"rate_limits": {"rivo": {"enabled": True, "rate": 5, "burst": 5}}}, honour_retry_after=False)
    for i in range(12):
        w.shop.shopify.create_customer(email=f"c{i}@example.com")
    w.sim.advance("P1D")
    w.settle()
    assert [r.status for r in w.client.runs] == ["completed"]
    assert [a.status for a in w.client.actions if a.action == "grant_points"] == [201] * 12
