"""The stores every part of ``ShopifyBackend`` shares (customers, orders, metafields, themes, subscriptions)
and the helpers they all use: the live options, tag normalisation and input checks."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.settings import ShopifySettings
from rivosim.domain.shopify.models import Metafield, Order, ShopifyCustomer, Theme, WebhookSubscription
from rivosim.domain.shopify.values import (
    MAX_CUSTOMER_TAG_LENGTH,
    MAX_CUSTOMER_TAGS,
    MAX_ORDER_TAG_LENGTH,
    normalize_tags,
)
from rivosim.kernel.errors import ValidationFailed

__all__ = ["ShopifyState"]

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ShopifyState:
    def __init__(self, ctx: ShopContext) -> None:
        self.ctx = ctx
        self.customers: dict[int, ShopifyCustomer] = {}
        self._by_email: dict[str, int] = {}
        self.orders: dict[int, Order] = {}
        self._metafield_store: dict[int, Metafield] = {}
        # (owner_resource, owner_id, namespace, key) -> metafield id: the uniqueness Shopify enforces, and what
        # keeps an upsert O(1) when Rivo writes a metafield on every points change.
        self._metafield_keys: dict[tuple[str, int, str, str], int] = {}
        # Writers that defer their writes (Rivo's writeback marks a customer on every points change and writes
        # when someone looks): any access to the metafield stores lets them catch up first, so nobody ever sees
        # a stale value, and a burst of changes costs one write.
        self._deferred_writers: list[Callable[[], None]] = []
        self._deferred_pending = False
        self.themes: dict[int, Theme] = {}
        self.webhook_subscriptions: dict[int, WebhookSubscription] = {}
        self._order_number = 1000
        # The loyalty app is installed (its access token works) until the merchant uninstalls it.
        self.app_installed = True

    @property
    def metafields(self) -> dict[int, Metafield]:
        if self._deferred_pending:
            self.settle_metafields()
        return self._metafield_store

    @property
    def _metafield_index(self) -> dict[tuple[str, int, str, str], int]:
        if self._deferred_pending:
            self.settle_metafields()
        return self._metafield_keys

    def add_deferred_metafield_writer(self, flush: Callable[[], None]) -> None:
        """Register ``flush``, which writes what a writer has deferred; it runs before the next metafield access
        after :meth:`metafield_writes_deferred`."""
        self._deferred_writers.append(flush)

    def metafield_writes_deferred(self) -> None:
        """A registered writer has writes waiting."""
        self._deferred_pending = True

    def settle_metafields(self) -> None:
        """Let deferred writers write now (a reader is about to look, or the options are about to change)."""
        if self._deferred_pending:
            self._deferred_pending = False  # first: the writers' own writes access the stores
            for flush in self._deferred_writers:
                flush()

    def drop_metafields_of(self, owner_resource: str, owner_id: int) -> None:
        """Hook: an owner's metafields go with it (``MetafieldOps`` implements it)."""

    # -- shared helpers ----------------------------------------------------------------------------------
    def options(self) -> ShopifySettings:
        return self.ctx.settings().shopify

    def _tags(self, raw: Any, *, order: bool = False) -> list[str]:
        opts = self.options()
        if raw is not None and not isinstance(raw, str | list | tuple):
            raise ValidationFailed("tags must be a comma-separated string or a list of strings", field="tags")
        return normalize_tags(
            raw, case_sensitive=opts.tags_case_sensitive, sort=opts.sort_tags,
            max_count=None if order else MAX_CUSTOMER_TAGS,
            max_length=MAX_ORDER_TAG_LENGTH if order else MAX_CUSTOMER_TAG_LENGTH,
        )

    def _tag_key(self, tag: str) -> str:
        return tag if self.options().tags_case_sensitive else tag.casefold()

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
