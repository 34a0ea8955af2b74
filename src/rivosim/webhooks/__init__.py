"""Outbound webhooks: signing (Rivo's two schemes and Shopify's), the outbox with retries on the simulator
clock, and the senders that carry deliveries over real HTTP. ``verify`` is for receivers."""

from __future__ import annotations

from rivosim.webhooks.signing import sign_rivo, sign_shopify, sign_standard, verify, verify_shopify

__all__ = ["sign_rivo", "sign_shopify", "sign_standard", "verify", "verify_shopify"]
