"""The program: earning rules, rewards and VIP tiers, kept in step with the shop's settings, plus the REST
operations on rewards. A resource of its own (``Program``), composed by ``RivoBackend`` as ``program``; the
ledger, tiers, redemptions, referrals and lifecycle reach it as ``self.program``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.numbers import parse_bool, parse_decimal, parse_int, parse_optional_int
from rivosim.domain.rivo.models import EarningRule, Reward, VipTier
from rivosim.domain.settings import ProgramSettings
from rivosim.kernel.errors import InvalidConfig, NotFound, ValidationFailed

__all__ = ["REWARD_TYPES", "REWARD_WRITABLE", "Program"]

REWARD_TYPES = ("fixed_amount", "percentage", "free_shipping", "free_product", "gift_card", "points_to_credit")
REWARD_SOURCES = ("points", "credits", "referrer", "referred", "vip_tier", "birthday")
REWARD_WRITABLE = (
    "name", "enabled", "points_amount", "points_type", "reward_type", "reward_value", "source", "expiry_months",
    "min_order_value_in_cents", "min_points_to_redeem_value", "max_points_to_spend_value",
    "increment_points_value", "icon_url", "product_id", "variant_ids",
)
MAX_VALUE = Decimal(1_000_000_000)  # keeps money arithmetic inside Decimal's precision
PLAN_RANK = {"free": 0, "starter": 1, "plus": 2, "scale": 3}


class Program:
    """The shop's earning rules, rewards and tiers (``tier_order``: by threshold). Needs only the shop context."""

    def __init__(self, ctx: ShopContext) -> None:
        self.ctx = ctx
        self.rules: dict[int, EarningRule] = {}
        self.rewards: dict[int, Reward] = {}
        self.tiers: dict[int, VipTier] = {}
        self.tier_order: list[VipTier] = []
        # The rule/tier/reward lists last applied from the settings (see apply_program_config).
        self._applied_program: dict[str, Any] = {}
        # The id of each entry of the document's lists, in the document's order ("earning_rules", "tiers",
        # "rewards"): how the control API's item routes name an entry the document itself may give no id.
        self.document_ids: dict[str, tuple[int, ...]] = {}

    # -- configuration -----------------------------------------------------------------------------------
    def apply_program_config(self, program: ProgramSettings) -> None:
        """Bring rules, rewards and tiers in line with the document, keeping ids of entries that match
        (by ``id``, else by their natural key) so a PATCH that flips ``enabled`` keeps references intact.

        A list that did not change is left alone, so a PATCH of something else keeps what the REST API has
        done to rewards since (create, update, delete). Every reward is checked before anything changes: a
        refusal raises :class:`InvalidConfig` naming the field and leaves the program as it was.
        """
        now = self.ctx.now()
        raw_rules, raw_tiers, raw_rewards = program.earning_rules, program.vip.tiers, program.rewards
        applied = self._applied_program
        rewards_changed = raw_rewards != applied.get("rewards")
        if rewards_changed:
            for i, raw in enumerate(raw_rewards):
                try:
                    self._apply_reward_fields(Reward(id=0, name="", created_at=now, updated_at=now), raw,
                                              partial=False)
                except ValidationFailed as exc:
                    where = f"program.rewards[{i}]" + (f".{exc.field}" if exc.field else "")
                    raise InvalidConfig(f"{where}: {exc.message}", field=where) from exc
        # Everything checked: from here on nothing refuses.
        if raw_rules != applied.get("earning_rules"):
            self.rules = self._sync(self.rules, raw_rules, self._rule_key,
                                    lambda raw, id_: self._make_rule(raw, id_), "earning_rule")
            self.document_ids["earning_rules"] = tuple(self.rules)
        if raw_tiers != applied.get("tiers"):
            self.tiers = self._sync(self.tiers, raw_tiers,
                                    lambda t: t["name"].casefold() if isinstance(t, Mapping) else t.name.casefold(),
                                    lambda raw, id_: self._make_tier(raw, id_, now), "vip_tier")
            self.tier_order = sorted(self.tiers.values(), key=lambda t: t.threshold)
            self.document_ids["tiers"] = tuple(self.tiers)
        if rewards_changed:
            live = {k: v for k, v in self.rewards.items() if not v.deleted}
            synced = self._sync(live, raw_rewards,
                                lambda r: r["name"].casefold() if isinstance(r, Mapping) else r.name.casefold(),
                                lambda raw, id_: self._make_reward(raw, id_, now, existing=live.get(id_)),
                                "reward")
            # A reward dropped from the list is soft-deleted, so past redemptions still resolve it.
            for reward in live.values():
                if reward.id not in synced:
                    reward.deleted = True
                    reward.enabled = False
                    reward.updated_at = now
            self.rewards = {**{k: v for k, v in self.rewards.items() if k not in synced}, **synced}
            self.document_ids["rewards"] = tuple(synced)
        # The settings are frozen: keeping them is keeping a copy.
        self._applied_program = {"earning_rules": raw_rules, "tiers": raw_tiers, "rewards": raw_rewards}

    @staticmethod
    def _rule_key(rule: Any) -> tuple[str, str | None]:
        if isinstance(rule, Mapping):
            return rule["trigger"], rule.get("custom_action_name") or rule.get("url")
        return rule.trigger, rule.custom_action_name or rule.url

    def _sync(self, current: dict[int, Any], wanted: tuple[Mapping[str, Any], ...], key: Any, make: Any,
              kind: str) -> dict[int, Any]:
        """Match each wanted entry to a current object (its ``id``, else the first unmatched object with the
        same natural key, in id order) so two entries sharing a key never collapse into one id."""
        by_key: dict[Any, list[Any]] = {}
        for obj in sorted(current.values(), key=lambda o: o.id):
            by_key.setdefault(key(obj), []).append(obj)
        taken = {raw["id"] for raw in wanted if "id" in raw}
        out: dict[int, Any] = {}
        for raw in wanted:
            if "id" in raw:
                existing = current.get(raw["id"])
            else:
                existing = next((obj for obj in by_key.get(key(raw), ()) if obj.id not in taken), None)
            if existing is not None:
                taken.add(existing.id)
            id_ = existing.id if existing is not None else (raw.get("id") or self.ctx.ids.next(kind))
            out[id_] = make(raw, id_)
        return out

    def _make_rule(self, raw: Mapping[str, Any], id_: int) -> EarningRule:
        base = raw.get("currency_base_amount")
        return EarningRule(
            id=id_, trigger=raw["trigger"], name=raw.get("name") or raw["trigger"].replace("_", " ").title(),
            enabled=raw.get("enabled", True), points_amount=raw.get("points_amount", 0),
            credits_amount=Decimal(str(raw.get("credits_amount", 0))), points_type=raw.get("points_type", "fixed"),
            currency_base_amount=Decimal(str(base)) if base is not None else None,
            custom_action_name=raw.get("custom_action_name"), url=raw.get("url"),
            product_ids=tuple(raw.get("product_ids") or ()),
            once_per_customer=raw.get("once_per_customer", raw["trigger"] in ONCE_TRIGGERS),
        )

    def _make_tier(self, raw: Mapping[str, Any], id_: int, now: datetime) -> VipTier:
        old = self.tiers.get(id_)
        return VipTier(id=id_, name=raw["name"], threshold=Decimal(str(raw["threshold"])),
                       created_at=old.created_at if old else now, updated_at=now,
                       perks=tuple(raw.get("perks") or ()), desc=raw.get("desc"), icon_url=raw.get("icon_url"))

    def _make_reward(self, raw: Mapping[str, Any], id_: int, now: datetime, existing: Reward | None = None) -> Reward:
        """A fresh reward from ``raw`` (the list is the whole truth: absent fields take their defaults),
        keeping an existing reward's creation time and redemption count."""
        reward = Reward(id=id_, name=raw["name"], created_at=existing.created_at if existing else now,
                        updated_at=now, redeemed_count=existing.redeemed_count if existing else 0)
        self._apply_reward_fields(reward, raw, partial=False)
        return reward

    # -- reward operations (REST) ------------------------------------------------------------------------
    def _apply_reward_fields(self, reward: Reward, raw: Mapping[str, Any], *, partial: bool) -> None:
        """Validate every field first, then assign — a refused update changes nothing."""
        staged: dict[str, Any] = {}
        for name, value in raw.items():
            if name == "id":
                continue
            if name not in REWARD_WRITABLE:
                raise ValidationFailed(f"{name} is not a writable reward field; writable: "
                                       f"{', '.join(REWARD_WRITABLE)}", field=name)
            if name == "name":
                if not isinstance(value, str) or not value.strip() or len(value) > 255:
                    raise ValidationFailed("name must be a non-empty string of at most 255 characters",
                                           field="name")
                staged[name] = value.strip()
            elif name == "enabled":
                staged[name] = parse_bool(value, name)
            elif name == "points_amount":
                staged[name] = parse_int(value, name, low=0, high=10_000_000)
            elif name in ("expiry_months",):
                staged[name] = parse_optional_int(value, name, low=1, high=24)
            elif name in ("min_order_value_in_cents",):
                staged[name] = parse_optional_int(value, name, low=0, high=10_000_000)
            elif name in ("min_points_to_redeem_value", "max_points_to_spend_value", "increment_points_value"):
                staged[name] = parse_optional_int(value, name, low=1, high=10_000_000)
            elif name == "points_type":
                if value not in ("fixed", "incremental"):
                    raise ValidationFailed("points_type must be fixed or incremental", field=name)
                staged[name] = value
            elif name == "reward_type":
                if value not in REWARD_TYPES:
                    raise ValidationFailed(f"reward_type must be one of {', '.join(REWARD_TYPES)}", field=name)
                staged[name] = value
            elif name == "source":
                if value not in REWARD_SOURCES:
                    raise ValidationFailed(f"source must be one of {', '.join(REWARD_SOURCES)}", field=name)
                staged[name] = value
            elif name == "reward_value":
                staged[name] = parse_decimal(value, name, low=Decimal(0), high=MAX_VALUE)
            elif name == "icon_url":
                if value is not None and (not isinstance(value, str) or not value.startswith(("http://", "https://"))
                                          or len(value) > 2048):
                    raise ValidationFailed("icon_url must be an http(s) URL or null", field=name)
                staged[name] = value
            elif name == "product_id":
                staged[name] = parse_optional_int(value, name, low=1, high=2**63 - 1)
            elif name == "variant_ids":
                staged[name] = _variant_ids(value)
        if staged.get("reward_type") == "percentage" and staged.get("reward_value", Decimal(0)) > 100:
            raise ValidationFailed("a percentage reward_value cannot exceed 100", field="reward_value")
        if not partial and "name" not in staged:
            raise ValidationFailed("name is required", field="name")
        for name, value in staged.items():
            setattr(reward, name, value)

    def list_rewards(self) -> list[Reward]:
        return sorted((r for r in self.rewards.values() if not r.deleted), key=lambda r: r.id)

    def get_reward(self, reward_id: int) -> Reward:
        reward = self.rewards.get(reward_id)
        if reward is None or reward.deleted:
            raise NotFound(f"reward {reward_id} not found", resource="reward", id=reward_id)
        return reward

    def create_reward(self, fields: dict[str, Any]) -> Reward:
        now = self.ctx.now()
        probe = Reward(id=0, name="", created_at=now, updated_at=now)
        self._apply_reward_fields(probe, fields, partial=False)
        probe.id = self.ctx.ids.next("reward")
        self.rewards[probe.id] = probe
        return probe

    def update_reward(self, reward_id: int, fields: dict[str, Any]) -> Reward:
        reward = self.get_reward(reward_id)
        self._apply_reward_fields(reward, fields, partial=True)
        reward.updated_at = self.ctx.now()
        return reward

    def delete_reward(self, reward_id: int) -> Reward:
        """Soft delete: redemptions keep pointing at the reward they used."""
        reward = self.get_reward(reward_id)
        reward.deleted = True
        reward.enabled = False
        reward.updated_at = self.ctx.now()
        return reward

    # -- tiers and rules ---------------------------------------------------------------------------------
    def vip_available(self) -> bool:
        settings = self.ctx.settings()
        return settings.program.vip.enabled and PLAN_RANK[settings.plan] >= PLAN_RANK["scale"]

    def list_tiers(self) -> list[VipTier]:
        return list(self.tier_order)

    def get_tier(self, tier_id: int) -> VipTier:
        tier = self.tiers.get(tier_id)
        if tier is None:
            raise NotFound(f"vip tier {tier_id} not found", resource="vip_tier", id=tier_id)
        return tier

    def list_earning_rules(self) -> list[EarningRule]:
        return sorted(self.rules.values(), key=lambda r: r.id)

    def find_rule(self, trigger: str, name: str | None = None) -> EarningRule | None:
        """The rule for ``trigger`` (matching ``custom_action_name``/``url`` when given), enabled or not."""
        candidates = [r for r in self.rules.values() if r.trigger == trigger]
        if name is not None and trigger in ("custom_action", "visit_url"):
            candidates = [r for r in candidates if name in (r.custom_action_name, r.url)]
        candidates.sort(key=lambda r: (not r.enabled, r.id))
        return candidates[0] if candidates else None


# Social and one-off actions earn once per customer (a second follow earns nothing).
ONCE_TRIGGERS = frozenset({
    "customer_member_enabled", "instagram_follow", "tiktok_follow", "facebook_like", "twitter_follow",
    "email_subscribe", "sms_subscribe",
})


def _variant_ids(value: Any) -> tuple[int, ...]:
    """A list of Shopify variant ids (JSON), or a comma-separated string (form data); at most 250."""
    items = value.split(",") if isinstance(value, str) else value
    if value is None:
        return ()
    if not isinstance(items, list | tuple) or len(items) > 250:
        raise ValidationFailed("variant_ids must be a list of at most 250 variant ids", field="variant_ids")
    out = []
    for item in items:
        text = item.strip() if isinstance(item, str) else item
        if isinstance(text, bool) or not (isinstance(text, int) or (isinstance(text, str) and text.isdigit())):
            raise ValidationFailed(f"variant_ids must be positive integers; got {item!r}", field="variant_ids")
        number = int(text)
        if not 1 <= number < 2**63:
            raise ValidationFailed(f"variant_ids must be positive integers; got {item!r}", field="variant_ids")
        out.append(number)
    return tuple(out)
