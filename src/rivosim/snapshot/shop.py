"""One shop's snapshot (``GET /_rivosim/snapshot?shop=DOMAIN``) and its restore into a running simulator: the shop
itself (document, credentials, Rivo and Shopify state, syncs, integrations, admin, its random streams and id
counters) and its share of the simulator's services — its timers and their handlers, its webhook deliveries
(pending and retrying), its trigger log, its fault rules, its rate-limit buckets, its read lag.

The simulator's services are ``$ext`` nodes, wired on restore to the target's own. Restoring checks everything
first (the timers against their handlers too); only then is an existing shop of that domain deleted and the
saved one put in its place. Its timers join the target's clock in their saved order (due, then seq)."""

from __future__ import annotations

from typing import Any

from rivosim.kernel.clock import Clock
from rivosim.kernel.durations import parse_instant
from rivosim.snapshot.codec import Encoder, SnapshotError
from rivosim.snapshot.decode import Decoder
from rivosim.snapshot.format import FORMAT, VERSION, rivosim_version
from rivosim.webhooks import samples

__all__ = ["fresh_revisions", "restore_shop", "take_shop_snapshot"]

SERVICES = ("triggers", "shopify_webhooks", "outbox", "faults", "limiter", "lag", "randomness", "bugs", "journal")


def _services(sim: Any) -> dict[str, Any]:
    out = {"simulator": sim, "clock": sim.clock, "listening": sim.listening, "lock": sim.lock,
           "sender": sim.outbox.sender}
    out.update({name: getattr(sim, name) for name in SERVICES})
    return out


def _mine(domain: str, shop: Any, key: str) -> bool:
    c = shop.credentials
    return domain in key or c.rivo_api_key in key or c.shopify_access_token in key


def take_shop_snapshot(sim: Any, domain: str, *, journal: bool = False) -> dict[str, Any]:
    shop = sim.shop(domain)
    clock: Clock = shop.clock
    prefix = domain + ":"
    outbox = sim.outbox
    deliveries = [d for d in outbox.deliveries.values() if d.shop == domain]
    state = {
        "shop": shop,
        "trigger_log": sim.triggers.logs.get(domain),
        "shopify_stream": sim.shopify_webhooks._streams.get(domain),
        "sample_stream": samples._STREAMS.get(shop),
        "deliveries": deliveries,
        "finished": [d.id for d in deliveries if d.id in outbox._finished],
        "dropped": outbox.dropped_by_shop.get(domain, 0),
        "fault_rules": [r for r in sim.faults.rules if (r.match or {}).get("shop") == domain
                        or r.origin == f"shop:{domain}"],
        "limiter": {k: v for k, v in sim.limiter._buckets.items() if _mine(domain, shop, k)},
        "lag": sim.lag._shops.get(domain),
    }
    encoder = Encoder({id(v): k for k, v in _services(sim).items()})
    try:
        exported = clock.export_state()
    except ValueError as exc:
        raise SnapshotError(str(exc), "clocks.simulator") from exc
    exported["timers"] = [t for t in exported["timers"] if t["action"].startswith(prefix)]
    handlers = {k: v for k, v in getattr(clock, "_handlers", {}).items() if k.startswith(prefix)}
    encoded = encoder.encode_all({"state": state, "clocks.handlers": {"simulator": handlers}})
    encoded_state, encoded_handlers = encoded["state"], encoded["clocks.handlers"]
    return {
        "format": FORMAT, "version": VERSION, "rivosim": rivosim_version(), "scope": "shop", "shop": domain,
        "taken_at": sim.clock.now().isoformat(),
        "config": {"seed": sim.seed, "clock": sim.clock.kind, "journal_cap": sim.journal_cap},
        "clocks": {"simulator": exported, "handlers": encoded_handlers},
        "state": encoded_state,
        "journal": None if not journal else Encoder().encode_all(
            {"journal": [e for e in sim.journal.entries() if e.shop == domain]})["journal"],
    }


def _checked_timers(raw: Any, handlers: dict[str, Any], prefix: str) -> list[tuple[Any, str, tuple[Any, ...], bool]]:
    if not isinstance(raw, list):
        raise SnapshotError("timers must be a list", "clocks.simulator.timers")
    timers = []
    for i, item in enumerate(sorted(raw, key=lambda t: (str(t.get("due")), t.get("seq", 0))
                                    if isinstance(t, dict) else ("", 0))):
        where = f"clocks.simulator.timers[{i}]"
        if not isinstance(item, dict):
            raise SnapshotError("a timer is an object", where)
        action, args, work = item.get("action"), item.get("args", []), item.get("work", True)
        if not isinstance(action, str) or action not in handlers or not action.startswith(prefix):
            raise SnapshotError(f"timer action {action!r} has no handler of this shop", where)
        if not isinstance(args, list) or not all(isinstance(a, str | int | float | bool | type(None)) for a in args):
            raise SnapshotError("args must be a list of strings, numbers, booleans or nulls", where)
        if not isinstance(work, bool):
            raise SnapshotError("work must be true or false", where)
        try:
            due = parse_instant(item["due"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"due must be an ISO-8601 instant, not {item.get('due')!r}", where) from exc
        timers.append((due, action, tuple(args), work))
    return timers


def restore_shop(sim: Any, doc: dict[str, Any]) -> str:
    """Put the shop of a shop snapshot into ``sim`` (replacing a shop of that domain). Returns its domain."""
    domain = doc["shop"]
    prefix = domain + ":"
    decoder = Decoder(_services(sim))
    decoded = decoder.decode_all({"state": doc["state"], "clocks.handlers": doc["clocks"].get("handlers", {})})
    state, handlers = decoded["state"], decoded["clocks.handlers"]
    handlers = handlers.get("simulator", {}) if isinstance(handlers, dict) else None
    if not isinstance(state, dict) or not isinstance(handlers, dict):
        raise SnapshotError("state and handlers must be objects", "state")
    shop = state.get("shop")
    if type(shop).__name__ != "Shop" or shop.domain != domain:
        raise SnapshotError(f"state.shop must be the shop {domain}", "state.shop")
    if any(not isinstance(k, str) or not k.startswith(prefix) or not callable(v) for k, v in handlers.items()):
        raise SnapshotError(f"handlers must be this shop's ({prefix}...) functions", "clocks.handlers")
    timers = _checked_timers(doc["clocks"]["simulator"].get("timers"), handlers, prefix)
    deliveries = state.get("deliveries") or []
    if any(type(d).__name__ != "Delivery" or d.shop != domain for d in deliveries):
        raise SnapshotError(f"deliveries must be deliveries of {domain}", "state.deliveries")
    rules = state.get("fault_rules") or []
    if any(type(r).__name__ != "FaultRule" for r in rules):
        raise SnapshotError("fault_rules must be fault rules", "state.fault_rules")
    # -- checked: from here on nothing can fail --------------------------------------------------------------
    fresh_revisions([shop])
    with sim.lock:
        if domain in sim.shops:
            sim.delete_shop(domain)
        sim.shops[domain] = shop
        sim._by_rivo_key[shop.credentials.rivo_api_key] = shop
        sim._by_shopify_token[shop.credentials.shopify_access_token] = shop
        if state.get("trigger_log") is not None:
            sim.triggers.logs[domain] = state["trigger_log"]
        sim.triggers._shops[domain] = shop
        sim.shopify_webhooks._shops[domain] = shop
        if state.get("shopify_stream") is not None:
            sim.shopify_webhooks._streams[domain] = state["shopify_stream"]
        if state.get("sample_stream") is not None:
            samples._STREAMS[shop] = state["sample_stream"]
        for delivery in deliveries:
            sim.outbox.deliveries[delivery.id] = delivery
            if delivery.status == "in_flight":  # saved while out: attempted again (see simulator.py)
                delivery.status = "pending"
        for delivery_id in state.get("finished") or []:
            sim.outbox._finished[delivery_id] = None
        if state.get("dropped"):
            sim.outbox.dropped_by_shop[domain] = state["dropped"]
        taken = {r.id for r in sim.faults.rules}
        sim.faults.rules.extend(r for r in rules if r.id not in taken)
        sim.faults._changed()
        sim.limiter._buckets.update(state.get("limiter") or {})
        if state.get("lag"):
            sim.lag._shops[domain] = state["lag"]
        for action, handler in handlers.items():
            sim.clock.handle(action, handler)
        for due, action, args, work in timers:
            sim.clock.schedule(due, action, args, work=work)
        for delivery in deliveries:
            if delivery.status == "pending" and delivery.next_attempt_at is None:
                sim.outbox._schedule(delivery, sim.clock.now())
        for hook in list(sim.on_shop_created):
            hook(shop)
    return domain


def fresh_revisions(shops: Any) -> None:
    """A Rivo backend's ``revision`` is a process-wide cache token ("never reused"): one saved in another process
    could meet this process's counter, so each restored backend takes a new one."""
    from rivosim.domain.rivo import backend

    for shop in shops:
        if hasattr(shop.rivo, "revision"):
            shop.rivo.revision = next(backend._REVISIONS)
