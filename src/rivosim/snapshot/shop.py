"""One shop's snapshot (``GET /_rivosim/snapshot?shop=DOMAIN``) and its restore into a running simulator: the shop
itself (document, credentials, Rivo and Shopify state, syncs, integrations, admin, its random streams and id
counters) and its share of the simulator's services — its timers and their handlers, its webhook deliveries
(pending and retrying), its trigger log, its fault rules, its rate-limit buckets, its read lag.

The simulator's services are ``$ext`` nodes, wired on restore to the target's own. Restoring checks everything
first (the timers against their handlers too); only then is an existing shop of that domain deleted and the
saved one put in its place. The shop keeps its own clock (time and timers), joined to the target's timeline."""

from __future__ import annotations

from typing import Any

from rivosim.kernel.clock import Clock, VirtualClock, WallClock
from rivosim.snapshot.codec import Encoder, SnapshotError
from rivosim.snapshot.decode import Decoder
from rivosim.snapshot.format import FORMAT, VERSION, rivosim_version

__all__ = ["adopt_sample_stream", "restore_shop", "take_shop_snapshot"]

SHOP_CLOCK = "shop_clock"  # the external name of the snapshot's own shop clock
SERVICES = ("triggers", "shopify_webhooks", "outbox", "faults", "limiter", "lag", "randomness", "bugs", "journal")


def _services(sim: Any) -> dict[str, Any]:
    out = {"simulator": sim, "clock": sim.clock, "listening": sim.listening, "lock": sim.lock,
           "sender": sim.outbox.sender}
    out.update({name: getattr(sim, name) for name in SERVICES})
    return out


def take_shop_snapshot(sim: Any, domain: str, *, journal: bool = False) -> dict[str, Any]:
    shop = sim.shop(domain)
    clock: Clock = shop.clock
    keys = shop.credentials
    # The shop, then each service's share of it (``export_state``: trigger log, webhook-id stream, deliveries,
    # fault rules, rate-limit buckets, read lag), under the keys ``restore_shop`` hands back to ``import_state``.
    state = {"shop": shop, **sim.triggers.export_state(domain), **sim.shopify_webhooks.export_state(domain),
             **sim.outbox.export_state(domain), **sim.faults.export_state(domain),
             **sim.limiter.export_state(domain, keys.rivo_api_key, keys.shopify_access_token),
             **sim.lag.export_state(domain)}
    # The shop's own clock is an external of the encoding: its time and timers travel as its export below.
    encoder = Encoder({id(v): k for k, v in {**_services(sim), SHOP_CLOCK: clock}.items()})
    try:
        exported = clock.export_state()
        simulator = {**sim.clock.export_state(), "timers": []}  # the simulator's time, for information
    except ValueError as exc:
        raise SnapshotError(str(exc), f"clocks.shops.{domain}") from exc
    handlers = clock.handlers()
    encoded = encoder.encode_all({"state": state, "clocks.handlers": {f"shop:{domain}": handlers}})
    encoded_state, encoded_handlers = encoded["state"], encoded["clocks.handlers"]
    return {
        "format": FORMAT, "version": VERSION, "rivosim": rivosim_version(), "scope": "shop", "shop": domain,
        "taken_at": clock.now().isoformat(),
        "config": {"seed": sim.seed, "clock": sim.clock.kind, "journal_cap": sim.journal_cap},
        "clocks": {"simulator": simulator, "shops": {domain: exported}, "handlers": encoded_handlers},
        "state": encoded_state,
        "journal": None if not journal else Encoder().encode_all(
            {"journal": [e for e in sim.journal.entries() if e.shop == domain]})["journal"],
    }


def restore_shop(sim: Any, doc: dict[str, Any]) -> str:
    """Put the shop of a shop snapshot into ``sim`` (replacing a shop of that domain). Returns its domain."""
    domain = doc["shop"]
    clock_state = (doc["clocks"].get("shops") or {}).get(domain)
    if not isinstance(clock_state, dict) or clock_state.get("kind") not in ("virtual", "wall"):
        raise SnapshotError("a shop snapshot holds its shop's clock (virtual or wall)", f"clocks.shops.{domain}")
    # A fresh clock for the shop, joined to the simulator's timeline only once everything has been checked.
    clock: Clock = WallClock() if clock_state["kind"] == "wall" else VirtualClock()
    decoder = Decoder({**_services(sim), SHOP_CLOCK: clock})
    decoded = decoder.decode_all({"state": doc["state"], "clocks.handlers": doc["clocks"].get("handlers", {})})
    state, handlers = decoded["state"], decoded["clocks.handlers"]
    handlers = handlers.get(f"shop:{domain}", {}) if isinstance(handlers, dict) else None
    if not isinstance(state, dict) or not isinstance(handlers, dict):
        raise SnapshotError("state and handlers must be objects", "state")
    shop = state.get("shop")
    if type(shop).__name__ != "Shop" or shop.domain != domain:
        raise SnapshotError(f"state.shop must be the shop {domain}", "state.shop")
    if shop.clock is not clock:
        raise SnapshotError("state.shop.clock must be the shop's own clock", "state.shop.clock")
    if any(not isinstance(k, str) or not callable(v) for k, v in handlers.items()):
        raise SnapshotError("handlers must be rivosim functions", "clocks.handlers")
    for action, handler in handlers.items():
        clock.handle(action, handler)
    try:  # checks every timer against the handlers; the clock is still this function's own
        clock.import_state(clock_state)
    except ValueError as exc:
        raise SnapshotError(str(exc), f"clocks.shops.{domain}") from exc
    deliveries = state.get("deliveries") or []
    if any(type(d).__name__ != "Delivery" or d.shop != domain for d in deliveries):
        raise SnapshotError(f"deliveries must be deliveries of {domain}", "state.deliveries")
    rules = state.get("fault_rules") or []
    if any(type(r).__name__ != "FaultRule" for r in rules):
        raise SnapshotError("fault_rules must be fault rules", "state.fault_rules")
    # -- checked: from here on nothing can fail --------------------------------------------------------------
    with sim.lock:
        if domain in sim.shops:
            sim.delete_shop(domain)
        sim.shops[domain] = shop
        sim.timeline.add(domain, clock)
        sim._by_rivo_key[shop.credentials.rivo_api_key] = shop
        sim._by_shopify_token[shop.credentials.shopify_access_token] = shop
        adopt_sample_stream(shop, state.get("sample_stream"))
        sim.triggers.import_state(shop, state)
        sim.shopify_webhooks.import_state(shop, state)
        sim.outbox.import_state(domain, clock, state)  # its deliveries and retries run on its own clock
        sim.faults.import_state(state)
        sim.limiter.import_state(state)
        sim.lag.import_state(domain, state)
        for hook in list(sim.on_shop_created):
            hook(shop)
    return domain


def adopt_sample_stream(shop: Any, stream: Any) -> None:
    """Version 1 kept a shop's sample-webhook stream outside it (``sample_stream``, ``@sample_streams``); version
    2 keeps it in the shop's id source (``IdSource.stream``). A version 1 shop gets its streams there."""
    ids = shop.ids
    if not isinstance(getattr(ids, "streams", None), dict):
        ids.streams = {}
    if stream is not None:
        ids.streams.setdefault("webhook-samples", stream)
