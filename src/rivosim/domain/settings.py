"""The shop configuration document read as typed, frozen settings.

The document (a JSON object, :mod:`rivosim.domain.config`) stays what users write, what the JSON Schema
validates, what ``PATCH`` merges into (RFC 7386) and what the control API returns. The domain never reads it:
each time a shop's document changes (creation, a patch) it is parsed once into a :class:`ShopSettings`, and
code reads attributes (``shop.settings.program.vip.period``), so a misspelt setting fails type checking and
the first test that touches it instead of raising ``KeyError`` deep inside a request.

Lists of entries the program turns into objects of its own (earning rules, rewards, VIP tiers, staff, fault
rules) stay read-only mappings here: their one reader (``Program.apply_program_config``, the staff roster,
the faults parser) validates and converts them field by field with its own error messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from rivosim.kernel.clock import parse_instant

__all__ = [
    "AdminSettings", "ApiSettings", "BucketSettings", "CreditsExpirySettings", "ExpirySettings", "IntegrationSettings",
    "ProgramSettings", "RateLimitSettings", "ReferralSettings", "ServiceTimeSettings", "ShopSettings",
    "ShopifySettings", "VipSettings", "WebhookSettings",
    "freeze", "thaw",
]

Entry = Mapping[str, Any]


def freeze(value: Any) -> Any:
    """A read-only deep copy of a JSON value: objects become mapping proxies, lists tuples."""
    if isinstance(value, dict):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


@dataclass(frozen=True, slots=True)
class ApiSettings:
    accept_bearer: bool
    plan_refusal_status: int
    allow_negative_balance: bool
    new_customer_visibility_delay: str | float  # a duration: ISO 8601 ("PT30S") or seconds
    max_body_bytes: int


@dataclass(frozen=True, slots=True)
class VipSettings:
    enabled: bool
    entry_method: str
    period: str
    start_date: str | None
    tiers: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class ReferralSettings:
    enabled: bool
    complete_on: str
    advocate_points: int
    friend_discount: str
    new_customers_only: bool
    weekly_ip_threshold: int


@dataclass(frozen=True, slots=True)
class ExpirySettings:
    enabled: bool
    mode: str
    months: int
    exclude_redemptions_from_activity: bool


@dataclass(frozen=True, slots=True)
class CreditsExpirySettings:
    enabled: bool
    months: int


@dataclass(frozen=True, slots=True)
class ProgramSettings:
    active: bool
    points_name: str
    earning_rules: tuple[Entry, ...]
    rewards: tuple[Entry, ...]
    vip: VipSettings
    referrals: ReferralSettings
    expiry: ExpirySettings
    credits_expiry: CreditsExpirySettings


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    signing: str
    timeout_seconds: float
    max_attempts: int
    occurred_at_precision: str


@dataclass(frozen=True, slots=True)
class BucketSettings:
    """A rate-limit bucket; ``rate``/``burst`` None: the API's own numbers (Shopify's: by ``shopify_plan``)."""

    enabled: bool
    rate: float | None
    burst: float | None


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    rivo: BucketSettings
    shopify_rest: BucketSettings
    shopify_graphql: BucketSettings

    def bucket(self, kind: str) -> BucketSettings:
        """The bucket named as in the document (``rivo``, ``shopify_rest``, ``shopify_graphql``)."""
        if kind == "rivo":
            return self.rivo
        if kind == "shopify_rest":
            return self.shopify_rest
        if kind == "shopify_graphql":
            return self.shopify_graphql
        raise ValueError(f"no rate-limit bucket {kind!r}")


@dataclass(frozen=True, slots=True)
class ServiceTimeSettings:
    """How long the Rivo and Shopify APIs take to answer, from the work a request does (milliseconds)."""

    enabled: bool
    base_ms: float
    read_item_ms: float
    write_item_ms: float
    max_ms: float


@dataclass(frozen=True, slots=True)
class ShopifySettings:
    vip_tier_tags: bool
    vip_tier_tag_format: str
    order_tags: bool
    customer_metafield: bool
    customer_metafields_v2: bool
    shop_metafield: bool
    tags_case_sensitive: bool
    sort_tags: bool
    app_embed: str
    access_scopes: tuple[str, ...]
    shop_status: str


@dataclass(frozen=True, slots=True)
class IntegrationSettings:
    name: str
    connected_domain: str | None


@dataclass(frozen=True, slots=True)
class AdminSettings:
    login_url: str
    app_authorised: bool
    app_scopes: tuple[str, ...]
    staff: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class ShopSettings:
    """One shop's configuration, parsed from its (validated, defaulted) document."""

    name: str | None
    plan: str
    timezone: str
    currency: str
    shopify_plan: str
    api: ApiSettings
    program: ProgramSettings
    webhooks: WebhookSettings
    rate_limits: RateLimitSettings
    service_time: ServiceTimeSettings
    shopify: ShopifySettings
    integrations: tuple[IntegrationSettings, ...]
    faults: tuple[Entry, ...]
    admin: AdminSettings
    clock: str | None = None
    """The document's clock: ``"wall"``, ``"virtual"`` (with ``clock_start``) or None (the simulator's kind)."""
    clock_start: datetime | None = None

    @classmethod
    def parse(cls, doc: Mapping[str, Any]) -> ShopSettings:
        """Read a document ``resolve_config`` produced (every default filled in, already validated)."""
        api, program, webhooks, shopify, admin = (doc["api"], doc["program"], doc["webhooks"], doc["shopify"],
                                                  doc["admin"])
        vip, referrals, expiry, limits = program["vip"], program["referrals"], program["expiry"], doc["rate_limits"]
        service = doc["service_time"]
        return cls(
            clock=None if doc.get("clock") is None else "wall" if doc["clock"] == "wall" else "virtual",
            clock_start=parse_instant(doc["clock"]["start"]) if isinstance(doc.get("clock"), dict) else None,
            name=doc.get("name"), plan=doc["plan"], timezone=doc["timezone"], currency=doc["currency"],
            shopify_plan=doc["shopify_plan"],
            api=ApiSettings(
                accept_bearer=bool(api["accept_bearer"]), plan_refusal_status=int(api["plan_refusal_status"]),
                allow_negative_balance=bool(api["allow_negative_balance"]),
                new_customer_visibility_delay=api["new_customer_visibility_delay"],
                max_body_bytes=int(api["max_body_bytes"])),
            program=ProgramSettings(
                active=bool(program["active"]), points_name=program["points_name"],
                earning_rules=freeze(program["earning_rules"]), rewards=freeze(program["rewards"]),
                vip=VipSettings(enabled=bool(vip["enabled"]), entry_method=vip["entry_method"], period=vip["period"],
                                start_date=vip.get("start_date"), tiers=freeze(vip["tiers"])),
                referrals=ReferralSettings(
                    enabled=bool(referrals["enabled"]), complete_on=referrals["complete_on"],
                    advocate_points=int(referrals["advocate_points"]), friend_discount=referrals["friend_discount"],
                    new_customers_only=bool(referrals["new_customers_only"]),
                    weekly_ip_threshold=int(referrals["weekly_ip_threshold"])),
                expiry=ExpirySettings(enabled=bool(expiry["enabled"]), mode=expiry["mode"],
                                      months=int(expiry["months"]),
                                      exclude_redemptions_from_activity=bool(
                                          expiry["exclude_redemptions_from_activity"])),
                credits_expiry=CreditsExpirySettings(enabled=bool(program["credits_expiry"]["enabled"]),
                                                     months=int(program["credits_expiry"]["months"]))),
            webhooks=WebhookSettings(signing=webhooks["signing"], timeout_seconds=float(webhooks["timeout_seconds"]),
                                     max_attempts=int(webhooks["max_attempts"]),
                                     occurred_at_precision=webhooks["occurred_at_precision"]),
            rate_limits=RateLimitSettings(rivo=_bucket(limits["rivo"]), shopify_rest=_bucket(limits["shopify_rest"]),
                                          shopify_graphql=_bucket(limits["shopify_graphql"])),
            service_time=ServiceTimeSettings(
                enabled=bool(service["enabled"]), base_ms=float(service["base_ms"]),
                read_item_ms=float(service["read_item_ms"]), write_item_ms=float(service["write_item_ms"]),
                max_ms=float(service["max_ms"])),
            shopify=ShopifySettings(
                vip_tier_tags=bool(shopify["vip_tier_tags"]), vip_tier_tag_format=shopify["vip_tier_tag_format"],
                order_tags=bool(shopify["order_tags"]), customer_metafield=bool(shopify["customer_metafield"]),
                customer_metafields_v2=bool(shopify["customer_metafields_v2"]),
                shop_metafield=bool(shopify["shop_metafield"]),
                tags_case_sensitive=bool(shopify["tags_case_sensitive"]), sort_tags=bool(shopify["sort_tags"]),
                app_embed=shopify["app_embed"], access_scopes=tuple(shopify["access_scopes"]),
                shop_status=shopify["shop_status"]),
            integrations=tuple(IntegrationSettings(name=i["name"], connected_domain=i.get("connected_domain"))
                               for i in doc["integrations"]),
            faults=freeze(doc["faults"]),
            admin=AdminSettings(login_url=admin["login_url"], app_authorised=bool(admin["app_authorised"]),
                                app_scopes=tuple(admin["app_scopes"]), staff=freeze(admin["staff"])),
        )


def _bucket(raw: Mapping[str, Any]) -> BucketSettings:
    return BucketSettings(enabled=bool(raw.get("enabled", True)), rate=raw.get("rate"), burst=raw.get("burst"))


def thaw(value: Any) -> Any:
    """A plain JSON value (dicts, lists) from a frozen one, for code that hands it on as a document."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value
