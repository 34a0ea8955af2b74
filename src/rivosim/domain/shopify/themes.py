"""Themes and their assets, with the loyalty app's **app embed block** in ``config/settings_data.json``
(shopify-api.md §7): one theme has ``role: "main"`` (the published one); the embed is an entry under
``current.blocks`` whose ``type`` is ``shopify://apps/<app>/blocks/<block>/<uuid>`` and whose ``disabled``
flag is the merchant's toggle under Theme settings > App embeds. Publishing fires ``themes/publish``.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.events import ThemeAssetUpdated, ThemePublished
from rivosim.domain.shopify.models import Theme, ThemeAsset
from rivosim.domain.shopify.state import ShopifyResource
from rivosim.kernel.errors import Conflict, NotFound, ValidationFailed

__all__ = ["APP_EMBED_STATES", "APP_EMBED_TYPE", "SETTINGS_DATA", "Themes", "app_embed_state"]

SETTINGS_DATA = "config/settings_data.json"
# Rivo's app handle, embed block handle and extension uuid are not published: plausible stand-ins.
APP_EMBED_TYPE = "shopify://apps/rivo-loyalty-referrals/blocks/rivo-app-embed/5b1f0a52-8c3e-4d47-9a6e-2f7c1d9e4b30"
_APP_EMBED_RE = re.compile(r"^shopify://apps/rivo[^/]*/blocks/[^/]+/[^/]+$")
APP_EMBED_STATES = ("enabled", "disabled", "missing")
THEME_ROLES = ("main", "unpublished", "demo", "development")
_ASSET_KEY_RE = re.compile(r"^(assets|config|layout|locales|sections|snippets|templates)/[^\s]+$")
_CONTENT_TYPES = {".json": "application/json", ".liquid": "text/x-liquid", ".css": "text/css",
                  ".js": "application/javascript"}


def _settings_blocks(data: Any) -> dict[str, Any] | None:
    """The ``blocks`` of the settings in use: ``current`` is an object, or the name of a preset."""
    if not isinstance(data, dict):
        return None
    current = data.get("current")
    if isinstance(current, str):
        current = (data.get("presets") or {}).get(current)
    if not isinstance(current, dict):
        return None
    blocks = current.get("blocks")
    return blocks if isinstance(blocks, dict) else None


def app_embed_state(theme: Theme) -> str:
    """``enabled``, ``disabled`` or ``missing``: what the storefront would load for Rivo's app embed."""
    asset = theme.assets.get(SETTINGS_DATA)
    if asset is None:
        return "missing"
    try:
        blocks = _settings_blocks(json.loads(asset.value))
    except ValueError:
        return "missing"
    for block in (blocks or {}).values():
        if isinstance(block, dict) and isinstance(block.get("type"), str) and _APP_EMBED_RE.match(block["type"]):
            return "disabled" if block.get("disabled") is True else "enabled"
    return "missing"


def checksum(value: str) -> str:
    return hashlib.md5(value.encode("utf-8"), usedforsecurity=False).hexdigest()


class Themes(ShopifyResource):
    """The shop's themes and their assets (the published one carries Rivo's app embed, or not)."""

    def __init__(self, ctx: ShopContext) -> None:
        super().__init__(ctx)
        self.themes: dict[int, Theme] = {}

    def _settings_data(self, theme_id: int, app_embed: str) -> str:
        blocks: dict[str, Any] = {}
        if app_embed != "missing":
            # Block ids in real settings files are long numbers; derive one from the theme so it is stable.
            block_id = str(int(hashlib.sha256(f"{self.ctx.domain}:{theme_id}".encode()).hexdigest()[:15], 16))
            blocks[block_id] = {"type": APP_EMBED_TYPE, "disabled": app_embed == "disabled", "settings": {}}
        return json.dumps({"current": {"blocks": blocks}, "presets": {"Default": {}}}, indent=2)

    def create_theme(self, name: Any, *, role: Any = "unpublished", app_embed: Any = "enabled",
                     theme_store_id: Any = None) -> Theme:
        """Add a theme (an unpublished copy unless ``role`` is ``main``, which also publishes it)."""
        if not isinstance(name, str) or not name.strip() or len(name) > 50:
            raise ValidationFailed("name must be a non-empty string of at most 50 characters", field="name")
        if role not in THEME_ROLES:
            raise ValidationFailed(f"role must be one of {', '.join(THEME_ROLES)}", field="role")
        if app_embed not in APP_EMBED_STATES:
            raise ValidationFailed(f"app_embed must be one of {', '.join(APP_EMBED_STATES)}", field="app_embed")
        if theme_store_id is not None and (isinstance(theme_store_id, bool) or not isinstance(theme_store_id, int)):
            raise ValidationFailed("theme_store_id must be an integer", field="theme_store_id")
        now = self.ctx.now()
        theme = Theme(id=self.ctx.ids.next("shopify_theme"), name=name.strip(),
                      role="unpublished" if role == "main" else role, created_at=now, updated_at=now,
                      theme_store_id=theme_store_id)
        for key, value in ((SETTINGS_DATA, self._settings_data(theme.id, app_embed)),
                           ("layout/theme.liquid", "<!doctype html>\n<html>{{ content_for_header }}"
                                                   "{{ content_for_layout }}</html>\n")):
            theme.assets[key] = ThemeAsset(key=key, value=value, content_type=_content_type(key), created_at=now,
                                           updated_at=now)
        self.themes[theme.id] = theme
        if role == "main":
            self.publish_theme(theme.id)
        return theme

    def get_theme(self, theme_id: int) -> Theme:
        theme = self.themes.get(theme_id)
        if theme is None:
            raise NotFound(f"no theme {theme_id}", resource="theme", id=theme_id)
        return theme

    def main_theme(self) -> Theme | None:
        return next((t for t in self.themes.values() if t.role == "main"), None)

    def publish_theme(self, theme_id: int) -> Theme:
        """Make ``theme_id`` the live theme; the previous one becomes unpublished. Fires ``themes/publish``."""
        theme = self.get_theme(theme_id)
        if theme.role == "main":
            return theme
        if theme.role in ("demo",):
            raise Conflict("a demo theme cannot be published; buy it first", field="role")
        previous = self.main_theme()
        now = self.ctx.now()
        if previous is not None:
            previous.role = "unpublished"
            previous.updated_at = now
        theme.role = "main"
        theme.updated_at = now
        self.ctx.bus.publish(ThemePublished(shop=self.ctx.domain, at=now, theme_id=theme.id,
                                            previous_theme_id=previous.id if previous else None))
        return theme

    def rename_theme(self, theme_id: int, name: Any) -> Theme:
        theme = self.get_theme(theme_id)
        if not isinstance(name, str) or not name.strip() or len(name) > 50:
            raise ValidationFailed("name must be a non-empty string of at most 50 characters", field="name")
        theme.name = name.strip()
        theme.updated_at = self.ctx.now()
        return theme

    # -- assets --------------------------------------------------------------------------------------------
    def get_asset(self, theme_id: int, key: str) -> ThemeAsset:
        asset = self.get_theme(theme_id).assets.get(key)
        if asset is None:
            raise NotFound(f"theme {theme_id} has no asset {key!r}", resource="asset")
        return asset

    def put_asset(self, theme_id: int, key: Any, value: Any) -> ThemeAsset:
        """Create or replace a text asset; a ``.json`` asset must be valid JSON (Shopify validates it)."""
        theme = self.get_theme(theme_id)
        if not isinstance(key, str) or not _ASSET_KEY_RE.match(key) or len(key) > 255:
            raise ValidationFailed("key must be a path under assets/, config/, layout/, locales/, sections/, "
                                   "snippets/ or templates/", field="key")
        if not isinstance(value, str):
            raise ValidationFailed("value must be a string (binary attachments are not emulated)", field="value")
        if key.endswith(".json"):
            try:
                json.loads(value)
            except ValueError as exc:
                raise ValidationFailed(f"{key} is not valid JSON: {exc.args[0] if exc.args else exc}",
                                       field="asset") from exc
        now = self.ctx.now()
        asset = theme.assets.get(key)
        if asset is not None and asset.value == value:
            return asset
        if asset is None:
            asset = ThemeAsset(key=key, value=value, content_type=_content_type(key), created_at=now, updated_at=now)
            theme.assets[key] = asset
        else:
            asset.value = value
            asset.updated_at = now
        theme.updated_at = now
        self.ctx.bus.publish(ThemeAssetUpdated(shop=self.ctx.domain, at=now, theme_id=theme.id, key=key))
        return asset

    def set_app_embed(self, theme_id: int, state: Any) -> ThemeAsset:
        """What the merchant does in the theme editor: turn the app embed on or off (or remove it)."""
        if state not in APP_EMBED_STATES:
            raise ValidationFailed(f"state must be one of {', '.join(APP_EMBED_STATES)}", field="state")
        theme = self.get_theme(theme_id)
        asset = theme.assets.get(SETTINGS_DATA)
        try:
            data = json.loads(asset.value) if asset is not None else None
        except ValueError:
            data = None
        blocks = _settings_blocks(data)
        if data is None or blocks is None:
            return self.put_asset(theme_id, SETTINGS_DATA, self._settings_data(theme_id, state))
        embeds = [k for k, b in blocks.items()
                  if isinstance(b, dict) and isinstance(b.get("type"), str) and _APP_EMBED_RE.match(b["type"])]
        if state == "missing":
            for k in embeds:
                del blocks[k]
        elif embeds:
            for k in embeds:
                blocks[k]["disabled"] = state == "disabled"
        else:
            fresh = json.loads(self._settings_data(theme_id, state))["current"]["blocks"]
            blocks.update(fresh)
        return self.put_asset(theme_id, SETTINGS_DATA, json.dumps(data, indent=2))


def _content_type(key: str) -> str:
    for suffix, kind in _CONTENT_TYPES.items():
        if key.endswith(suffix):
            return kind
    return "text/plain"
