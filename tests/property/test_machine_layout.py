"""``LoyaltyMachine`` is assembled from mixins (``rivosim.testing.machine_*``, one concern each). Hypothesis
collects rules and invariants from every class in the MRO, so the assembled machine must run exactly the rules,
invariants and initializer the single class did, subclasses must add to them, and the names users import from
``rivosim.testing.machine`` must stay there."""

from __future__ import annotations

from hypothesis.stateful import invariant, rule

from rivosim.testing import LoyaltyMachine

RULES = {
    # shoppers (control API)
    "sign_up": "members", "place_order": "orders", "pay_order": None, "refund_order": None, "cancel_order": None,
    # a Rivo client (REST API)
    "adjust_points": None, "custom_action_event": None, "redeem": None, "claim_referral": "referrals",
    "complete_referral": None, "set_loyalty_status": None, "set_tier": None,
    # time, the receiver, faults
    "advance_clock": None, "run_until_idle": None, "receiver": None, "toggle_fault": None,
}
INVARIANTS = {"nothing_fires_between_actions", "balances_are_the_ledger", "tiers_follow_the_program",
              "webhooks_are_signed_and_delivered_once", "rate_limit_holds"}


def test_hypothesis_sees_every_rule_invariant_and_initializer() -> None:
    state = LoyaltyMachine.setup_state()  # what hypothesis itself collects for a run
    rules = {r.function.__name__: r for r in state.rules}
    assert len(state.rules) == len(RULES) == 16
    assert set(rules) == set(RULES)
    for name, target in RULES.items():
        assert rules[name].targets == ((target,) if target else ()), name
    assert len(state.invariants) == len(INVARIANTS) == 5
    assert {i.function.__name__ for i in state.invariants} == INVARIANTS
    assert all(i.preconditions for i in state.invariants)  # each waits for the set-up
    assert [r.function.__name__ for r in state.initializers] == ["setup"]


def test_a_subclass_adds_to_the_base_rules() -> None:
    class Extended(LoyaltyMachine):
        @rule(member=LoyaltyMachine.members)
        def look(self, member: int) -> None:
            pass

        @invariant()
        def fine(self) -> None:
            pass

    state = Extended.setup_state()
    assert len(state.rules) == len(RULES) + 1 and len(state.invariants) == len(INVARIANTS) + 1
    assert len(LoyaltyMachine.setup_state().rules) == len(RULES)  # the base is unchanged


def test_names_stay_importable_from_the_machine_module() -> None:
    from rivosim.testing import machine

    for name in ("LoyaltyMachine", "KNOWN_DEVIATIONS", "MemberModel", "OrderModel", "ReferralModel", "Tier", "Topic",
                 "API", "TOPICS", "NON_EARNING", "REVERSALS", "IPS"):
        assert hasattr(machine, name), name
    assert machine.__all__ == ["KNOWN_DEVIATIONS", "LoyaltyMachine", "MemberModel", "OrderModel"]
    assert LoyaltyMachine.__module__ == "rivosim.testing.machine"
    assert [LoyaltyMachine.members.name, LoyaltyMachine.orders.name, LoyaltyMachine.referrals.name] == \
        ["members", "orders", "referrals"]
