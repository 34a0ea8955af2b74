"""Control API for the embedded admin (Rivo opened inside Shopify admin): session tokens and how opening the
app succeeds or fails. Filled in by the embedded-admin work."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["blueprint"]

blueprint = Blueprint("control_admin", __name__, url_prefix="/_rivosim/shops/<domain>/admin")
