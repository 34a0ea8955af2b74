"""The Rivo merchant API, ``/merchant_api/v1`` (rivo-api.md §1-§3): its gates (API key, then the per-key rate
limit) and its resources, one module each. Views are thin: parse, call ``RivoBackend``, wrap with ``wire``.
"""

from __future__ import annotations

from rivosim.http.rivo import customers, ledger, program, referrals, rewards, webhooks
from rivosim.http.rivo.common import PREFIX
from rivosim.http.rivo.gates import authenticate, rate_limit
from rivosim.http.routing import ApiBlueprint

__all__ = ["PREFIX", "blueprint"]

blueprint = ApiBlueprint(
    "rivo", __name__, api="rivo", url_prefix=PREFIX, gates=(authenticate, rate_limit),
    routes=(customers.routes, rewards.routes, ledger.routes, program.routes, referrals.routes, webhooks.routes,
            program.info_routes))
