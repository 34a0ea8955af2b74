"""Discounts on the Shopify side: price rules and their discount codes (the Admin REST ``PriceRule`` and
``DiscountCode`` resources), and what a code does to an order placed with it.

Rivo makes one when a free-product reward is redeemed (rivo-api.md §3.4: the redemption "creates a discount code
in Shopify", confirmed; the discount's shape is not recorded, so it is inferred from what the reward says): the
redemption's code, 100 % off one unit of the reward's product (or one of its variants), for the redeeming
customer only, once. An order placed with the code gets that line free; a code used up, used by another customer
or on an order without the product is refused and the order is not placed (a checkout would not apply it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from rivosim.domain.context import ShopContext
from rivosim.domain.shopify.models import DiscountCode, LineItem
from rivosim.kernel.errors import NotFound, ValidationFailed

__all__ = ["Discounts", "PriceRule", "PriceRuleCode"]


@dataclass(slots=True, eq=False)
class PriceRuleCode:
    id: int
    price_rule_id: int
    code: str
    created_at: datetime
    updated_at: datetime
    usage_count: int = 0


@dataclass(slots=True, eq=False)
class PriceRule:
    """A Shopify price rule, field for field as the Admin REST resource names them."""

    id: int
    title: str
    value_type: str  # percentage | fixed_amount
    value: Decimal  # negative, as Shopify writes it: -100.0 is 100 % off
    target_type: str  # line_item | shipping_line
    target_selection: str  # entitled | all
    allocation_method: str  # each | across
    customer_selection: str  # prerequisite | all
    created_at: datetime
    updated_at: datetime
    starts_at: datetime
    ends_at: datetime | None = None
    allocation_limit: int | None = None
    once_per_customer: bool = False
    usage_limit: int | None = None
    prerequisite_customer_ids: tuple[int, ...] = ()
    entitled_product_ids: tuple[int, ...] = ()
    entitled_variant_ids: tuple[int, ...] = ()
    codes: list[PriceRuleCode] = field(default_factory=list)


class Discounts:
    """The shop's price rules and an index of their codes (case-insensitive, as checkout matches them)."""

    def __init__(self, ctx: ShopContext) -> None:
        self.ctx = ctx
        self.price_rules: dict[int, PriceRule] = {}
        self._by_code: dict[str, PriceRuleCode] = {}

    def create_free_product_code(self, code: str, *, customer_id: int, product_id: int | None,
                                 variant_ids: Sequence[int], ends_at: datetime | None) -> PriceRule:
        """The discount a free-product redemption makes: ``code``, 100 % off one unit of the product (any of
        ``variant_ids`` when given; any product when the reward names none), for ``customer_id`` only, once."""
        now = self.ctx.now()
        rule = PriceRule(
            id=self.ctx.ids.next("shopify_price_rule"), title=code, value_type="percentage", value=Decimal("-100.0"),
            target_type="line_item", target_selection="entitled" if product_id is not None else "all",
            allocation_method="each", customer_selection="prerequisite", created_at=now, updated_at=now,
            starts_at=now, ends_at=ends_at, allocation_limit=1, once_per_customer=True, usage_limit=1,
            prerequisite_customer_ids=(customer_id,),
            entitled_product_ids=(product_id,) if product_id is not None else (),
            entitled_variant_ids=tuple(variant_ids))
        record = PriceRuleCode(id=self.ctx.ids.next("shopify_discount_code"), price_rule_id=rule.id, code=code,
                               created_at=now, updated_at=now)
        rule.codes.append(record)
        self.price_rules[rule.id] = rule
        self._by_code[code.casefold()] = record
        return rule

    def get_price_rule(self, rule_id: int) -> PriceRule:
        rule = self.price_rules.get(rule_id)
        if rule is None:
            raise NotFound(f"no price rule with id {rule_id}", resource="price_rule", id=rule_id)
        return rule

    def lookup(self, code: str) -> PriceRuleCode | None:
        return self._by_code.get(code.strip().casefold())

    # -- checkout --------------------------------------------------------------------------------------------
    def apply(self, codes: list[DiscountCode], customer_id: int | None, lines: list[LineItem]) -> list[PriceRuleCode]:
        """Price each code that belongs to a price rule from the rule (amount, type, the lines it makes free);
        refuse a code the order may not use. Changes nothing but ``codes`` and ``lines``: the caller counts the
        uses (:meth:`count_uses`) once the order is placed."""
        used: list[PriceRuleCode] = []
        now = self.ctx.now()
        for i, detail in enumerate(codes):
            record = self.lookup(detail.code)
            if record is None:
                continue
            rule = self.price_rules[record.price_rule_id]
            where = f"discount_codes[{i}]"
            if rule.usage_limit is not None and record.usage_count >= rule.usage_limit:
                raise ValidationFailed(f"discount code {detail.code} has already been used", field=where)
            if rule.ends_at is not None and now >= rule.ends_at:
                raise ValidationFailed(f"discount code {detail.code} expired at {rule.ends_at.isoformat()}",
                                       field=where)
            if rule.customer_selection == "prerequisite" and customer_id not in rule.prerequisite_customer_ids:
                buyer = f"this order's customer is {customer_id}" if customer_id is not None else \
                    "this order has no customer"
                raise ValidationFailed(f"discount code {detail.code} belongs to customer "
                                       f"{', '.join(map(str, rule.prerequisite_customer_ids))}; {buyer}", field=where)
            index = sum(1 for d in codes[:i] if d.application is not None)  # its place in discount_applications
            amount = self._allocate(rule, lines, index)
            if amount is None:
                wanted = f"product {', '.join(map(str, rule.entitled_product_ids))}"
                if rule.entitled_variant_ids:
                    wanted += f" (variant {', '.join(map(str, rule.entitled_variant_ids))})"
                raise ValidationFailed(f"discount code {detail.code} makes {wanted} free; no line item of this "
                                       "order is that product", field=where)
            detail.amount, detail.type = amount, rule.value_type
            detail.application = {"type": "discount_code", "code": detail.code, "value": f"{-rule.value:.1f}",
                                  "value_type": rule.value_type, "allocation_method": rule.allocation_method,
                                  "target_selection": rule.target_selection, "target_type": rule.target_type}
            used.append(record)
        return used

    def _allocate(self, rule: PriceRule, lines: list[LineItem], index: int) -> Decimal | None:
        """Discount the entitled lines, ``allocation_limit`` units in all; None if no line is entitled."""
        left = rule.allocation_limit if rule.allocation_limit is not None else 10**9
        share = -rule.value / Decimal(100)
        total: Decimal | None = None
        for line in lines:
            if left <= 0:
                break
            if rule.target_selection == "entitled" and (
                    line.product_id not in rule.entitled_product_ids
                    or (rule.entitled_variant_ids and line.variant_id not in rule.entitled_variant_ids)):
                continue
            units = min(line.quantity, left)
            off = (line.price * units * share).quantize(Decimal("0.01"))
            line.discount_allocations.append((index, off))
            left -= units
            total = (total or Decimal("0.00")) + off
        return total

    def count_uses(self, used: list[PriceRuleCode]) -> None:
        now = self.ctx.now()
        for record in used:
            record.usage_count += 1
            record.updated_at = now
