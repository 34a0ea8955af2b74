"""Customers: create, update (a ``tags`` value replaces the whole set), tag add/remove, delete, search.

Every operation refuses bad input before changing anything and publishes what happened as an event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.events import CustomerCreated, CustomerDeleted, CustomerUpdated
from rivosim.domain.shopify.models import ShopifyCustomer
from rivosim.domain.shopify.search import parse_customer_query
from rivosim.domain.shopify.state import ShopifyResource
from rivosim.kernel.errors import AlreadyExists, Conflict, NotFound, ValidationFailed

__all__ = ["CUSTOMER_STATES", "Customers"]

CUSTOMER_STATES = ("enabled", "disabled", "invited", "declined")


class Customers(ShopifyResource):
    """The shop's customers, by id and by email. Collaborators: whether a customer has orders (a customer with
    orders cannot be deleted) and the metafield store (a deleted customer's metafields go with it)."""

    def __init__(self, ctx: ShopContext, *, has_orders: Callable[[int], bool],
                 drop_metafields_of: Callable[[str, int], None]) -> None:
        super().__init__(ctx)
        self.customers: dict[int, ShopifyCustomer] = {}
        self.by_email: dict[str, int] = {}
        self._has_orders = has_orders
        self._drop_metafields_of = drop_metafields_of

    def get_customer(self, customer_id: int) -> ShopifyCustomer:
        customer = self.customers.get(customer_id)
        if customer is None:
            raise NotFound(f"no Shopify customer with id {customer_id}", resource="customer", id=customer_id)
        return customer

    def find_customer_by_email(self, email: str) -> ShopifyCustomer | None:
        cid = self.by_email.get(email.strip().casefold())
        return self.customers.get(cid) if cid is not None else None

    def create_customer(self, *, email: Any = None, first_name: Any = None, last_name: Any = None,
                        phone: Any = None, tags: Any = None, accepts_marketing: Any = False,
                        accepts_sms: Any = False, verified_email: Any = True, note: Any = None,
                        joins_program: bool = True, dob: str | None = None,
                        created_at: datetime | None = None, state: str = "enabled") -> ShopifyCustomer:
        """Create a customer and publish ``CustomerCreated`` (Rivo mirrors it into the program)."""
        email_value = self._email(email)
        if email_value and email_value.casefold() in self.by_email:
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
        if state not in CUSTOMER_STATES:
            raise ValidationFailed("state is not valid", field="state")
        now = created_at or self.ctx.now()
        customer = ShopifyCustomer(
            id=self.ctx.ids.next("shopify_customer"), email=email_value, first_name=first, last_name=last,
            created_at=now, updated_at=now, phone=phone_value, tags=tag_list,
            accepts_marketing=accepts_marketing, accepts_sms=accepts_sms, verified_email=verified_email,
            note=note, state=state,
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
            self.by_email[customer.email.casefold()] = customer.id

    def check_customer_changes(self, customer_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """The normalised ``changes`` (or a refusal): what ``update_customer`` would apply."""
        staged: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "email":
                email_value = self._email(value)
                owner = self.by_email.get(email_value.casefold()) if email_value else None
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
                if value not in CUSTOMER_STATES:
                    raise ValidationFailed("state is not valid", field="state")
                staged[key] = value
            else:
                raise ValidationFailed(f"{key} cannot be changed", field=key)
        return staged

    def update_customer(self, customer_id: int, changes: dict[str, Any]) -> ShopifyCustomer:
        """Apply ``changes``; a ``tags`` value replaces the whole set, as the REST API does."""
        customer = self.get_customer(customer_id)
        staged = self.check_customer_changes(customer_id, changes)
        # Only what really changes is applied and announced: a no-op update fires no customers/update.
        staged = {k: v for k, v in staged.items() if getattr(customer, k) != v}
        if not staged:
            return customer
        if "email" in staged and customer.email:
            self.by_email.pop(customer.email.casefold(), None)
        for key, value in staged.items():
            setattr(customer, key, value)
        if customer.email:
            self.by_email[customer.email.casefold()] = customer.id
        customer.updated_at = self.ctx.now()
        self.ctx.bus.publish(CustomerUpdated(shop=self.ctx.domain, at=customer.updated_at,
                                             customer_id=customer.id, changes=dict(staged)))
        return customer

    def add_tags(self, customer_id: int, tags: Any) -> ShopifyCustomer:
        """``tagsAdd``: merge ``tags`` into the customer's (existing tags are kept)."""
        customer = self.get_customer(customer_id)
        return self.update_customer(customer_id, {"tags": [*customer.tags, *self._tags(tags)]})

    def remove_tags(self, customer_id: int, tags: Any) -> ShopifyCustomer:
        """``tagsRemove``: drop ``tags`` (matched as the shop's case rule says)."""
        customer = self.get_customer(customer_id)
        drop = {self._tag_key(t) for t in self._tags(tags)}
        keep = [t for t in customer.tags if self._tag_key(t) not in drop]
        return self.update_customer(customer_id, {"tags": keep})

    def delete_customer(self, customer_id: int) -> None:
        customer = self.get_customer(customer_id)
        if self._has_orders(customer_id):
            raise Conflict("Error deleting customer: customer has orders", field="customer")
        del self.customers[customer_id]
        if customer.email:
            self.by_email.pop(customer.email.casefold(), None)
        self._drop_metafields_of("customer", customer_id)
        self.ctx.bus.publish(CustomerDeleted(shop=self.ctx.domain, at=self.ctx.now(), customer_id=customer_id))

    def iter_customers(self) -> Iterator[ShopifyCustomer]:
        return iter(self.customers.values())

    def search_customers(self, query: str) -> list[ShopifyCustomer]:
        """Customers matching Shopify's search ``query`` (see ``search.py``), by ascending id."""
        matches = parse_customer_query(query)
        return [c for c in self.customers.values() if matches(c)]
