"""``ShopifyBackend``: one shop's Shopify side — customers, orders, metafields, themes and the app's webhook
subscriptions — publishing what happens as domain events.

Each resource is a class of its own module that owns its store (:class:`Customers`, :class:`Orders`,
:class:`Metafields`, :class:`Themes`, :class:`WebhookSubscriptions`); the backend builds them and hands each the
collaborators it calls (orders get the customers; customers ask the orders whether they have any and drop their
metafields; metafields ask the owners whether they exist). The methods below keep the Admin-API-named operations
callers know; each is the owning resource's.

Operations are named after the Admin API's and refuse bad input before changing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.events import AppUninstalled
from rivosim.domain.shopify.customers import Customers
from rivosim.domain.shopify.discounts import Discounts
from rivosim.domain.shopify.metafields import MetafieldInput, Metafields
from rivosim.domain.shopify.models import (
    DiscountCode,
    LineItem,
    Metafield,
    Order,
    Refund,
    ShopifyCustomer,
    Theme,
    ThemeAsset,
    WebhookSubscription,
)
from rivosim.domain.shopify.orders import Orders
from rivosim.domain.shopify.themes import Themes
from rivosim.domain.shopify.values import money, normalize_tags
from rivosim.domain.shopify.webhooks import WebhookSubscriptions

__all__ = ["ShopifyBackend", "money", "normalize_tags"]


class ShopifyBackend:
    """Customers, orders, metafields, themes and webhook subscriptions of one shop, composed."""

    def __init__(self, ctx: ShopContext, shop_id: int = 0) -> None:
        self.ctx = ctx
        self.shop_id = shop_id
        # The loyalty app is installed (its access token works) until the merchant uninstalls it.
        self.app_installed = True
        self.metafield_resource = Metafields(ctx, owners={
            "shop": lambda owner_id: owner_id == self.shop_id,
            "customer": lambda owner_id: owner_id in self.customer_resource.customers,
            "order": lambda owner_id: owner_id in self.order_resource.orders,
        })
        self.customer_resource = Customers(ctx, has_orders=lambda customer_id: self.order_resource.has_orders(
            customer_id), drop_metafields_of=self.metafield_resource.drop_metafields_of)
        self.discount_resource = Discounts(ctx)
        self.order_resource = Orders(ctx, self.customer_resource, self.discount_resource)
        self.theme_resource = Themes(ctx)
        self.webhook_resource = WebhookSubscriptions(ctx)
        # Every shop starts with a published theme; whether it carries Rivo's app embed is configurable.
        self.create_theme("Dawn", role="main", app_embed=ctx.settings().shopify.app_embed, theme_store_id=887)

    # -- the stores, as callers read them ---------------------------------------------------------------------
    @property
    def customers(self) -> dict[int, ShopifyCustomer]:
        return self.customer_resource.customers

    @property
    def _by_email(self) -> dict[str, int]:
        return self.customer_resource.by_email

    @property
    def orders(self) -> dict[int, Order]:
        return self.order_resource.orders

    @property
    def metafields(self) -> dict[int, Metafield]:
        return self.metafield_resource.metafields

    @property
    def themes(self) -> dict[int, Theme]:
        return self.theme_resource.themes

    @property
    def webhook_subscriptions(self) -> dict[int, WebhookSubscription]:
        return self.webhook_resource.webhook_subscriptions

    # -- the app ----------------------------------------------------------------------------------------------
    def shop_owner_id(self) -> int:
        return self.shop_id

    def uninstall_app(self) -> None:
        """The merchant removes the loyalty app: ``app/uninstalled`` fires (to the subscriptions that still
        exist), then its token stops working and its subscriptions are gone (shopify-api.md §4.1)."""
        if not self.app_installed:
            return
        self.ctx.bus.publish(AppUninstalled(shop=self.ctx.domain, at=self.ctx.now()))
        self.app_installed = False
        self.webhook_subscriptions.clear()

    def reinstall_app(self) -> None:
        self.app_installed = True

    def _tags(self, raw: Any, *, order: bool = False) -> list[str]:
        return self.order_resource._tags(raw, order=order)

    # -- customers ----------------------------------------------------------------------------------------------
    def get_customer(self, customer_id: int) -> ShopifyCustomer:
        return self.customer_resource.get_customer(customer_id)

    def find_customer_by_email(self, email: str) -> ShopifyCustomer | None:
        return self.customer_resource.find_customer_by_email(email)

    def create_customer(self, *, email: Any = None, first_name: Any = None, last_name: Any = None,
                        phone: Any = None, tags: Any = None, accepts_marketing: Any = False,
                        accepts_sms: Any = False, verified_email: Any = True, note: Any = None,
                        joins_program: bool = True, dob: str | None = None,
                        created_at: datetime | None = None, state: str = "enabled") -> ShopifyCustomer:
        return self.customer_resource.create_customer(email=email, first_name=first_name, last_name=last_name,
                                                      phone=phone, tags=tags, accepts_marketing=accepts_marketing,
                                                      accepts_sms=accepts_sms, verified_email=verified_email, note=note,
                                                      joins_program=joins_program, dob=dob, created_at=created_at,
                                                      state=state)

    def check_customer_changes(self, customer_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        return self.customer_resource.check_customer_changes(customer_id, changes)

    def update_customer(self, customer_id: int, changes: dict[str, Any]) -> ShopifyCustomer:
        return self.customer_resource.update_customer(customer_id, changes)

    def add_tags(self, customer_id: int, tags: Any) -> ShopifyCustomer:
        return self.customer_resource.add_tags(customer_id, tags)

    def remove_tags(self, customer_id: int, tags: Any) -> ShopifyCustomer:
        return self.customer_resource.remove_tags(customer_id, tags)

    def delete_customer(self, customer_id: int) -> None:
        return self.customer_resource.delete_customer(customer_id)

    def iter_customers(self) -> Iterator[ShopifyCustomer]:
        return self.customer_resource.iter_customers()

    def search_customers(self, query: str) -> list[ShopifyCustomer]:
        return self.customer_resource.search_customers(query)

    # -- orders -------------------------------------------------------------------------------------------------
    def has_orders(self, customer_id: int) -> bool:
        return self.order_resource.has_orders(customer_id)

    def orders_of(self, customer_id: int) -> list[Order]:
        return self.order_resource.orders_of(customer_id)

    def get_order(self, order_id: int) -> Order:
        return self.order_resource.get_order(order_id)

    def _lines(self, line_items: Any) -> list[LineItem]:
        return self.order_resource._lines(line_items)

    def _discounts(self, codes: Any, details: Any) -> list[DiscountCode]:
        return self.order_resource._discounts(codes, details)

    def create_order(self, *, customer_id: int | None, line_items: list[dict[str, Any]],
                     discount_codes: list[str] | None = None, total_discounts: Any = None, total_tax: Any = 0,
                     tags: Any = None, note: str | None = None, paid: bool = False,
                     source_name: str = "web", financial_status: str | None = None,
                     discount_details: list[dict[str, Any]] | None = None,
                     note_attributes: list[dict[str, str]] | None = None, email: str | None = None,
                     test: bool = False) -> Order:
        return self.order_resource.create_order(customer_id=customer_id, line_items=line_items,
                                                discount_codes=discount_codes, total_discounts=total_discounts,
                                                total_tax=total_tax, tags=tags, note=note, paid=paid,
                                                source_name=source_name, financial_status=financial_status,
                                                discount_details=discount_details, note_attributes=note_attributes,
                                                email=email, test=test)

    def _note_attributes(self, raw: Any) -> list[dict[str, str]]:
        return self.order_resource._note_attributes(raw)

    def pay_order(self, order_id: int) -> Order:
        return self.order_resource.pay_order(order_id)

    def capture_payment(self, order_id: int, amount: Any = None) -> Order:
        return self.order_resource.capture_payment(order_id, amount)

    def sell(self, order_id: int, amount: Any = None) -> Order:
        return self.order_resource.sell(order_id, amount)

    def void_authorization(self, order_id: int) -> Order:
        return self.order_resource.void_authorization(order_id)

    def refund_order(self, order_id: int, amount: Any = None, note: str | None = None) -> Refund:
        return self.order_resource.refund_order(order_id, amount, note)

    def get_refund(self, order_id: int, refund_id: int) -> Refund:
        return self.order_resource.get_refund(order_id, refund_id)

    def cancel_order(self, order_id: int, reason: str = "customer") -> Order:
        return self.order_resource.cancel_order(order_id, reason)

    def close_order(self, order_id: int) -> Order:
        return self.order_resource.close_order(order_id)

    def reopen_order(self, order_id: int) -> Order:
        return self.order_resource.reopen_order(order_id)

    def update_order(self, order_id: int, changes: dict[str, Any]) -> Order:
        return self.order_resource.update_order(order_id, changes)

    def add_order_tags(self, order_id: int, tags: Any) -> Order:
        return self.order_resource.add_order_tags(order_id, tags)

    def remove_order_tags(self, order_id: int, tags: Any) -> Order:
        return self.order_resource.remove_order_tags(order_id, tags)

    # -- metafields ---------------------------------------------------------------------------------------------
    def add_deferred_metafield_writer(self, flush: Callable[[], None]) -> None:
        return self.metafield_resource.add_deferred_metafield_writer(flush)

    def metafield_writes_deferred(self) -> None:
        return self.metafield_resource.metafield_writes_deferred()

    def settle_metafields(self) -> None:
        return self.metafield_resource.settle_metafields()

    def get_metafield(self, metafield_id: int, owner_resource: str | None = None, owner_id: int | None = None
                      ) -> Metafield:
        return self.metafield_resource.get_metafield(metafield_id, owner_resource, owner_id)

    def find_metafield(self, owner_resource: str, owner_id: int, namespace: str, key: str) -> Metafield | None:
        return self.metafield_resource.find_metafield(owner_resource, owner_id, namespace, key)

    def metafields_of(self, owner_resource: str, owner_id: int) -> list[Metafield]:
        return self.metafield_resource.metafields_of(owner_resource, owner_id)

    def check_owner(self, owner_resource: str, owner_id: int) -> None:
        return self.metafield_resource.check_owner(owner_resource, owner_id)

    def check_metafield(self, owner_resource: str, owner_id: int, fields: dict[str, Any], *,
                        existing: Metafield | None = None, default_namespace: str | None = None) -> MetafieldInput:
        return self.metafield_resource.check_metafield(owner_resource, owner_id, fields, existing=existing,
                                                       default_namespace=default_namespace)

    def set_metafield(self, owner_resource: str, owner_id: int, namespace: str, key: str, type_: str,
                      value: str, description: str | None = None, *, at: datetime | None = None,
                      first_at: datetime | None = None) -> Metafield:
        return self.metafield_resource.set_metafield(owner_resource, owner_id, namespace, key, type_, value,
                                                     description, at=at, first_at=first_at)

    def create_metafield(self, owner_resource: str, owner_id: int, fields: dict[str, Any]) -> Metafield:
        return self.metafield_resource.create_metafield(owner_resource, owner_id, fields)

    def update_metafield(self, metafield_id: int, fields: dict[str, Any], owner_resource: str | None = None,
                         owner_id: int | None = None) -> Metafield:
        return self.metafield_resource.update_metafield(metafield_id, fields, owner_resource, owner_id)

    def delete_metafield(self, metafield_id: int, owner_resource: str | None = None,
                         owner_id: int | None = None) -> Metafield:
        return self.metafield_resource.delete_metafield(metafield_id, owner_resource, owner_id)

    def drop_metafields_of(self, owner_resource: str, owner_id: int) -> None:
        return self.metafield_resource.drop_metafields_of(owner_resource, owner_id)

    def metafields_set(self, entries: list[tuple[str, int | None, dict[str, Any]]]) -> list[Metafield]:
        return self.metafield_resource.metafields_set(entries)

    # -- themes -------------------------------------------------------------------------------------------------
    def create_theme(self, name: Any, *, role: Any = "unpublished", app_embed: Any = "enabled",
                     theme_store_id: Any = None) -> Theme:
        return self.theme_resource.create_theme(name, role=role, app_embed=app_embed, theme_store_id=theme_store_id)

    def get_theme(self, theme_id: int) -> Theme:
        return self.theme_resource.get_theme(theme_id)

    def main_theme(self) -> Theme | None:
        return self.theme_resource.main_theme()

    def publish_theme(self, theme_id: int) -> Theme:
        return self.theme_resource.publish_theme(theme_id)

    def rename_theme(self, theme_id: int, name: Any) -> Theme:
        return self.theme_resource.rename_theme(theme_id, name)

    def get_asset(self, theme_id: int, key: str) -> ThemeAsset:
        return self.theme_resource.get_asset(theme_id, key)

    def put_asset(self, theme_id: int, key: Any, value: Any) -> ThemeAsset:
        return self.theme_resource.put_asset(theme_id, key, value)

    def set_app_embed(self, theme_id: int, state: Any) -> ThemeAsset:
        return self.theme_resource.set_app_embed(theme_id, state)

    # -- webhooksubscriptions -----------------------------------------------------------------------------------
    def create_webhook_subscription(self, fields: dict[str, Any], api_version: str) -> WebhookSubscription:
        return self.webhook_resource.create_webhook_subscription(fields, api_version)

    def get_webhook_subscription(self, sub_id: int) -> WebhookSubscription:
        return self.webhook_resource.get_webhook_subscription(sub_id)

    def update_webhook_subscription(self, sub_id: int, fields: dict[str, Any]) -> WebhookSubscription:
        return self.webhook_resource.update_webhook_subscription(sub_id, fields)

    def delete_webhook_subscription(self, sub_id: int) -> WebhookSubscription:
        return self.webhook_resource.delete_webhook_subscription(sub_id)

    def subscriptions_for(self, topic: str) -> list[WebhookSubscription]:
        return self.webhook_resource.subscriptions_for(topic)

    def note_delivery_attempt(self, sub_id: int, ok: bool) -> bool:
        return self.webhook_resource.note_delivery_attempt(sub_id, ok)
