"""Examples the long profile (``make soak``) found, replayed through ``LoyaltyMachine`` itself in every profile:
each drives the machine's own rules with the draws the failing run made, then checks every invariant, so the
model and the simulator must still agree exactly where they once did not (a stateful ``TestCase`` takes no
``@example``)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import INVARIANT_MARKER  # type: ignore[attr-defined]

from rivosim.testing import LoyaltyMachine


class Scripted:
    """Stands in for ``st.data()``: answers each draw by its label, as the failing run drew it."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers

    def draw(self, strategy: st.SearchStrategy[Any], label: str | None = None) -> Any:
        return self.answers[label or ""]


def one_tier_rolling_year() -> dict[str, Any]:
    return {
        "plan": "scale", "timezone": "UTC", "rate_limits": {"rivo": {"enabled": False}},
        "api": {"allow_negative_balance": False, "new_customer_visibility_delay": "PT30S"},
        "webhooks": {"signing": "rivo-signature", "max_attempts": 1},
        "program": {
            "active": True, "expiry": {"enabled": False},
            "earning_rules": [
                {"trigger": "order_placed", "name": "Place an order", "enabled": True, "points_amount": 1,
                 "currency_base_amount": 1},
                {"trigger": "customer_member_enabled", "name": "Sign up", "enabled": True, "points_amount": 0}],
            "vip": {"enabled": True, "entry_method": "points_earned", "period": "rolling_year",
                    "tiers": [{"name": "Gold", "threshold": 500}]},
            "referrals": {"enabled": True, "advocate_points": 0, "new_customers_only": True,
                          "weekly_ip_threshold": 1},
        },
    }


def check_invariants(machine: LoyaltyMachine) -> None:
    for name in dir(type(machine)):
        if getattr(getattr(type(machine), name), INVARIANT_MARKER, None) is not None:
            getattr(machine, name)()


def machine_with_a_member_set_to_gold() -> tuple[LoyaltyMachine, int]:
    machine = LoyaltyMachine()
    machine.SUBSCRIBE = ("customer_vip_tier/upgraded", "customer_vip_tier/downgraded", "customer_vip_tier/unlocked")
    machine.setup(Scripted({"shop config": one_tier_rolling_year(), "seed": 0}))
    machine.sign_up(Scripted({
        "customer": {"first_name": "Ola", "last_name": "Nordmann", "email": "ola@example.com",
                     "accepts_marketing": False},
        "joins_program": True, "Rivo Excluded": False, "visibility delayed": False}))
    (member,) = machine.model
    check_invariants(machine)
    (gold,) = machine.tiers
    machine.set_tier(member, Scripted({"tier": gold}))
    check_invariants(machine)
    return machine, member


def test_a_rolling_year_override_ends_exactly_one_year_after_it_was_set() -> None:
    # HYPOTHESIS_PROFILE=long --hypothesis-seed=283724123688071908955403125219963230844: a one-tier rolling-year
    # program, a member set to the tier by hand, then advance_clock(P1Y). At exactly one year the model said the
    # override had ended while the simulator re-evaluated a microsecond later. README: at set_at + 1 year the
    # override has ended and a reader at that instant sees the re-evaluated tier.
    machine, member = machine_with_a_member_set_to_gold()
    try:
        machine.advance_clock("P1Y")
        check_invariants(machine)
        assert machine.model[member].tier is None
        assert machine.state()["customers"][0]["vip_tier"] is None
    finally:
        machine.teardown()


def test_a_rolling_year_override_still_holds_one_second_before() -> None:
    machine, member = machine_with_a_member_set_to_gold()
    try:
        machine.advance_clock("P364D")
        machine.advance_clock(86_400 - 1)  # 2026 has 365 days: one second short of a year
        check_invariants(machine)
        assert machine.state()["customers"][0]["vip_tier"]["name"] == "Gold"
        machine.advance_clock(1)
        check_invariants(machine)
        assert machine.model[member].tier is None
        assert machine.state()["customers"][0]["vip_tier"] is None
    finally:
        machine.teardown()
