"""Orders: placing one (pending, authorized or paid), transactions (sale, authorization, capture, void,
refund), refunds, cancellation, closing and re-opening, and tag/note updates.

A capture or sale that settles the order makes it ``paid`` and publishes ``OrderPaid`` (the ``orders/paid``
webhook); refunds and cancellations publish what Rivo reverses points on.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.events import OrderCancelled, OrderCreated, OrderLine, OrderPaid, OrderRefunded, OrderUpdated
from rivosim.domain.shopify.customers import Customers
from rivosim.domain.shopify.discounts import Discounts
from rivosim.domain.shopify.models import DiscountCode, LineItem, Order, Refund, Transaction
from rivosim.domain.shopify.state import ShopifyResource
from rivosim.domain.shopify.values import money
from rivosim.kernel.errors import Conflict, NotFound, ValidationFailed

__all__ = ["CANCEL_REASONS", "Orders"]

CANCEL_REASONS = ("customer", "fraud", "inventory", "declined", "other", "staff")
_DISCOUNT_TYPES = ("fixed_amount", "percentage", "shipping")


class Orders(ShopifyResource):
    """The shop's orders and their numbering. Collaborator: the customers (an order's customer must exist, and
    paying or refunding updates the customer's totals)."""

    def __init__(self, ctx: ShopContext, customers: Customers, discounts: Discounts | None = None) -> None:
        super().__init__(ctx)
        self.orders: dict[int, Order] = {}
        self._order_number = 1000
        self._customers = customers
        self._discounts_store = discounts  # price rules: a code of one is priced by it

    def has_orders(self, customer_id: int) -> bool:
        return any(o.customer_id == customer_id for o in self.orders.values())

    def orders_of(self, customer_id: int) -> list[Order]:
        self._customers.get_customer(customer_id)
        return [o for o in self.orders.values() if o.customer_id == customer_id]

    def get_order(self, order_id: int) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise NotFound(f"no order with id {order_id}", resource="order", id=order_id)
        return order

    # -- placing an order ------------------------------------------------------------------------------
    @staticmethod
    def _lines(line_items: Any) -> list[LineItem]:
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
        return lines

    @staticmethod
    def _discounts(codes: Any, details: Any) -> list[DiscountCode]:
        """Discount codes either as bare strings or as ``{"code", "amount", "type"}`` objects."""
        out: list[DiscountCode] = []
        if codes is not None:
            if not isinstance(codes, list | tuple):
                # A bare string would otherwise be split into one "code" per character.
                raise ValidationFailed("discount_codes must be a list of codes", field="discount_codes")
            if not all(isinstance(c, str) and c for c in codes):
                raise ValidationFailed("discount_codes must be non-empty strings", field="discount_codes")
            out.extend(DiscountCode(code=c, amount=Decimal("0.00")) for c in codes)
        for i, raw in enumerate(details or ()):
            where = f"discount_codes[{i}]"
            if not isinstance(raw, dict) or not isinstance(raw.get("code"), str) or not raw["code"].strip():
                raise ValidationFailed(f"{where}.code must be a non-empty string", field=f"{where}.code")
            kind = raw.get("type", "fixed_amount")
            if kind not in _DISCOUNT_TYPES:
                raise ValidationFailed(f"{where}.type must be one of {', '.join(_DISCOUNT_TYPES)}",
                                       field=f"{where}.type")
            out.append(DiscountCode(code=raw["code"].strip(), amount=money(raw.get("amount", "0"), f"{where}.amount"),
                                    type=kind))
        return out

    def create_order(self, *, customer_id: int | None, line_items: list[dict[str, Any]],
                     discount_codes: list[str] | None = None, total_discounts: Any = None, total_tax: Any = 0,
                     tags: Any = None, note: str | None = None, paid: bool = False,
                     source_name: str = "web", financial_status: str | None = None,
                     discount_details: list[dict[str, Any]] | None = None,
                     note_attributes: list[dict[str, str]] | None = None, email: str | None = None,
                     test: bool = False) -> Order:
        """Place an order. ``paid=True`` (or ``financial_status="paid"``) captures payment at once
        (``OrderPaid`` follows ``OrderCreated``); ``"authorized"`` holds an authorization to capture later."""
        customer = self._customers.get_customer(customer_id) if customer_id is not None else None
        lines = self._lines(line_items)
        codes = self._discounts(discount_codes, discount_details)
        ruled = (self._discounts_store.apply(codes, customer.id if customer else None, lines)
                 if self._discounts_store is not None and codes else [])
        status = financial_status or ("paid" if paid else "pending")
        if status not in ("pending", "authorized", "paid"):
            raise ValidationFailed("financial_status must be pending, authorized or paid", field="financial_status")
        # Codes a price rule priced (their lines are discounted) add to what the order states for the others.
        stated = [d for d in codes if d.application is None]
        priced = sum((d.amount for d in codes if d.application is not None), Decimal("0.00"))
        coded = sum((d.amount for d in stated), Decimal("0.00"))
        discounts = money(total_discounts, "total_discounts") if total_discounts is not None else coded
        if stated and total_discounts is not None and not coded:
            stated[0].amount = discounts  # bare codes: the order's discount is the first code's
        discounts += priced
        tax = money(total_tax, "total_tax")
        subtotal = sum((line.price * line.quantity for line in lines), Decimal("0.00")) - discounts
        if subtotal < 0:
            raise ValidationFailed("total_discounts cannot exceed the line items' total", field="total_discounts")
        if note is not None and not isinstance(note, str):
            raise ValidationFailed("note must be a string", field="note")
        attributes = self._note_attributes(note_attributes)
        email_value = self._email(email) if customer is None else customer.email
        order_tags = self._tags(tags, order=True)
        # All input checked: from here on nothing can refuse.
        if ruled and self._discounts_store is not None:
            self._discounts_store.count_uses(ruled)
        now = self.ctx.now()
        for line in lines:
            line.id = self.ctx.ids.next("shopify_line_item")
        self._order_number += 1
        order = Order(
            id=self.ctx.ids.next("shopify_order"), number=self._order_number,
            customer_id=customer.id if customer else None, email=email_value,
            line_items=lines, currency=self.ctx.settings().currency, subtotal_price=subtotal,
            total_discounts=discounts, total_tax=tax, total_price=subtotal + tax, created_at=now,
            updated_at=now, processed_at=now, tags=order_tags, note=note, note_attributes=attributes,
            discount_codes=[d.code for d in codes], discount_details=codes, source_name=source_name, test=test,
        )
        if status == "authorized":
            order.transactions.append(self._transaction("authorization", order.total_price))
            order.financial_status = "authorized"
        self.orders[order.id] = order
        if customer is not None:
            customer.orders_count += 1
            customer.last_order_id = order.id
            customer.last_order_name = order.name
            customer.updated_at = now
        self.ctx.bus.publish(OrderCreated(
            shop=self.ctx.domain, at=now, order_id=order.id, customer_id=order.customer_id,
            subtotal=subtotal, lines=self._event_lines(order), discount_codes=tuple(order.discount_codes),
        ))
        if status == "paid":
            self.pay_order(order.id)
        return order

    @staticmethod
    def _note_attributes(raw: Any) -> list[dict[str, str]]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise ValidationFailed("note_attributes must be a list of {name, value}", field="note_attributes")
        out = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
                raise ValidationFailed(f"note_attributes[{i}].name must be a non-empty string",
                                       field=f"note_attributes[{i}].name")
            value = item.get("value", "")
            out.append({"name": item["name"], "value": value if isinstance(value, str) else str(value)})
        return out

    @staticmethod
    def _event_lines(order: Order) -> tuple[OrderLine, ...]:
        return tuple(OrderLine(product_id=li.product_id, variant_id=li.variant_id, title=li.title,
                               quantity=li.quantity, price=li.price) for li in order.line_items)

    def _transaction(self, kind: str, amount: Decimal, parent_id: int | None = None) -> Transaction:
        return Transaction(id=self.ctx.ids.next("shopify_transaction"), kind=kind, status="success", amount=amount,
                           created_at=self.ctx.now(), parent_id=parent_id)

    # -- payment -------------------------------------------------------------------------------------------
    def pay_order(self, order_id: int) -> Order:
        """Settle the order: a ``sale`` (or, for an authorized order, a ``capture`` of what is left)."""
        order = self.get_order(order_id)
        self._check_payable(order)
        if order.financial_status in ("authorized", "partially_paid"):
            return self.capture_payment(order_id)
        order.transactions.append(self._transaction("sale", order.total_price))
        return self._settled(order)

    def _check_payable(self, order: Order) -> None:
        if order.cancelled_at is not None:
            raise Conflict("a cancelled order cannot be paid", field="order")
        if order.financial_status in ("paid", "partially_refunded", "refunded", "voided"):
            raise Conflict(f"order {order.name} is already {order.financial_status}", field="order")

    def capture_payment(self, order_id: int, amount: Any = None) -> Order:
        """Capture (part of) an authorization; the order becomes ``paid`` once everything is captured."""
        order = self.get_order(order_id)
        self._check_payable(order)
        authorization = next((t for t in order.transactions if t.kind == "authorization"), None)
        if authorization is None:
            raise Conflict(f"order {order.name} has no authorization to capture; use a sale transaction",
                           field="kind")
        value = _part_of(amount, order.authorized_amount - order.captured_amount, "amount", "the uncaptured")
        order.transactions.append(self._transaction("capture", value, authorization.id))
        if order.captured_amount < order.total_price:
            order.financial_status = "partially_paid"
            order.updated_at = self.ctx.now()
            return order
        return self._settled(order)

    def sell(self, order_id: int, amount: Any = None) -> Order:
        """A ``sale`` transaction: pays a pending order in one step (it must cover the whole total)."""
        order = self.get_order(order_id)
        self._check_payable(order)
        if order.financial_status != "pending":
            raise Conflict(f"order {order.name} is {order.financial_status}; capture its authorization instead",
                           field="kind")
        if amount is not None and money(amount) != order.total_price:
            raise ValidationFailed(f"a sale must be for the order's total {order.total_price}", field="amount")
        return self.pay_order(order_id)

    def _settled(self, order: Order) -> Order:
        now = self.ctx.now()
        order.financial_status = "paid"
        order.updated_at = now
        if order.customer_id is not None and (customer := self._customers.customers.get(order.customer_id)):
            customer.total_spent += order.total_price
            customer.updated_at = now
        self.ctx.bus.publish(OrderPaid(
            shop=self.ctx.domain, at=now, order_id=order.id, customer_id=order.customer_id,
            subtotal=order.subtotal_price, total=order.total_price, lines=self._event_lines(order),
            discount_codes=tuple(order.discount_codes),
        ))
        return order

    def void_authorization(self, order_id: int) -> Order:
        order = self.get_order(order_id)
        if order.financial_status != "authorized":
            raise Conflict(f"only an authorized order can be voided; {order.name} is {order.financial_status}",
                           field="kind")
        authorization = next(t for t in order.transactions if t.kind == "authorization")
        order.transactions.append(self._transaction("void", authorization.amount, authorization.id))
        order.financial_status = "voided"
        order.updated_at = self.ctx.now()
        return order

    # -- refunds and cancellation --------------------------------------------------------------------------
    def refund_order(self, order_id: int, amount: Any = None, note: str | None = None) -> Refund:
        """Refund part or all (``amount=None``) of what was paid; publishes ``OrderRefunded``."""
        order = self.get_order(order_id)
        if order.financial_status not in ("paid", "partially_refunded"):
            raise Conflict(f"order {order.name} has nothing to refund (it is {order.financial_status})",
                           field="order")
        value = _part_of(amount, order.total_price - order.refunded_amount, "the refund amount", "the refundable")
        if note is not None and not isinstance(note, str):
            raise ValidationFailed("note must be a string", field="note")
        now = self.ctx.now()
        paid = next((t for t in order.transactions if t.kind in ("sale", "capture")), None)
        txn = self._transaction("refund", value, paid.id if paid else None)
        order.transactions.append(txn)
        refund = Refund(id=self.ctx.ids.next("shopify_refund"), amount=value, created_at=now, note=note,
                        transaction_id=txn.id)
        order.refunds.append(refund)
        fully = order.refunded_amount >= order.total_price
        order.financial_status = "refunded" if fully else "partially_refunded"
        order.updated_at = now
        if order.customer_id is not None and (customer := self._customers.customers.get(order.customer_id)):
            customer.total_spent = max(Decimal("0.00"), customer.total_spent - value)
            customer.updated_at = now
        self.ctx.bus.publish(OrderRefunded(shop=self.ctx.domain, at=now, order_id=order.id,
                                           customer_id=order.customer_id, amount=value, refund_id=refund.id,
                                           fully_refunded=fully))
        return refund

    def get_refund(self, order_id: int, refund_id: int) -> Refund:
        order = self.get_order(order_id)
        for refund in order.refunds:
            if refund.id == refund_id:
                return refund
        raise NotFound(f"order {order.name} has no refund {refund_id}", resource="refund", id=refund_id)

    def cancel_order(self, order_id: int, reason: str = "customer") -> Order:
        """Cancel an order, refunding whatever was paid first (as Shopify's cancel with refund does)."""
        order = self.get_order(order_id)
        if order.cancelled_at is not None:
            raise Conflict(f"order {order.name} is already cancelled", field="order")
        if reason not in CANCEL_REASONS:
            raise ValidationFailed("reason must be customer, fraud, inventory, declined, staff or other",
                                   field="reason")
        was_paid = order.financial_status in ("paid", "partially_refunded")
        if was_paid and order.total_price > order.refunded_amount:
            self.refund_order(order_id, note="cancelled")
        now = self.ctx.now()
        if order.financial_status in ("pending", "authorized"):
            order.financial_status = "voided"
        order.cancelled_at = now
        order.cancel_reason = reason
        order.closed_at = now
        order.updated_at = now
        self.ctx.bus.publish(OrderCancelled(shop=self.ctx.domain, at=now, order_id=order.id,
                                            customer_id=order.customer_id, was_paid=was_paid))
        return order

    def close_order(self, order_id: int) -> Order:
        order = self.get_order(order_id)
        if order.closed_at is None:
            order.closed_at = order.updated_at = self.ctx.now()
            self._updated(order, {"closed_at": order.closed_at})
        return order

    def reopen_order(self, order_id: int) -> Order:
        order = self.get_order(order_id)
        if order.cancelled_at is not None:
            raise Conflict(f"order {order.name} is cancelled and cannot be re-opened", field="order")
        if order.closed_at is not None:
            order.closed_at = None
            order.updated_at = self.ctx.now()
            self._updated(order, {"closed_at": None})
        return order

    # -- updates -------------------------------------------------------------------------------------------
    def update_order(self, order_id: int, changes: dict[str, Any]) -> Order:
        """``PUT /orders/{id}.json``: ``tags`` (replaces the set), ``note``, ``email``, ``note_attributes``."""
        order = self.get_order(order_id)
        staged: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "tags":
                staged[key] = self._tags(value, order=True)
            elif key == "note":
                if value is not None and not isinstance(value, str):
                    raise ValidationFailed("note must be a string", field="note")
                staged[key] = value
            elif key == "email":
                staged[key] = self._email(value)
            elif key == "note_attributes":
                staged[key] = self._note_attributes(value)
            else:
                raise ValidationFailed(f"{key} cannot be changed", field=key)
        staged = {k: v for k, v in staged.items() if getattr(order, k) != v}
        if staged:
            for key, value in staged.items():
                setattr(order, key, value)
            order.updated_at = self.ctx.now()
            self._updated(order, staged)
        return order

    def add_order_tags(self, order_id: int, tags: Any) -> Order:
        order = self.get_order(order_id)
        return self.update_order(order_id, {"tags": [*order.tags, *self._tags(tags, order=True)]})

    def remove_order_tags(self, order_id: int, tags: Any) -> Order:
        order = self.get_order(order_id)
        drop = {self._tag_key(t) for t in self._tags(tags, order=True)}
        return self.update_order(order_id, {"tags": [t for t in order.tags if self._tag_key(t) not in drop]})

    def _updated(self, order: Order, changes: dict[str, Any]) -> None:
        self.ctx.bus.publish(OrderUpdated(shop=self.ctx.domain, at=self.ctx.now(), order_id=order.id,
                                          customer_id=order.customer_id, changes=dict(changes)))


def _part_of(amount: Any, remaining: Decimal, what: str, of: str) -> Decimal:
    """``amount`` (all of ``remaining`` when None), which must be positive and no more than ``remaining``."""
    value = remaining if amount is None else money(amount)
    if value <= 0:
        raise ValidationFailed(f"{what} must be greater than 0", field="amount")
    if value > remaining:
        raise ValidationFailed(f"{what} {value} exceeds {of} {remaining}", field="amount")
    return value
