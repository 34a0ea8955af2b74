"""What every Shopify resource class (customers, orders, metafields, themes, webhook subscriptions) shares: the
shop context, the live options, tag normalisation and input checks. The stores are the resources' own."""

from __future__ import annotations

import re
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.settings import ShopifySettings
from rivosim.domain.shopify.values import (
    MAX_CUSTOMER_TAG_LENGTH,
    MAX_CUSTOMER_TAGS,
    MAX_ORDER_TAG_LENGTH,
    normalize_tags,
)
from rivosim.kernel.errors import ValidationFailed

__all__ = ["ShopifyResource"]

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ShopifyResource:
    """Base of the Shopify resource classes: the shop context and the input checks they share (tags by the shop's
    options, emails, names). It holds no state: each resource owns its own store."""

    def __init__(self, ctx: ShopContext) -> None:
        self.ctx = ctx

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
