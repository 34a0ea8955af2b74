"""``ShopifyBackend``: one shop's Shopify customers and orders, publishing what happens to them as events.

Operations are named after the Admin API's and refuse bad input before changing anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ...errors import AlreadyExists, Conflict, NotFound, ValidationFailed
from ..context import ShopContext
from ..events import (
    CustomerCreated,
    CustomerDeleted,
    CustomerUpdated,
    OrderCancelled,
    OrderCreated,
    OrderLine,
    OrderPaid,
    OrderRefunded,
)
from .models import LineItem, Metafield, Order, Refund, ShopifyCustomer, Transaction

__all__ = ["ShopifyBackend", "money", "normalize_tags"]

CENT = Decimal("0.01")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_CUSTOMER_TAGS = 250
MAX_CUSTOMER_TAG_LENGTH = 255
MAX_ORDER_TAG_LENGTH = 40
MAX_MONEY = Decimal("1000000000")  # per amount; 250 lines x 10,000 units of this still fit Decimal's precision


def money(value: Any, field: str = "amount") -> Decimal:
    """A non-negative money amount rounded to cents; refuses anything that is not a number."""
    if isinstance(value, bool):
        raise ValidationFailed(f"{field} must be a number", field=field)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationFailed(f"{field} must be a number, got {value!r}", field=field) from exc
    if not amount.is_finite() or amount < 0:
        raise ValidationFailed(f"{field} must be a non-negative number", field=field)
    if amount > MAX_MONEY:
        # Also keeps quantize() inside Decimal's precision (``1e999`` would raise InvalidOperation there).
        raise ValidationFailed(f"{field} must be at most {MAX_MONEY}", field=field)
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def normalize_tags(raw: str | Iterable[str] | None, *, case_sensitive: bool = False, sort: bool = True,
                   max_count: int | None = MAX_CUSTOMER_TAGS, max_length: int = MAX_CUSTOMER_TAG_LENGTH,
                   field: str = "tags") -> list[str]:
    """Shopify's tag rules (shopify-api.md §5): split on commas, trim, drop empties, de-duplicate
    (case-insensitively unless configured), keep the first casing seen, optionally sort."""
    if raw is None:
        return []
    if isinstance(raw, str):
        pieces = raw.split(",")
    else:
        pieces = []
        for item in raw:
            if not isinstance(item, str):
                raise ValidationFailed(f"{field} must be strings", field=field)
            pieces.extend(item.split(","))
    seen: set[str] = set()
    out: list[str] = []
    for piece in pieces:
        tag = piece.strip()
        if not tag:
            continue
        if len(tag) > max_length:
            raise ValidationFailed(f"{field}: tag {tag[:20]!r}... is longer than {max_length} characters",
                                   field=field)
        key = tag if case_sensitive else tag.casefold()
        if key in seen:
            continue
        seen.add(key)
        out.append(tag)
    if max_count is not None and len(out) > max_count:
        raise ValidationFailed(f"{field}: a customer can have at most {max_count} tags", field=field)
    if sort:
        out.sort(key=str.casefold)
    return out


class ShopifyBackend:
    """Customers and orders of one shop."""

    def __init__(self, ctx: ShopContext) -> None:
        self.ctx = ctx
        self.customers: dict[int, ShopifyCustomer] = {}
        self._by_email: dict[str, int] = {}
        self.orders: dict[int, Order] = {}
        self.metafields: dict[int, Metafield] = {}
        self._order_number = 1000

    # -- helpers -----------------------------------------------------------------------------------------
    def _tags(self, raw: Any, *, order: bool = False) -> list[str]:
        opts = self.ctx.config()["shopify"]
        if raw is not None and not isinstance(raw, str | list | tuple):
            raise ValidationFailed("tags must be a comma-separated string or a list of strings", field="tags")
        return normalize_tags(
            raw, case_sensitive=opts["tags_case_sensitive"], sort=opts["sort_tags"],
            max_count=None if order else MAX_CUSTOMER_TAGS,
            max_length=MAX_ORDER_TAG_LENGTH if order else MAX_CUSTOMER_TAG_LENGTH,
        )

    @staticmethod
    def _email(value: Any) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str) or not _EMAIL_RE.match(value.strip()):
            raise ValidationFailed(f"email {value!r} is invalid", field="email")
        return value.strip()

    @staticmethod
    def _name(value: Any, field: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or len(value) > 255:
            raise ValidationFailed(f"{field} must be a string of at most 255 characters", field=field)
        return value

    # -- customers ---------------------------------------------------------------------------------------
    def get_customer(self, customer_id: int) -> ShopifyCustomer:
        customer = self.customers.get(customer_id)
        if customer is None:
            raise NotFound(f"no Shopify customer with id {customer_id}", resource="customer", id=customer_id)
        return customer

    def find_customer_by_email(self, email: str) -> ShopifyCustomer | None:
        cid = self._by_email.get(email.strip().casefold())
        return self.customers.get(cid) if cid is not None else None

    def create_customer(self, *, email: Any = None, first_name: Any = None, last_name: Any = None,
                        phone: Any = None, tags: Any = None, accepts_marketing: Any = False,
                        accepts_sms: Any = False, verified_email: Any = True, note: Any = None,
                        joins_program: bool = True, dob: str | None = None,
                        created_at: datetime | None = None) -> ShopifyCustomer:
        """Create a customer and publish ``CustomerCreated`` (Rivo mirrors it into the program)."""
        email_value = self._email(email)
        if email_value and email_value.casefold() in self._by_email:
            raise AlreadyExists("email has already been taken", field="email")
        for flag_name, flag in (("accepts_marketing", accepts_marketing), ("accepts_sms", accepts_sms),
                                ("verified_email", verified_email)):
            if not isinstance(flag, bool):
                raise ValidationFailed(f"{flag_name} must be true or false", field=flag_name)
        first = self._name(first_name, "first_name")
        last = self._name(last_name, "last_name")
        phone_value = self._name(phone, "phone")  # checked before an id is taken: a refusal changes nothing
        tag_list = self._tags(tags)
        if note is not None and not isinstance(note, str):
            raise ValidationFailed("note must be a string", field="note")
        now = created_at or self.ctx.now()
        customer = ShopifyCustomer(
            id=self.ctx.ids.next("shopify_customer"), email=email_value, first_name=first, last_name=last,
            created_at=now, updated_at=now, phone=phone_value, tags=tag_list,
            accepts_marketing=accepts_marketing, accepts_sms=accepts_sms, verified_email=verified_email,
            note=note,
        )
        self._insert(customer)
        self.ctx.bus.publish(CustomerCreated(
            shop=self.ctx.domain, at=now, customer_id=customer.id, email=customer.email,
            first_name=first, last_name=last, accepts_marketing=accepts_marketing,
            verified_email=verified_email, tags=tuple(tag_list), joins_program=joins_program, dob=dob,
        ))
        return customer

    def _insert(self, customer: ShopifyCustomer) -> None:
        self.customers[customer.id] = customer
        if customer.email:
            self._by_email[customer.email.casefold()] = customer.id

    def update_customer(self, customer_id: int, changes: dict[str, Any]) -> ShopifyCustomer:
        """Apply ``changes``; a ``tags`` value replaces the whole set, as the REST API does."""
        customer = self.get_customer(customer_id)
        staged: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "email":
                email_value = self._email(value)
                owner = self._by_email.get(email_value.casefold()) if email_value else None
                if owner is not None and owner != customer_id:
                    raise AlreadyExists("email has already been taken", field="email")
                staged[key] = email_value
            elif key in ("first_name", "last_name", "phone", "note"):
                staged[key] = self._name(value, key)
            elif key == "tags":
                staged[key] = self._tags(value)
            elif key in ("accepts_marketing", "accepts_sms", "verified_email"):
                if not isinstance(value, bool):
                    raise ValidationFailed(f"{key} must be true or false", field=key)
                staged[key] = value
            elif key == "state":
                if value not in ("enabled", "disabled", "invited", "declined"):
                    raise ValidationFailed("state is not valid", field="state")
                staged[key] = value
            else:
                raise ValidationFailed(f"{key} cannot be changed", field=key)
        if not staged:
            return customer
        if "email" in staged and customer.email:
            self._by_email.pop(customer.email.casefold(), None)
        for key, value in staged.items():
            setattr(customer, key, value)
        if customer.email:
            self._by_email[customer.email.casefold()] = customer.id
        customer.updated_at = self.ctx.now()
        self.ctx.bus.publish(CustomerUpdated(shop=self.ctx.domain, at=customer.updated_at,
                                             customer_id=customer.id, changes=dict(staged)))
        return customer

    def add_tags(self, customer_id: int, tags: Any) -> ShopifyCustomer:
        customer = self.get_customer(customer_id)
        return self.update_customer(customer_id, {"tags": [*customer.tags, *self._tags(tags)]})

    def remove_tags(self, customer_id: int, tags: Any) -> ShopifyCustomer:
        customer = self.get_customer(customer_id)
        case_sensitive = self.ctx.config()["shopify"]["tags_case_sensitive"]
        drop = {t if case_sensitive else t.casefold() for t in self._tags(tags)}
        keep = [t for t in customer.tags if (t if case_sensitive else t.casefold()) not in drop]
        return self.update_customer(customer_id, {"tags": keep})

    def delete_customer(self, customer_id: int) -> None:
        customer = self.get_customer(customer_id)
        if any(o.customer_id == customer_id for o in self.orders.values()):
            raise Conflict("Error deleting customer: customer has orders", field="customer")
        del self.customers[customer_id]
        if customer.email:
            self._by_email.pop(customer.email.casefold(), None)
        self.ctx.bus.publish(CustomerDeleted(shop=self.ctx.domain, at=self.ctx.now(), customer_id=customer_id))

    def iter_customers(self) -> Iterator[ShopifyCustomer]:
        return iter(self.customers.values())

    # -- orders ------------------------------------------------------------------------------------------
    def get_order(self, order_id: int) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise NotFound(f"no order with id {order_id}", resource="order", id=order_id)
        return order

    def create_order(self, *, customer_id: int | None, line_items: list[dict[str, Any]],
                     discount_codes: list[str] | None = None, total_discounts: Any = 0, total_tax: Any = 0,
                     tags: Any = None, note: str | None = None, paid: bool = False,
                     source_name: str = "web") -> Order:
        """Place an order. ``paid=True`` captures payment at once (``OrderPaid`` follows ``OrderCreated``)."""
        customer = self.get_customer(customer_id) if customer_id is not None else None
        if not isinstance(line_items, list) or not line_items:
            raise ValidationFailed("line_items must be a non-empty list", field="line_items")
        if len(line_items) > 250:
            raise ValidationFailed("line_items can have at most 250 entries", field="line_items")
        lines: list[LineItem] = []
        for i, raw in enumerate(line_items):
            where = f"line_items[{i}]"
            if not isinstance(raw, dict):
                raise ValidationFailed(f"{where} must be an object", field=where)
            qty = raw.get("quantity", 1)
            if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= 10_000:
                raise ValidationFailed(f"{where}.quantity must be an integer from 1 to 10000",
                                       field=f"{where}.quantity")
            title = raw.get("title", "Item")
            if not isinstance(title, str) or not title:
                raise ValidationFailed(f"{where}.title must be a non-empty string", field=f"{where}.title")
            product_id = raw.get("product_id")
            variant_id = raw.get("variant_id")
            for name, value in (("product_id", product_id), ("variant_id", variant_id)):
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                    raise ValidationFailed(f"{where}.{name} must be an integer", field=f"{where}.{name}")
            sku = raw.get("sku")
            if sku is not None and not isinstance(sku, str):
                raise ValidationFailed(f"{where}.sku must be a string", field=f"{where}.sku")
            lines.append(LineItem(
                id=0, product_id=product_id, variant_id=variant_id, title=title, quantity=qty,
                price=money(raw.get("price", "0"), f"{where}.price"), sku=sku,
            ))
        discounts = money(total_discounts, "total_discounts")
        tax = money(total_tax, "total_tax")
        subtotal = sum((line.price * line.quantity for line in lines), Decimal("0.00")) - discounts
        if subtotal < 0:
            raise ValidationFailed("total_discounts cannot exceed the line items' total", field="total_discounts")
        if discount_codes is not None and not isinstance(discount_codes, list | tuple):
            # A bare string would otherwise be split into one "code" per character.
            raise ValidationFailed("discount_codes must be a list of codes", field="discount_codes")
        codes = list(discount_codes or [])
        if not all(isinstance(c, str) and c for c in codes):
            raise ValidationFailed("discount_codes must be non-empty strings", field="discount_codes")
        if note is not None and not isinstance(note, str):
            raise ValidationFailed("note must be a string", field="note")
        order_tags = self._tags(tags, order=True)
        # All input checked: from here on nothing can refuse.
        now = self.ctx.now()
        for line in lines:
            line.id = self.ctx.ids.next("shopify_line_item")
        self._order_number += 1
        order = Order(
            id=self.ctx.ids.next("shopify_order"), number=self._order_number,
            customer_id=customer.id if customer else None, email=customer.email if customer else None,
            line_items=lines, currency=self.ctx.config()["currency"], subtotal_price=subtotal,
            total_discounts=discounts, total_tax=tax, total_price=subtotal + tax, created_at=now,
            updated_at=now, processed_at=now, tags=order_tags, note=note, discount_codes=codes,
            source_name=source_name,
        )
        self.orders[order.id] = order
        if customer is not None:
            customer.orders_count += 1
            customer.last_order_id = order.id
            customer.last_order_name = order.name
            customer.updated_at = now
        self.ctx.bus.publish(OrderCreated(
            shop=self.ctx.domain, at=now, order_id=order.id, customer_id=order.customer_id,
            subtotal=subtotal, lines=self._event_lines(order), discount_codes=tuple(codes),
        ))
        if paid:
            self.pay_order(order.id)
        return order

    @staticmethod
    def _event_lines(order: Order) -> tuple[OrderLine, ...]:
        return tuple(OrderLine(product_id=li.product_id, variant_id=li.variant_id, title=li.title,
                               quantity=li.quantity, price=li.price) for li in order.line_items)

    def pay_order(self, order_id: int) -> Order:
        """Capture payment: the order becomes ``paid`` and ``OrderPaid`` is published."""
        order = self.get_order(order_id)
        if order.cancelled_at is not None:
            raise Conflict("a cancelled order cannot be paid", field="order")
        if order.financial_status in ("paid", "partially_refunded", "refunded"):
            raise Conflict(f"order {order.name} is already {order.financial_status}", field="order")
        now = self.ctx.now()
        order.transactions.append(Transaction(id=self.ctx.ids.next("shopify_transaction"), kind="sale",
                                              status="success", amount=order.total_price, created_at=now))
        order.financial_status = "paid"
        order.updated_at = now
        if order.customer_id is not None and (customer := self.customers.get(order.customer_id)):
            customer.total_spent += order.total_price
            customer.updated_at = now
        self.ctx.bus.publish(OrderPaid(
            shop=self.ctx.domain, at=now, order_id=order.id, customer_id=order.customer_id,
            subtotal=order.subtotal_price, total=order.total_price, lines=self._event_lines(order),
            discount_codes=tuple(order.discount_codes),
        ))
        return order

    def refund_order(self, order_id: int, amount: Any = None, note: str | None = None) -> Refund:
        """Refund part or all (``amount=None``) of what was paid; publishes ``OrderRefunded``."""
        order = self.get_order(order_id)
        if order.financial_status not in ("paid", "partially_refunded"):
            raise Conflict(f"order {order.name} has nothing to refund (it is {order.financial_status})",
                           field="order")
        remaining = order.total_price - order.refunded_amount
        value = remaining if amount is None else money(amount)
        if value <= 0:
            raise ValidationFailed("a refund amount must be greater than 0", field="amount")
        if value > remaining:
            raise ValidationFailed(f"the refund amount {value} exceeds the refundable {remaining}", field="amount")
        now = self.ctx.now()
        txn = Transaction(id=self.ctx.ids.next("shopify_transaction"), kind="refund", status="success",
                          amount=value, created_at=now, parent_id=order.transactions[0].id if order.transactions
                          else None)
        order.transactions.append(txn)
        refund = Refund(id=self.ctx.ids.next("shopify_refund"), amount=value, created_at=now, note=note,
                        transaction_id=txn.id)
        order.refunds.append(refund)
        fully = order.refunded_amount >= order.total_price
        order.financial_status = "refunded" if fully else "partially_refunded"
        order.updated_at = now
        if order.customer_id is not None and (customer := self.customers.get(order.customer_id)):
            customer.total_spent = max(Decimal("0.00"), customer.total_spent - value)
            customer.updated_at = now
        self.ctx.bus.publish(OrderRefunded(shop=self.ctx.domain, at=now, order_id=order.id,
                                           customer_id=order.customer_id, amount=value, refund_id=refund.id,
                                           fully_refunded=fully))
        return refund

    def cancel_order(self, order_id: int, reason: str = "customer") -> Order:
        """Cancel an order, refunding whatever was paid first (as Shopify's cancel with refund does)."""
        order = self.get_order(order_id)
        if order.cancelled_at is not None:
            raise Conflict(f"order {order.name} is already cancelled", field="order")
        if reason not in ("customer", "fraud", "inventory", "declined", "other", "staff"):
            raise ValidationFailed("reason must be customer, fraud, inventory, declined, staff or other",
                                   field="reason")
        was_paid = order.financial_status in ("paid", "partially_refunded")
        if was_paid and order.total_price > order.refunded_amount:
            self.refund_order(order_id, note="cancelled")
        now = self.ctx.now()
        if order.financial_status == "pending":
            order.financial_status = "voided"
        order.cancelled_at = now
        order.cancel_reason = reason
        order.closed_at = now
        order.updated_at = now
        self.ctx.bus.publish(OrderCancelled(shop=self.ctx.domain, at=now, order_id=order.id,
                                            customer_id=order.customer_id, was_paid=was_paid))
        return order

    def add_order_tags(self, order_id: int, tags: Any) -> Order:
        order = self.get_order(order_id)
        order.tags = self._tags([*order.tags, *self._tags(tags, order=True)], order=True)
        order.updated_at = self.ctx.now()
        return order

    # -- metafields --------------------------------------------------------------------------------------
    def set_metafield(self, owner_resource: str, owner_id: int, namespace: str, key: str, type_: str,
                      value: str) -> Metafield:
        """Create or update the metafield (owner, namespace, key) — an upsert, like ``metafieldsSet``."""
        now = self.ctx.now()
        for mf in self.metafields.values():
            if (mf.owner_resource, mf.owner_id, mf.namespace, mf.key) == (owner_resource, owner_id, namespace, key):
                mf.type, mf.value, mf.updated_at = type_, value, now
                return mf
        mf = Metafield(id=self.ctx.ids.next("shopify_metafield"), owner_resource=owner_resource,
                       owner_id=owner_id, namespace=namespace, key=key, type=type_, value=value,
                       created_at=now, updated_at=now)
        self.metafields[mf.id] = mf
        return mf

    def metafields_of(self, owner_resource: str, owner_id: int) -> list[Metafield]:
        return [m for m in self.metafields.values() if m.owner_resource == owner_resource and m.owner_id == owner_id]
