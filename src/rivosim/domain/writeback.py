"""Rivo writes back to Shopify (rivo-api.md §6): the customer metafield ``custom.rivo`` (and the v2 individual
metafields when that option is on), the shop metafield ``rivo.loy``, VIP tier customer tags when Shopify
tagging is on, and the order tag ``Rivo`` on orders that used a Rivo discount or completed a referral.

It listens to loyalty events on the shop's bus. Tags follow tier changes from the moment tagging is enabled;
customers who already hold a tier get theirs only from ``backfill`` (the tagging "Sync Store", see syncs.py).
A write Shopify refuses (a customer at 250 tags) is recorded in ``errors``, never raised into the loyalty
operation that caused it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from rivosim.domain.context import ShopContext
from rivosim.domain.events import (
    CustomerJoinedProgram,
    OrderCreated,
    PointsEventCreated,
    RedemptionCreated,
    ReferralCompleted,
    StorefrontActionRecorded,
    TierChanged,
)
from rivosim.domain.rivo.backend import RivoBackend
from rivosim.domain.rivo.models import Member
from rivosim.domain.settings import ShopifySettings
from rivosim.domain.shopify.backend import ShopifyBackend
from rivosim.domain.shopify.models import Order
from rivosim.kernel.errors import SimError

__all__ = ["CUSTOMER_METAFIELD", "ORDER_TAG", "SHOP_METAFIELD", "V2_NAMESPACE", "Writeback"]

CUSTOMER_METAFIELD = ("custom", "rivo")  # rivo-api.md §6.1: customer.metafields.custom.rivo.value
SHOP_METAFIELD = ("rivo", "loy")  # §6.2: shop.metafields.rivo.loy
V2_NAMESPACE = "rivo"  # §6.1 names the v2 keys but not their namespace (INFERRED)
ORDER_TAG = "Rivo"  # §6.3
MAX_ERRORS = 1000


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dumps(value: Any) -> str:
    # Compact, keys sorted, UTF-8 as is (orjson): this runs on every points change.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class Writeback:
    def __init__(self, ctx: ShopContext, shopify: ShopifyBackend, rivo: RivoBackend) -> None:
        self.ctx = ctx
        self.shopify = shopify
        self.rivo = rivo
        self.errors: list[dict[str, Any]] = []
        # The tier tag Rivo last wrote per customer, so a format change still finds the old tag to remove.
        self.tier_tags: dict[int, str] = {}
        self.first_redeemed: dict[int, datetime] = {}
        # Customers whose metafields are due a rewrite: id -> (first, last) change time. Written when anyone
        # next touches Shopify's metafields (see Metafields.settle_metafields), not on every points change.
        self._stale: dict[int, tuple[datetime, datetime]] = {}
        shopify.add_deferred_metafield_writer(self._write_stale)
        bus = ctx.bus
        bus.subscribe(CustomerJoinedProgram, self._on_joined)
        bus.subscribe(PointsEventCreated, lambda e: self.refresh_customer(e.customer_id))
        bus.subscribe(StorefrontActionRecorded, lambda e: self.refresh_customer(e.customer_id))
        bus.subscribe(TierChanged, self._on_tier_changed)
        bus.subscribe(RedemptionCreated, self._on_redemption)
        bus.subscribe(OrderCreated, self._on_order_created)
        bus.subscribe(ReferralCompleted, self._on_referral_completed)

    def options(self) -> ShopifySettings:
        return self.ctx.settings().shopify

    def _failed(self, what: str, exc: SimError, **where: Any) -> None:
        self.errors.append({"at": self.ctx.now().isoformat(), "what": what, "error": exc.message, **where})
        if len(self.errors) > MAX_ERRORS:
            del self.errors[: len(self.errors) - MAX_ERRORS]

    # -- customer metafields ---------------------------------------------------------------------------------
    def customer_metafield_value(self, member: Member) -> dict[str, Any]:
        """The legacy combined object (rivo-api.md §6.1)."""
        tier = self.rivo.tiers.get(member.vip_tier_id) if member.vip_tier_id else None
        return {"points_balance": member.points_tally, "credits_balance": f"{member.credits_tally:.2f}",
                "vip_tier": tier.name if tier else None, "status": member.loyalty_status, "dob": member.dob,
                "dob_last_updated_at": _iso(member.dob_last_updated_at),
                "referral_code": self.rivo.referral_code(member.id)}

    def v2_metafields(self, member: Member) -> list[tuple[str, str, str]]:
        """``(key, type, value)`` of the v2 individual metafields (help 6818475); membership keys are left out
        because memberships are not emulated."""
        out = [("points_balance", "number_integer", str(member.points_tally)),
               ("credits_balance", "number_decimal", f"{member.credits_tally:.2f}"),
               ("loyalty_status", "single_line_text_field", member.loyalty_status),
               ("is_wallet_pass_subscriber", "boolean", "false")]
        if member.loyalty_status == "member":
            out.append(("account_activated_at", "date_time", member.created_at.isoformat()))
        first = self.first_redeemed.get(member.id)
        if first is not None:
            out.append(("first_redeemed_at", "date_time", first.isoformat()))
        return out

    def refresh_customer(self, customer_id: int) -> None:
        """The customer's loyalty data changed: their metafields are rewritten (as the options say) before
        anyone next reads or writes Shopify metafields. What a reader sees is exactly what writing at once
        would have left, with ``updated_at`` the time of the last change; a burst of changes costs one write."""
        now = self.ctx.now()
        stale = self._stale
        seen = stale.get(customer_id)
        stale[customer_id] = (seen[0] if seen is not None else now, now)
        if seen is None:
            self.shopify.metafield_writes_deferred()

    def _write_stale(self) -> None:
        stale, self._stale = self._stale, {}
        for customer_id, (first, last) in stale.items():
            self._write_customer(customer_id, first, last)

    def _write_customer(self, customer_id: int, first: datetime, last: datetime) -> None:
        member = self.rivo.members.get(customer_id)
        if member is None or customer_id not in self.shopify.customers:
            return  # no-op for a customer Shopify does not have (or no longer has)
        opts = self.options()
        sf = self.shopify
        if opts.customer_metafield:
            sf.set_metafield("customer", customer_id, *CUSTOMER_METAFIELD, "json",
                             _dumps(self.customer_metafield_value(member)), at=last, first_at=first)
        if opts.customer_metafields_v2:
            for key, type_, value in self.v2_metafields(member):
                sf.set_metafield("customer", customer_id, V2_NAMESPACE, key, type_, value, at=last, first_at=first)

    def _on_joined(self, event: CustomerJoinedProgram) -> None:
        # Joining places the member in the entry tier without a TierChanged (no upgrade fires): a member who
        # joins while tagging is on still gets that tier's tag.
        member = self.rivo.members.get(event.customer_id)
        if member is not None and member.vip_tier_id is not None and self.options().vip_tier_tags:
            self.apply_tier_tag(member)
        self.refresh_customer(event.customer_id)

    def _on_redemption(self, event: RedemptionCreated) -> None:
        self.first_redeemed.setdefault(event.customer_id, event.at)
        # A free-product reward's code is a Shopify discount: 100 % off one unit of the product, for this
        # customer, once (domain/shopify/discounts.py; the shape is inferred, docs/fidelity.md).
        redemption = self.rivo.redemptions.get(event.redemption_id)
        reward = self.rivo.rewards.get(event.reward_id)
        if redemption is not None and reward is not None and reward.reward_type == "free_product" \
                and redemption.code:
            self.shopify.discount_resource.create_free_product_code(
                redemption.code, customer_id=event.customer_id, product_id=reward.product_id,
                variant_ids=reward.variant_ids, ends_at=redemption.expires_at)

    # -- VIP tier tags ---------------------------------------------------------------------------------------
    def tier_tag(self, tier_name: str) -> str:
        return str(self.options().vip_tier_tag_format).replace("{tier}", tier_name)

    def _tier_tag_pattern(self) -> re.Pattern[str] | None:
        fmt = str(self.options().vip_tier_tag_format)
        literal = fmt.replace("{tier}", "")
        if not literal.strip():
            return None  # a bare "{tier}" format: only tags Rivo wrote or tier names count as tier tags
        parts = [re.escape(p) for p in fmt.split("{tier}")]
        return re.compile("^" + "(.+)".join(parts) + "$", re.IGNORECASE)

    def _is_tier_tag(self, tag: str, customer_id: int, pattern: re.Pattern[str] | None) -> bool:
        if self.tier_tags.get(customer_id, "").casefold() == tag.casefold():
            return True
        if pattern is not None:
            return pattern.match(tag) is not None
        return any(tier.name.casefold() == tag.casefold() for tier in self.rivo.tiers.values())

    def apply_tier_tag(self, member: Member) -> bool:
        """Give the customer exactly the tag of their current tier (old tier tags removed). True if changed."""
        customer = self.shopify.customers.get(member.id)
        if customer is None:
            return False
        tier = self.rivo.tiers.get(member.vip_tier_id) if member.vip_tier_id and self.rivo.vip_available() else None
        wanted = self.tier_tag(tier.name) if tier is not None else None
        pattern = self._tier_tag_pattern()
        keep = [t for t in customer.tags if t == wanted or not self._is_tier_tag(t, member.id, pattern)]
        if wanted is not None and wanted not in keep:
            keep.append(wanted)
        if keep == customer.tags:
            return False
        try:
            self.shopify.update_customer(member.id, {"tags": keep})
        except SimError as exc:
            self._failed("vip_tier_tag", exc, customer_id=member.id)
            return False
        if wanted is not None:
            self.tier_tags[member.id] = wanted
        else:
            self.tier_tags.pop(member.id, None)
        return True

    def tier_names(self) -> dict[int, tuple[str | None, bool]]:
        """Each member's tier name (None: none) and whether VIP is on: what tags and metafields show of tiers."""
        tiers, available = self.rivo.tiers, self.rivo.vip_available()
        return {m.id: (tiers[m.vip_tier_id].name if m.vip_tier_id in tiers else None, available)
                for m in self.rivo.members.values()}

    def follow_tier_changes(self, before: dict[int, tuple[str | None, bool]]) -> None:
        """A configuration change moved members between tiers without a ``TierChanged`` (their tier was removed,
        renamed, or every tier emptied; VIP turned off): their tier tags (when tagging is on) and metafields follow
        it, so no customer keeps a tag such as ``Rivo VIP Tier: Gold`` of a tier that no longer exists."""
        tags_on = self.options().vip_tier_tags
        for member_id, (name, available) in self.tier_names().items():
            was_name, was_available = before.get(member_id, (None, available))
            if tags_on and (was_name if was_available else None) != (name if available else None):
                self.apply_tier_tag(self.rivo.members[member_id])
            if was_name != name:
                self.refresh_customer(member_id)

    def _on_tier_changed(self, event: TierChanged) -> None:
        member = self.rivo.members.get(event.customer_id)
        if member is None:
            return
        if self.options().vip_tier_tags:
            self.apply_tier_tag(member)
        self.refresh_customer(member.id)

    # -- order tags ------------------------------------------------------------------------------------------
    def is_rivo_order(self, order: Order, referral_orders: Iterable[int] = ()) -> bool:
        """An order that used a Rivo reward or referral discount code, or completed a referral (§6.3)."""
        if order.id in referral_orders:
            return True
        rivo = self.rivo
        return any(rivo.redemption_for_code(code) is not None or rivo.referral_for_code(code) is not None
                   for code in order.discount_codes)

    def tag_order(self, order_id: int) -> bool:
        order = self.shopify.orders.get(order_id)
        if order is None or any(t.casefold() == ORDER_TAG.casefold() for t in order.tags):
            return False
        try:
            self.shopify.add_order_tags(order_id, ORDER_TAG)
        except SimError as exc:
            self._failed("order_tag", exc, order_id=order_id)
            return False
        return True

    def _on_order_created(self, event: OrderCreated) -> None:
        if event.discount_codes and self.options().order_tags:
            order = self.shopify.orders.get(event.order_id)
            if order is not None and self.is_rivo_order(order):
                self.tag_order(order.id)

    def _on_referral_completed(self, event: ReferralCompleted) -> None:
        referral = self.rivo.referrals.get(event.referral_id)
        if referral is not None and referral.referred_order_id is not None and self.options().order_tags:
            self.tag_order(referral.referred_order_id)

    # -- shop metafield --------------------------------------------------------------------------------------
    def shop_metafield_value(self) -> dict[str, Any]:
        """The shop-level object the storefront widget reads (rivo-api.md §6.2), from the live program."""
        program = self.ctx.settings().program
        rivo = self.rivo
        order_rule = rivo.find_rule("order_placed")
        return {
            "points_program": {
                "enabled": program.active,
                "ways_to_earn": [{"id": r.id, "trigger": r.trigger, "name": r.name, "points_amount": r.points_amount,
                                  "credits_amount": f"{r.credits_amount:.2f}"}
                                 for r in rivo.list_earning_rules() if r.enabled],
                "points_rewards": [{"id": r.id, "name": r.name, "points_amount": r.points_amount,
                                    "reward_type": r.reward_type, "reward_value": f"{r.reward_value:.2f}"}
                                   for r in rivo.list_rewards() if r.enabled],
                "points_expiry_enabled": program.expiry.enabled,
            },
            "vip_program": {
                "enabled": rivo.vip_available(), "tier_type": program.vip.entry_method,
                "program_period": program.vip.period,
                "tiers": [{"id": t.id, "name": t.name, "threshold": f"{t.threshold:f}", "perks": list(t.perks)}
                          for t in rivo.list_tiers()],
            },
            "referral_program": {
                "enabled": program.referrals.enabled,
                "referral_rewards": [{"side": "advocate", "points_amount": program.referrals.advocate_points},
                                     {"side": "friend", "reward": program.referrals.friend_discount}],
                "social_settings": [], "customer_account_required": False,
            },
            "translations": {"points_name": program.points_name},
            "frontend": {
                "pages": {}, "forms": {}, "brand_theme_settings": {}, "launcher_style_settings": {},
                "custom_icons": {}, "css": {"widget": "", "custom": ""},
                "potential_points": {"order_placed": None if order_rule is None else {
                    "points_amount": order_rule.points_amount,
                    "currency_base_amount": f"{order_rule.currency_base_amount or 1:f}"}},
            },
        }

    def write_shop_metafield(self) -> None:
        self.shopify.set_metafield("shop", self.shopify.shop_id, *SHOP_METAFIELD, "json",
                                   _dumps(self.shop_metafield_value()))

    def shop_metafield_is_current(self) -> bool:
        mf = self.shopify.find_metafield("shop", self.shopify.shop_id, *SHOP_METAFIELD)
        return mf is not None and mf.value == _dumps(self.shop_metafield_value())

    # -- backfill (the tagging sync) -------------------------------------------------------------------------
    def backfill_customers(self, customer_ids: Iterable[int]) -> int:
        """Tier tags (when tagging is on) and metafields for these customers; returns how many tags changed."""
        tags_on = self.options().vip_tier_tags
        changed = 0
        for cid in customer_ids:
            member = self.rivo.members.get(cid)
            if member is None:
                continue
            if tags_on and self.apply_tier_tag(member):
                changed += 1
            self.refresh_customer(cid)
        return changed

    def backfill_orders(self) -> int:
        """The ``Rivo`` tag on every order that earned it (when order tagging is on); returns how many."""
        if not self.options().order_tags:
            return 0
        referral_orders = {r.referred_order_id for r in self.rivo.referrals.values()
                           if r.status == "completed" and r.referred_order_id is not None}
        return sum(1 for order in list(self.shopify.orders.values())
                   if self.is_rivo_order(order, referral_orders) and self.tag_order(order.id))
