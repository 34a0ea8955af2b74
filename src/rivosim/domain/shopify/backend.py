"""``ShopifyBackend``: one shop's Shopify side — customers, orders, metafields, themes and the app's webhook
subscriptions — assembled from its resource parts, publishing what happens as domain events.

Operations are named after the Admin API's and refuse bad input before changing anything.
"""

from __future__ import annotations

from rivosim.domain.context import ShopContext
from rivosim.domain.events import AppUninstalled
from rivosim.domain.shopify.customers import CustomerOps
from rivosim.domain.shopify.metafields import MetafieldOps
from rivosim.domain.shopify.orders import OrderOps
from rivosim.domain.shopify.themes import ThemeOps
from rivosim.domain.shopify.values import money, normalize_tags
from rivosim.domain.shopify.webhooks import WebhookSubscriptionOps

__all__ = ["ShopifyBackend", "money", "normalize_tags"]


class ShopifyBackend(CustomerOps, OrderOps, MetafieldOps, ThemeOps, WebhookSubscriptionOps):
    """Customers, orders, metafields, themes and webhook subscriptions of one shop. See each part's module."""

    def __init__(self, ctx: ShopContext, shop_id: int = 0) -> None:
        super().__init__(ctx)
        self.shop_id = shop_id
        # Every shop starts with a published theme; whether it carries Rivo's app embed is configurable.
        self.create_theme("Dawn", role="main", app_embed=self.options().app_embed, theme_store_id=887)

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
