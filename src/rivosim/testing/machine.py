"""``LoyaltyMachine``: a hypothesis ``RuleBasedStateMachine`` that drives one shop through the public HTTP
surface (a Flask test client: the Rivo REST API for what a client does, the control API for what shoppers
and the clock do) and checks it against a small model of the README's program rules.

Rules: sign-ups, paid and pending orders, payments, refunds, cancellations, manual points adjustments and
rule-based points events, redemptions, referral claims and completions, loyalty-status changes, manual tier
changes, clock jumps, ``run_until_idle``, and the webhook receiver going down and coming back.

Invariants, after every step:

- every balance (points and credits) is the sum of the member's ledger and what the model expects, and never
  negative except through a refund reversal (or when the shop allows negative balances);
- every member's VIP tier is what the model says: the tier the entry method and period give, except while a
  manual override holds (README, "Program rules worth knowing");
- each action fired exactly the ordered topics of the README's normative table (compared with
  ``GET /_rivosim/shops/<d>/triggers?since=<seq>``), and nothing fires between actions;
- every webhook attempt is signed correctly and carries its delivery's id; while the receiver is healthy a
  delivery is delivered exactly once (retried with the same id, at least once, while it is not);
- a request refused with a 4xx (or 429) changed nothing (``GET /_rivosim/state`` before and after);
- once the Rivo rate limit shows itself (a 429), accepted requests never exceed ``burst + rate x window``
  over any window of the simulator clock.

Run it as a test::

    from rivosim.testing import LoyaltyMachine
    TestLoyalty = LoyaltyMachine.TestCase

Extend it with your own workflow: subclass, add rules and invariants, and route webhook deliveries to your own
handler by overriding ``on_delivery`` (``tests/property/test_machine_subclass.py`` runs this one)::

    import json
    from hypothesis.stateful import invariant, rule
    from rivosim.testing import LoyaltyMachine

    class PointsSyncMachine(LoyaltyMachine):
        SUBSCRIBE = ("points_event/created",)        # fixed subscriptions (default: a random set per run)

        def on_setup(self):                          # the shop, self.client and the model exist now
            self.store = {}                          # your client's local copy: customer id -> (event id, points)

        def on_delivery(self, request):             # every webhook attempt; return the receiver's status
            if not self.receiver_healthy:
                return 503
            body = json.loads(request.body)
            cid = body["customer"]["id"]
            event_id = body["id"][-1]                # webhooks: [shop_id, event_id]
            if event_id > self.store.get(cid, (0, 0))[0]:
                self.store[cid] = (event_id, body["customer"]["points_tally"])
            return 200

        @rule()
        def sync_now(self):
            self.receiver_healthy = True
            self.run_until_idle()                    # base rules are methods too: time moves, topics checked

        @invariant()
        def store_matches_rivo(self):
            if self._ready and nothing_in_flight(self):     # e.g. GET /_rivosim/webhooks/deliveries
                points = self.model_points()         # the model's balance per customer id
                assert all(p == points[c] for c, (_, p) in self.store.items())

    TestPointsSync = PointsSyncMachine.TestCase

Helpers for your rules: ``self.rivo(method, path, json)`` and ``self.control(...)`` (Flask test client calls
with the shop's key), ``self.state()`` (``GET /_rivosim/state``), ``self.expect(topics)`` (what must fire),
``self.refused(resp, before)`` (a 4xx changed nothing), ``self.model`` / ``self.model_points()``. The bundles
``members``, ``orders`` and ``referrals`` hold the ids the base rules created. ``config_strategy`` (a class
attribute) chooses the shop configuration, ``FAULT_KINDS``/``FAULT_ROUTES`` the faults it injects, and
``KNOWN_DEVIATIONS`` lists where the simulator is known to differ from the README (each has a strict-xfail
test in ``tests/property/test_known_bugs.py``), so the machine keeps looking for new ones.

The machine is assembled from mixins, one concern each: ``machine_model`` (the model's records, bundles and
constants), ``machine_core`` (knobs, set-up, HTTP helpers, the checks rules end with), ``machine_program`` (the
README's program rules as the model applies them), ``machine_shoppers``, ``machine_client`` and
``machine_environment`` (the rules, by who acts) and ``machine_invariants``.
"""

from __future__ import annotations

from rivosim.testing.machine_client import ClientRules
from rivosim.testing.machine_environment import EnvironmentRules
from rivosim.testing.machine_invariants import Invariants
from rivosim.testing.machine_model import API as API
from rivosim.testing.machine_model import IPS as IPS
from rivosim.testing.machine_model import KNOWN_DEVIATIONS, MemberModel, OrderModel
from rivosim.testing.machine_model import NON_EARNING as NON_EARNING
from rivosim.testing.machine_model import REVERSALS as REVERSALS
from rivosim.testing.machine_model import TOPICS as TOPICS
from rivosim.testing.machine_model import ReferralModel as ReferralModel
from rivosim.testing.machine_model import Tier as Tier
from rivosim.testing.machine_model import Topic as Topic
from rivosim.testing.machine_shoppers import ShopperRules

# The model's records and constants (``API``, ``TOPICS``, ``Tier`` …) were defined here before the machine was split
# into mixins: the ``X as X`` imports keep them importable from this module, without widening ``__all__``.
__all__ = ["KNOWN_DEVIATIONS", "LoyaltyMachine", "MemberModel", "OrderModel"]


class LoyaltyMachine(ShopperRules, ClientRules, EnvironmentRules, Invariants):
    """See the module docstring. Subclass it to add your workflow's rules and invariants.

    Assembled from mixins that all sit on ``ProgramModel`` (the model's program rules) and ``MachineCore`` (set-up,
    helpers, checks; a ``RuleBasedStateMachine``): hypothesis collects the rules and invariants of every class in
    the MRO, so the machine runs exactly the rules it did as one class."""
