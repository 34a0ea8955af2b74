"""The README's program rules as the ``LoyaltyMachine``'s model applies them: tier evaluation (entry method, period,
manual overrides), the ledger, and what a sign-up, a paid order, a completed referral, a refund and a period
boundary do. Each returns the topics that must fire, in order; the rules compare them with what did.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal

from rivosim.kernel.clock import add_months, rolling_year_exits
from rivosim.testing.machine_core import MachineCore
from rivosim.testing.machine_model import NON_EARNING, REVERSALS, MemberModel, OrderModel, ReferralModel, Tier, Topic

__all__ = ["ProgramModel"]


class ProgramModel(MachineCore):
    """The model's program rules; mixed under every group of rules and the invariants."""

    def _vip_on(self) -> bool:
        return bool(self.vip.get("enabled", True)) and self.config.get("plan", "scale") == "scale" \
            and bool(self.tier_order)

    def _period_start(self, at: datetime) -> datetime | None:
        period = self.vip.get("period", "lifetime")
        if period == "calendar_year":
            return datetime(at.astimezone(self.tz).year, 1, 1, tzinfo=self.tz).astimezone(UTC)
        if period == "rolling_year":
            return add_months(at, -12) + timedelta(microseconds=1)
        return None

    def _next_boundary(self, at: datetime) -> datetime | None:
        period = self.vip.get("period", "lifetime")
        if period == "calendar_year":
            return datetime(at.astimezone(self.tz).year + 1, 1, 1, tzinfo=self.tz).astimezone(UTC)
        if period == "rolling_year":
            return add_months(at, 12)
        return None

    def progress(self, m: MemberModel, at: datetime) -> Decimal:
        method = self.vip.get("entry_method", "points_earned")
        start = self._period_start(at)
        if method == "points_earned":
            if start is None:
                return Decimal(m.lifetime)
            return Decimal(max(0, sum(d for t, d in m.earn_log if start <= t <= at)))
        bought = [a for t, a in m.purchases if start is None or t >= start]
        if method == "amount_spent":
            return max(Decimal(0), sum(bought, Decimal(0)))
        return Decimal(sum(1 for a in bought if a > 0))

    def earned_tier(self, m: MemberModel, at: datetime) -> Tier | None:
        progress = self.progress(m, at)
        best = None
        for tier in self.tier_order:
            if progress >= tier.threshold:
                best = tier
        return best

    def evaluate(self, m: MemberModel, at: datetime | None = None) -> list[Topic]:
        """Re-evaluate a tier after a ledger or purchase change, or at a period boundary ``at`` (README: the
        override rule included)."""
        if not self._vip_on() or m.excluded:
            return []
        m.evaluated = True
        now = at or self.now()
        earned = self.earned_tier(m, now)
        if m.override_until is not None and now < m.override_until:
            held = [self.tiers[t].threshold for t in (m.tier, m.override_floor) if t is not None]
            bar = max(held) if held else None
            if earned is None or bar is None or earned.threshold <= bar:
                return []
            m.override_until = m.override_floor = None
        return self._move(m, earned, manual=False)

    def _move(self, m: MemberModel, tier: Tier | None, *, manual: bool) -> list[Topic]:
        current = self.tiers.get(m.tier) if m.tier is not None else None
        if (tier.id if tier else None) == m.tier:
            return []
        up = tier is not None and (current is None or tier.threshold > current.threshold)
        first = tier is not None and tier.id not in m.reached
        if tier is not None:
            m.reached.add(tier.id)
        m.tier = tier.id if tier else None
        if current is None and tier is not None and tier.threshold == 0 and not manual:
            return []  # placement in the entry tier is silent (README)
        out: list[Topic] = [("customer_vip_tier/upgraded" if up else "customer_vip_tier/downgraded", m.id)]
        if first and up:
            out.append(("customer_vip_tier/unlocked", m.id))
        return out

    def ledger(self, m: MemberModel, source: str, points: int, credits: Decimal = Decimal(0)) -> list[Topic]:
        """A points event (README: ``points_event/created``, the legacy topic to a subscriber for a positive
        one, ``balance_transaction/created`` when credits change)."""
        m.points += points
        m.credits += credits
        m.touched.append(self.now())
        if points > 0 and source not in NON_EARNING:
            m.lifetime += points
            m.earn_log.append((self.now(), points))
        elif source in REVERSALS:
            m.earn_log.append((self.now(), points))
        out: list[Topic] = [("points_event/created", m.id)]
        if points > 0 and "loyalty_points_earned" in self.subscribed:
            out.append(("loyalty_points_earned", m.id))
        if credits != 0:
            out.append(("balance_transaction/created", m.id))
        return out

    def _can_earn(self, m: MemberModel, trigger: str | None) -> bool:
        if m.excluded or m.status != "member":
            return False
        if trigger is None:
            return True
        rule = self.rules.get(trigger)
        return rule is not None and rule.get("enabled", True)

    def _join(self, m: MemberModel) -> list[Topic]:
        """A customer joins (README row 1): the sign-up rule earns once per customer."""
        out: list[Topic] = []
        rule = self.rules.get("customer_member_enabled")
        if self._can_earn(m, "customer_member_enabled") and not m.signup_done:
            out.append(("customer/joined", m.id))
            m.signup_done = True
            if rule is not None and rule.get("points_amount", 0) > 0:
                out += self.ledger(m, "customer_member_enabled", int(rule["points_amount"]))
                out += self.evaluate(m)
        return out + self.evaluate(m)

    def _paid(self, order: OrderModel) -> list[Topic]:
        """An order is paid (README row 2)."""
        m = self.model[order.customer_id]
        m.purchases.append((self.now(), order.total))
        m.touched.append(self.now())
        m.paid_orders += 1
        order.status = "paid"
        out: list[Topic] = []
        rule = self.rules.get("order_placed")
        plans: list[tuple[str, int]] = []
        if rule is not None and self._can_earn(m, "order_placed"):
            out.append(("order/placed", m.id))
            base = Decimal(str(rule.get("currency_base_amount", 1) or 1))
            points = int((order.total / base).to_integral_value(rounding=ROUND_FLOOR)) * int(rule["points_amount"])
            if points > 0:
                plans.append(("order_placed", points))
        for product_rule in self.product_rules:  # product rules still fire when the order rule is off
            if set(product_rule.get("product_ids", ())) & order.products and product_rule.get("enabled", True) \
                    and self._can_earn(m, None):
                out.append(("product/purchased", m.id))
                plans.append(("product_purchased", int(product_rule["points_amount"])))
        for source, points in plans:  # one tier decision at the end of the business event
            out += self.ledger(m, source, points)
            order.earned += points
        if m.paid_orders == 1:
            pending = sorted((r for r in self.referral_model.values()
                              if r.status == "pending" and r.email.casefold() == m.email.casefold()),
                             key=lambda r: r.id)
            if pending:
                out += self._complete(pending[0])
        return out + self.evaluate(m)

    def _complete(self, ref: ReferralModel) -> list[Topic]:
        ref.status = "completed"
        advocate = self.model[ref.advocate_id]
        out: list[Topic] = []
        points = int(self.referral_settings["advocate_points"])
        if self._can_earn(advocate, None) and points > 0:
            out += self.ledger(advocate, "referral_complete", points)
            out += self.evaluate(advocate)
        return [*out, ("referral/completed", advocate.id)]

    def _refund(self, order: OrderModel, value: Decimal) -> list[Topic]:
        """A refund (README row 3): reverses the order's points, even below zero."""
        m = self.model[order.customer_id]
        m.purchases.append((self.now(), -value))
        order.refunded += value
        fully = order.refunded >= order.total
        order.status = "refunded" if fully else "partially_refunded"
        fraction = Decimal(1) if fully or not order.total else min(Decimal(1), value / order.total)
        amount = min(int((Decimal(order.earned) * fraction).to_integral_value(rounding=ROUND_FLOOR)),
                     order.earned - order.reversed)
        out: list[Topic] = []
        if amount > 0:
            order.reversed += amount
            out += self.ledger(m, "order_refund", -amount)
            out += self.evaluate(m)
            m.lifetime = max(0, m.lifetime - amount)
            out += self.evaluate(m)
        return out + self.evaluate(m)

    def _boundaries(self, start: datetime, end: datetime) -> list[Topic]:
        """What the daily tick does between ``start`` (exclusive) and ``end`` (inclusive): period boundaries."""
        period = self.vip.get("period", "lifetime")
        if period == "lifetime" or not self._vip_on():
            return []
        out: list[Topic] = []
        if period == "rolling_year":
            # What happened at t leaves the window (now - 12 months, now] at exactly t + 12 months, and an override
            # set at t ends then: each ledger event, paid order and manual tier re-evaluates its member at that
            # instant (README override rule; a downgrade fires if they fell below their tier).
            due = sorted((at, m.id) for m in self.model.values() for t in m.touched for at in rolling_year_exits(t))
            for at, cid in due:
                if start < at <= end:
                    out += self.evaluate(self.model[cid], at)
            return out
        day = start.astimezone(self.tz).date() + timedelta(days=1)
        while True:
            midnight = datetime.combine(day, time(0), tzinfo=self.tz).astimezone(UTC)
            if midnight > end:
                return out
            if day.month == 1 and day.day == 1:
                for m in self.model.values():
                    out += self.evaluate(m, midnight)
            day += timedelta(days=1)
