"""A shop (tenant): its configuration document, credentials, own random stream, event bus and both backends."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rivosim.domain.admin import AdminContext, EmbeddedAdmin
from rivosim.domain.config import resolve_config
from rivosim.domain.context import Credentials, ShopContext
from rivosim.domain.events import EventBus
from rivosim.domain.integrations import Integrations
from rivosim.domain.rivo.backend import RivoBackend
from rivosim.domain.settings import ShopSettings
from rivosim.domain.shopify.backend import ShopifyBackend
from rivosim.domain.syncs import StoreSyncs
from rivosim.domain.writeback import Writeback
from rivosim.kernel.clock import Clock
from rivosim.kernel.errors import InvalidConfig
from rivosim.kernel.ids import IdSource, Randomness
from rivosim.kernel.timers import Arg

__all__ = ["Credentials", "Shop"]

PLAN_RANK = {"free": 0, "starter": 1, "plus": 2, "scale": 3}


class Shop:
    """One simulated store with its Shopify side and its Rivo program. Owns nothing global."""

    def __init__(self, domain: str, config: dict[str, Any], randomness: Randomness, clock: Clock) -> None:
        self.domain = domain
        # The document (what the control API returns and PATCH merges into) and its typed reading: the domain
        # reads only ``settings``, parsed once per change of the document.
        self.config = config
        self.settings = ShopSettings.parse(config)
        self.clock = clock
        self.rng = randomness.stream(domain, "shop")
        self.ids = IdSource(randomness, domain)
        self.id = self.ids.next("shop")
        self.created_at: datetime = clock.now()
        self.bus = EventBus()
        self.credentials = Credentials(
            rivo_api_key=self.ids.hex(40),
            webhook_secret=self.ids.hex(64),  # rivo-api.md §4.3: one 64-hex signing key per account
            shopify_access_token="shpat_" + self.ids.hex(32),
            shopify_api_key=self.ids.hex(32),
            shopify_api_secret="shpss_" + self.ids.hex(32),
        )
        self.ctx = ShopContext(domain=domain, now=clock.now, ids=self.ids, rng=self.rng, bus=self.bus,
                               settings=lambda: self.settings, handle=self._handle,
                               schedule=self._schedule, keep_time=self._keep_time)
        self.shopify = ShopifyBackend(self.ctx, shop_id=self.id)
        self.rivo = RivoBackend(self.ctx)
        # Rivo -> Shopify writeback, the store/theme/tagging syncs and the marketing integrations (issue 4).
        self.writeback = Writeback(self.ctx, self.shopify, self.rivo)
        self.syncs = StoreSyncs(self.ctx, self.shopify, self.rivo, self.writeback)
        self.integrations = Integrations(self.ctx, self.rivo)
        # Staff and Rivo opened inside Shopify admin, drawing from a stream of its own (domain/admin.py).
        self.admin = EmbeddedAdmin(
            AdminContext(self.ctx, self.credentials, app_installed=lambda: self.shopify.app_installed,
                         patch=self.patch,
                         program_counts=lambda: (len(self.rivo.members), len(self.rivo.points_events))),
            randomness.stream(domain, "admin"))

    # The shop's timer actions are named after the shop (``<domain>:rivo.daily``), so a deleted shop's timers and
    # handlers can be found, and work can be run shop by shop.
    def _handle(self, action: str, handler: Callable[..., object]) -> None:
        self.clock.handle(f"{self.domain}:{action}", handler)

    def _schedule(self, due: datetime, action: str, args: tuple[Arg, ...] = ()) -> object:
        return self.clock.schedule(due, f"{self.domain}:{action}", args)

    def _keep_time(self, due: datetime, action: str, args: tuple[Arg, ...] = ()) -> object:
        return self.clock.schedule(due, f"{self.domain}:{action}", args, work=False)

    # -- configuration -----------------------------------------------------------------------------------
    @property
    def plan(self) -> str:
        return self.settings.plan

    def has_api_access(self) -> bool:
        return PLAN_RANK[self.plan] >= PLAN_RANK["plus"]

    def patch(self, patch: dict[str, Any]) -> None:
        """Merge ``patch`` into the document (RFC 7386) and apply it; a refused patch changes nothing."""
        if "domain" in patch and patch["domain"] != self.domain:
            raise InvalidConfig("domain: a shop's myshopify domain cannot change", field="domain")
        if "customers" in patch:
            raise InvalidConfig("customers: seeding is only possible when the shop is created", field="customers")
        self.admin.check_patch(patch)
        merged = resolve_config(patch, base=self.config)
        merged.pop("domain", None)  # the domain lives on the shop, never in its document
        # Deferred metafield writes are made under the options (and tier names) of when they were due.
        self.shopify.settle_metafields()
        tiers_before = self.writeback.tier_names() if {"program", "plan"} & set(patch) else None
        previous = self.config, self.settings
        self.config, self.settings = merged, ShopSettings.parse(merged)
        try:
            # Validates every reward before it changes anything, so a refusal leaves the program as it was.
            self.rivo.apply_program_config(self.settings.program)
        except Exception:
            self.config, self.settings = previous
            raise
        for member in list(self.rivo.members.values()):
            self.rivo.evaluate_tier(member)
        if tiers_before is not None:  # tags and metafields follow tiers removed or renamed (issue 15)
            self.writeback.follow_tier_changes(tiers_before)

    def close(self) -> None:
        """The shop is deleted: its pending timers (daily ticks, expiries) become no-ops."""
        self.rivo.closed = True

    def regenerate_api_key(self) -> str:
        """A new Rivo API key; the old one stops working at once (help 13821318)."""
        self.credentials.rivo_api_key = self.ids.hex(40)
        return self.credentials.rivo_api_key

    def check_rivo_key(self, presented: str) -> bool:
        # Constant-time comparison: key checks must not leak how much of a guess was right.
        return hmac.compare_digest(presented.encode(), self.credentials.rivo_api_key.encode())

    def public_config(self) -> dict[str, Any]:
        return {"domain": self.domain, **{k: v for k, v in self.config.items() if k != "customers"}}

    def credentials_dict(self) -> dict[str, Any]:
        c = self.credentials
        return {"domain": self.domain, "plan": self.plan, "rivo_api_key": c.rivo_api_key,
                "webhook_secret": c.webhook_secret, "shopify_access_token": c.shopify_access_token,
                "shopify_api_key": c.shopify_api_key, "shopify_api_secret": c.shopify_api_secret}
