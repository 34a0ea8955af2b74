"""Hand-written widenings of the derived shape tables: what the contract suite's traffic never shows but the
code can answer (a field that is null for some objects, a type a value only sometimes has). Each entry names
the place — ``components/<Name>/<field>/…`` or ``routes/<route name>/<status>/<field>/…`` — and the compact spec
that replaces what ``derive.py`` saw, with the reason. Found by schemathesis or by reading ``rivosim.wire``.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["OVERRIDES", "apply_overrides"]

_CONSENT = {"$nullable": {"consent_updated_at": "string?", "opt_in_level": "string?", "state": "string",
                          "consent_collected_from?": "string"}}

OVERRIDES: dict[str, dict[str, Any]] = {
    "shopify": {
        # A customer created without an email (POST /customers.json with {"customer": {}}) has none, and then
        # no email consent either (wire.shopify.customer).
        "components/ShopifyCustomer/email": "string?",
        "components/ShopifyCustomer/email_marketing_consent": _CONSENT,
        "components/ShopifyCustomer/sms_marketing_consent": _CONSENT,
        "components/ShopifyCustomer/phone": "string?",
    },
    "rivo": {},
    "control": {
        "routes/control.customers.create/201/email": "string?",
    },
}


def apply_overrides(api: str, table: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(table)
    for place, spec in OVERRIDES.get(api, {}).items():
        parts = place.split("/")
        node = out
        for part in parts[:-1]:
            node = node[part] if part in node else node[part + "?"]
        leaf = parts[-1]
        node[leaf + "?" if leaf + "?" in node else leaf] = spec
    return out
