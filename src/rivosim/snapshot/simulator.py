"""A simulator's snapshot assembled from its sections, and restored: into a fresh object first (everything
checked), then swapped in, so a refused snapshot changes nothing.

Sections: ``config`` (seed, clock kind, journal cap), ``clocks`` (``Clock.export_state()`` of the simulator's
clock and of every shop clock of its own, plus the timer-action handlers, which are rivosim functions the
codec names), ``state`` (every other attribute of the simulator, through the codec: shops with their
documents, credentials, Rivo and Shopify state, syncs, integrations, admin; random streams and id counters;
the outbox with pending and retrying deliveries; fault rules and limiter buckets; read lag; the bug ring;
the webhook trigger logs) and, when asked, ``journal``.

What a snapshot never carries is the host's wiring: the lock, the hooks, where the server listens, the webhook
sender. Restore keeps the target's own (``$ext`` nodes are wired to them).
"""

from __future__ import annotations

from typing import Any

from rivosim.kernel.clock import Clock, VirtualClock, WallClock
from rivosim.snapshot.codec import Encoder, SnapshotError, paused_gc
from rivosim.snapshot.decode import Decoder
from rivosim.snapshot.format import FORMAT, VERSION, load_document, rivosim_version
from rivosim.snapshot.shop import adopt_sample_stream, restore_shop, take_shop_snapshot

__all__ = ["restore_simulator", "take_snapshot"]

# The simulator's own wiring: never saved, kept by the target on restore.
HOST_ATTRS = frozenset({"lock", "on_reset", "on_shop_created", "on_shop_deleted", "listening", "_clock_spec",
                        "clock", "journal", "journal_cap", "timeline"})


def _externals(sim: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"simulator": sim, "clock": sim.clock, "listening": sim.listening, "lock": sim.lock,
                           "sender": sim.outbox.sender}
    for domain, shop in sim.shops.items():
        clock = getattr(shop, "clock", None)
        if clock is not None and clock is not sim.clock:
            out[f"clock:{domain}"] = clock
    return out


def _export_clock(clock: Clock, where: str) -> dict[str, Any]:
    try:
        return clock.export_state()
    except ValueError as exc:
        raise SnapshotError(str(exc), where) from exc


def take_snapshot(sim: Any, *, journal: bool = False, shop: str | None = None) -> dict[str, Any]:
    """The whole simulator (or the shop ``shop``) as a JSON-able snapshot document."""
    if shop is not None:
        return take_shop_snapshot(sim, shop, journal=journal)
    externals = _externals(sim)
    state_attrs = {k: v for k, v in vars(sim).items() if k not in HOST_ATTRS}
    encoder = Encoder({id(v): k for k, v in externals.items()})
    clocks: dict[str, Any] = {"simulator": _export_clock(sim.clock, "clocks.simulator")}
    shop_clocks = {k.partition(":")[2]: v for k, v in externals.items() if k.startswith("clock:")}
    if shop_clocks:
        clocks["shops"] = {d: _export_clock(c, f"clocks.shops.{d}") for d, c in shop_clocks.items()}
    handlers = {"simulator": sim.clock.handlers(), **{f"shop:{d}": c.handlers() for d, c in shop_clocks.items()}}
    encoded = encoder.encode_all({"state": state_attrs, "clocks.handlers": handlers})
    state = encoded["state"]
    clocks["handlers"] = encoded["clocks.handlers"]
    return {
        "format": FORMAT, "version": VERSION, "rivosim": rivosim_version(), "scope": "simulator",
        "taken_at": sim.clock.now().isoformat(),
        "config": {"seed": sim.seed, "clock": sim.clock.kind, "journal_cap": sim.journal_cap},
        "clocks": clocks,
        "state": state,
        "journal": Encoder().encode_all({"journal": sim.journal})["journal"] if journal else None,
    }


def _new_clock(kind: str, like: Clock | None = None) -> Clock:
    seq = getattr(like, "seq", None)
    if kind == "wall":
        return WallClock(seq=seq) if seq is not None else WallClock()
    return VirtualClock(seq=seq) if seq is not None else VirtualClock()


def restore_simulator(sim: Any, raw: bytes | str | dict[str, Any]) -> str:
    """Replace ``sim``'s whole state with the snapshot's. Everything is decoded and checked into fresh objects
    first; only then is ``sim`` changed (a refusal — :class:`SnapshotError` — changes nothing)."""
    with paused_gc(promote=True):  # the parsed document and the world made of it: no collection pays off
        doc = load_document(raw)
        try:
            return _restore(sim, doc)
        except RecursionError as exc:
            raise SnapshotError("the snapshot is nested too deeply to be a rivosim state", "state") from exc


def _restore(sim: Any, doc: dict[str, Any]) -> str:
    if doc["scope"] == "shop":
        restore_shop(sim, doc)
        return "shop"
    config = doc["config"]
    clock = _new_clock(config["clock"])
    shop_clocks_state = doc["clocks"].get("shops", {})
    externals = {"simulator": sim, "clock": clock, "listening": sim.listening, "lock": sim.lock,
                 "sender": sim.outbox.sender}
    # The clocks of one simulator share a sequence counter and a timeline (kernel/timeline.py), rebuilt here.
    timeline = type(sim.timeline)(clock) if hasattr(sim, "timeline") else None
    for domain, clock_state in shop_clocks_state.items():
        kind = clock_state.get("kind") if isinstance(clock_state, dict) else None
        if kind not in ("virtual", "wall"):
            raise SnapshotError("kind must be virtual or wall", f"clocks.shops.{domain}")
        shop_clock = externals[f"clock:{domain}"] = _new_clock(kind)
        if timeline is not None:
            timeline.add(domain, shop_clock)
    decoder = Decoder(externals)
    decoded = decoder.decode_all({"state": doc["state"], "clocks.handlers": doc["clocks"].get("handlers", {})})
    state, handlers = decoded["state"], decoded["clocks.handlers"]
    if not isinstance(state, dict) or not isinstance(handlers, dict):
        raise SnapshotError("state and clocks.handlers must be objects", "state")
    _import_clock(clock, doc["clocks"]["simulator"], handlers.get("simulator", {}), "clocks.simulator")
    for domain, clock_state in shop_clocks_state.items():
        _import_clock(externals[f"clock:{domain}"], clock_state, handlers.get(f"shop:{domain}", {}),
                      f"clocks.shops.{domain}")
    journal = None
    if doc.get("journal") is not None:
        journal = Decoder().decode_all({"journal": doc["journal"]})["journal"]
        if type(journal).__name__ != "Journal":
            raise SnapshotError("journal must be a Journal", "journal")
    _check_state(sim, state)
    state["outbox"].retry_in_flight()
    sample_streams = state.pop("@sample_streams", {})  # version 1 kept these outside the shops
    if not isinstance(sample_streams, dict) or any(type(s).__name__ != "Random" for s in sample_streams.values()):
        raise SnapshotError("@sample_streams maps domains to random streams", "state.@sample_streams")
    for domain, shop in state["shops"].items():
        adopt_sample_stream(shop, sample_streams.get(domain))
    # -- nothing above touched ``sim``; from here on nothing can fail ----------------------------------------
    old_sender = sim.outbox.sender
    for key, value in state.items():
        setattr(sim, key, value)
    sim.outbox.sender = old_sender
    sim.clock = clock
    if timeline is not None:  # it heard of the imported timers as each clock took them (Clock.import_state)
        sim.timeline = timeline
    sim._clock_spec = config["clock"]
    sim.journal_cap = config["journal_cap"]
    if journal is not None:
        sim.journal = journal
    for hook in list(sim.on_reset):
        hook()
    return "simulator"


def _import_clock(clock: Clock, state: Any, handlers: Any, where: str) -> None:
    if not isinstance(handlers, dict):
        raise SnapshotError("handlers must be an object", where)
    for action, handler in handlers.items():
        if not callable(handler):
            raise SnapshotError(f"handler of {action!r} is not a function", where)
        clock.handle(action, handler)
    try:
        clock.import_state(state)
    except ValueError as exc:
        raise SnapshotError(str(exc), where) from exc


def _check_state(sim: Any, state: dict[str, Any]) -> None:
    """The decoded sections have the types the simulator's own have (a snapshot cannot put a list where the
    outbox goes, nor drop a section)."""
    for key, current in vars(sim).items():
        if key in HOST_ATTRS:
            continue
        if key not in state:
            raise SnapshotError(f"the snapshot lacks the simulator's {key!r}", f"state.{key}")
        value = state[key]
        if current is not None and type(value) is not type(current) \
                and not (isinstance(current, int | float) and type(value) in (int, float)):
            raise SnapshotError(f"{key} must be a {type(current).__name__}, not {type(value).__name__}",
                                f"state.{key}")
    unknown = set(state) - set(vars(sim)) - {"@sample_streams"}
    if unknown:
        raise SnapshotError(f"unknown section(s) {', '.join(sorted(unknown))}", "state")
    shops = state["shops"]
    if not isinstance(shops, dict) or any(type(s).__name__ != "Shop" for s in shops.values()):
        raise SnapshotError("shops must map domains to shops", "state.shops")
