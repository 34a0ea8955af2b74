"""``Simulator``: the composition root. It owns the clock, the seeded randomness, the shops (tenants), the
services (webhook outbox and triggers, faults, rate limits), the journal and the record of simulator bugs;
every transport reaches the domain through it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from rivosim.domain.config import resolve_config
from rivosim.domain.seeding import seed_customers
from rivosim.domain.shop import Shop
from rivosim.faults.fault_set import FaultSet, validate_rules, validate_shop_document
from rivosim.faults.ratelimit import RateLimiter
from rivosim.faults.read_lag import ReadLag
from rivosim.kernel.bugs import BugRing
from rivosim.kernel.clock import Clock, Duration, VirtualClock, WallClock
from rivosim.kernel.errors import AlreadyExists, InvalidConfig, NotFound
from rivosim.kernel.ids import Randomness
from rivosim.kernel.journal import Journal
from rivosim.kernel.templates import TemplateShelf
from rivosim.kernel.timeline import Timeline, shop_clock
from rivosim.snapshot import restore_simulator, take_snapshot
from rivosim.webhooks.outbox import Outbox
from rivosim.webhooks.rivo_topics import Triggers
from rivosim.webhooks.self_target import subscription_refusal
from rivosim.webhooks.senders import BlockingSender, Sender, ThreadedSender
from rivosim.webhooks.shopify_topics import ShopifyWebhooks

__all__ = ["Simulator", "validate_shop_document"]

# Each simulator's shop templates (``reset_shop``) beside it, not in it: a snapshot saves what is in it.
_TEMPLATES: weakref.WeakKeyDictionary[Simulator, TemplateShelf] = weakref.WeakKeyDictionary()
_SERVICES = ("outbox", "triggers", "shopify_webhooks", "faults", "limiter", "lag", "randomness", "journal", "bugs",
             "timeline", "clock", "lock", "listening")


class Simulator:
    """All state of one simulated world. No module-level state: make as many as you like.

    ``Simulator(seed=7)`` uses a virtual clock starting at 2026-01-01T00:00:00Z; ``clock="wall"`` uses real
    time (time travel by ``advance``). The same seed and the same calls give the same ids, codes and responses.
    """

    def __init__(self, seed: int = 0, clock: Clock | str = "virtual", *, journal_cap: int = 10_000) -> None:
        self._clock_spec = clock
        self.journal_cap = journal_cap
        # Hooks outlive resets (services register once and clear their own state on each reset).
        self.on_reset: list[Callable[[], None]] = []
        # Called with every new shop (after the built-in services attach): per-shop services plug in here.
        self.on_shop_created: list[Callable[[Shop], None]] = []
        self.on_shop_deleted: list[Callable[[str], None]] = []
        # Where servers serve this simulator (host, port): webhook URLs aimed there are refused (self_target.py).
        self.listening: list[tuple[str, int]] = []
        # One lock serialises requests and Python-API calls: the server shell answers from its event loop
        # while a test thread may call sim.advance(); the domain itself is single-threaded.
        self.lock = threading.RLock()
        self._stopped_early = False
        self._init(seed)

    def _init(self, seed: int) -> None:
        self.seed = int(seed)
        _TEMPLATES.pop(self, None)
        self.randomness = Randomness(self.seed)
        spec = self._clock_spec
        if isinstance(spec, Clock):
            self.clock: Clock = spec
        elif spec == "wall":
            self.clock = WallClock()
        elif spec == "virtual":
            self.clock = VirtualClock()
        else:
            raise ValueError(f"clock must be 'virtual', 'wall' or a Clock, not {spec!r}")
        # The default clock and every shop's own clock, sharing one sequence counter (kernel/timeline.py).
        self.timeline = Timeline(self.clock)
        self.shops: dict[str, Shop] = {}
        self._by_rivo_key: dict[str, Shop] = {}
        self._by_shopify_token: dict[str, Shop] = {}
        self._names = 0
        self.journal = Journal(self.journal_cap)
        self.bugs = BugRing()  # the latest 1,000 bugs; bugs.total counts them all
        if getattr(self, "outbox", None) is not None:
            self.outbox.close()
        # A wall clock means a live server: deliveries must not block its event loop, so they go out from a
        # thread pool. A virtual clock delivers inline, deterministically, when time is advanced.
        sender = ThreadedSender() if self.clock.kind == "wall" else BlockingSender()
        self.outbox = Outbox(self.clock, sender, listening=self.listening)
        # The two webhook pipelines, built the same way on the outbox they deliver through: Rivo's topics
        # (domain events -> trigger log -> subscriptions) and Shopify's (shop events -> the app's subscriptions).
        self.triggers = Triggers(self.outbox)
        self.shopify_webhooks = ShopifyWebhooks(self.outbox, self.randomness)
        self.faults = FaultSet(self.randomness, now=self.clock.now)
        self.limiter = RateLimiter()
        # Read-after-write lag: what reads of a customer show while a lagged write is still "propagating".
        self.lag = ReadLag()

    def use_sender(self, sender: Sender) -> None:
        """Carry webhook deliveries with ``sender`` until the next ``reset`` (which restores the default)."""
        with self.lock:
            self.outbox.sender.close()
            self.outbox.sender = sender

    # -- lifecycle ---------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """Back to a fresh world: clock, ids, shops and journal (same seed unless a new one is given)."""
        with self.lock:
            if isinstance(self._clock_spec, Clock):
                self._clock_spec = "wall" if self._clock_spec.kind == "wall" else "virtual"
            self._init(self.seed if seed is None else seed)
            for hook in list(self.on_reset):
                hook()

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def stopped_early(self) -> bool:
        """Whether the last advance (global or one shop's) stopped at a delivery (``stop_on_delivery``)."""
        return self._stopped_early

    def advance(self, by: float | str | timedelta | Duration, *, stop_on_delivery: bool = False,
                max_wait: float = 30.0) -> datetime:
        """Move every clock — the simulator's and each shop's — forward by ``by`` (``"P30D"``, seconds, a
        ``timedelta``), running everything that falls due, across shops in the order one shared clock would.
        ``stop_on_delivery``: stop right after the first webhook delivery attempt on the way (at its instant), so
        a client driving the clock remotely can react where a delivery happened with one request, instead of
        stepping from timer to timer (``stopped_early`` says whether it stopped). The deliveries then in
        flight on a threaded sender are waited for (up to ``max_wait`` seconds each), so the receiver has them."""
        with self.lock:
            self.outbox.drain()
            stop = self._delivery_stop() if stop_on_delivery else None
            self.timeline.advance(by, stop=stop)
            self._stopped_early = self.timeline.stopped_early
            self._settle(stop_on_delivery, max_wait)
            return self.clock.now()

    def advance_shop(self, domain: str, by: float | str | timedelta | Duration | None = None, *,
                     to: datetime | None = None, stop_on_delivery: bool = False, max_wait: float = 30.0) -> datetime:
        """Move one shop's clock forward by ``by`` or to ``to``, running only that shop's due work (O(its due
        timers)); every other shop keeps its time. ``to`` before the shop's now is refused (``ValueError``):
        time never moves backwards — reset the shop to start over."""
        with self.lock:
            shop = self.shop(domain)
            clock = shop.clock
            if to is not None:
                if by is not None:
                    raise ValueError("give either a duration or an instant to advance to, not both")
                if to < clock.now():
                    raise ValueError(f"{to.isoformat()} is before the shop's now ({clock.now().isoformat()}): "
                                     "time never moves backwards; reset the shop to start over")
            self.outbox.drain()
            stop = self._delivery_stop() if stop_on_delivery else None
            if to is not None:
                clock.advance_to(to, stop=stop)
            else:
                clock.advance(0 if by is None else by, stop=stop)
            self._stopped_early = clock.stopped_early
            self._settle(stop_on_delivery, max_wait)
            return clock.now()

    def _delivery_stop(self) -> Callable[[], bool]:
        started = self.outbox.attempts_started
        return lambda: self.outbox.attempts_started != started

    def _settle(self, stop_on_delivery: bool, max_wait: float) -> None:
        # Answer once the deliveries are made: the caller's receiver has them when this returns.
        if stop_on_delivery:
            while self.outbox.in_flight and self.outbox.drain(wait=max_wait):
                pass

    def run_until_idle(self, *, max_wait: float = 30.0, shop: str | None = None) -> datetime:
        """Run all queued background work (deliveries and their retries included), moving time only as far as
        it needs. Deliveries in flight on a threaded sender are waited for, up to ``max_wait`` seconds each.

        ``shop``: stop once *that* shop has no work left, so another shop's failing retries (hours apart) do
        not drag the clock along; work of other shops that falls due on the way still runs."""
        with self.lock:
            clock = self.shop(shop).clock if shop is not None else None  # an unknown shop is refused
            while True:
                self.outbox.drain()
                if clock is not None:
                    clock.run_until_idle()
                else:
                    self.timeline.run_until_idle()
                if self.outbox.in_flight == 0 or not self.outbox.drain(wait=max_wait):
                    return (clock or self.clock).now()

    def tick(self) -> None:
        """Run what is due now on every clock (the server calls this periodically): only the clocks whose next
        timer is due are looked at."""
        with self.lock:
            self.outbox.drain()
            self.timeline.run_due()

    def run_due(self) -> None:
        """Fire what is due now on every clock, without moving any."""
        with self.lock:
            self.timeline.run_due()

    # -- shops -------------------------------------------------------------------------------------------
    def create_shop(self, config: dict[str, Any] | None = None, *, customers: int | None = None) -> Shop:
        """Create a shop from a configuration document (defaults fill the rest)."""
        doc = dict(config or {})
        # "customers" is an instruction, not configuration: never keep it in the shop's document.
        doc_count = doc.pop("customers", None)
        seed_count = doc_count if customers is None else customers
        if seed_count is not None and (isinstance(seed_count, bool) or not isinstance(seed_count, int)
                                       or not 0 <= seed_count <= 2_000_000):
            raise InvalidConfig("customers: must be an integer from 0 to 2000000", field="customers")
        with self.lock:
            resolved = resolve_config(doc)
            if resolved["faults"]:
                validate_rules(resolved["faults"])  # before the shop exists: a refused document creates nothing
            domain = resolved.pop("domain", None) or self._next_domain()
            if domain in self.shops:
                raise AlreadyExists(f"a shop with domain {domain} already exists", field="domain")
            return self._create(domain, resolved, seed_count or 0)

    def _create(self, domain: str, resolved: dict[str, Any], seed_count: int, *, seed: int | None = None,
                start: datetime | None = None) -> Shop:
        with self.lock:
            shop = self._build_shop(domain, resolved, seed=seed, start=start)
            shop.seeded_customers = seed_count
            shop.ctx.webhook_url_refusal = lambda url: subscription_refusal(url, self.listening)
            self._place(shop)
            for hook in list(self.on_shop_created):
                hook(shop)
            if seed_count:
                seed_customers(shop, seed_count)
                self.triggers.log(domain).settle()
            return shop

    def _build_shop(self, domain: str, resolved: dict[str, Any], *, seed: int | None = None,
                    start: datetime | None = None) -> Shop:
        clock = self.timeline.add(domain, shop_clock(resolved.get("clock"), start, self.clock))
        randomness = self.randomness if seed is None else Randomness(seed)
        shop = Shop(domain, resolved, randomness, clock)
        shop.seed = seed
        shop.origin = clock.now()
        shop.advancer = lambda by=None, **kw: self.advance_shop(domain, by, **kw)
        self.outbox.attach(domain, clock)
        return shop

    def _next_domain(self) -> str:
        while True:
            self._names += 1
            domain = f"rivosim-shop-{self._names}.myshopify.com"
            if domain not in self.shops:
                return domain

    def reset_shop(self, domain: str, *, start: datetime | None = None, seed: int | None = None,
                   keep_keys: bool = True) -> Shop:
        """Put one shop back to what its document and seed give: its clock back at its start (or at ``start``),
        its customers re-seeded, its journal entries, deliveries, timers, faults added since, rate-limit buckets
        and lag dropped — every other shop untouched, its place in the listing kept. The same credentials unless
        ``keep_keys`` is false (then the seed's); ``seed`` gives the shop a seed of its own. The first reset of a
        virtual-clock shop keeps a template of its fresh state, which later ones copy (kernel/templates.py)."""
        with self.lock:
            old = self.shop(domain)
            if start is not None and start.year > 9998:
                raise InvalidConfig("clock.start: too far in the future", field="clock.start")
            resolved, credentials, origin = dict(old.config), old.credentials, old.origin
            if start is not None:
                resolved["clock"] = {"start": start.isoformat().replace("+00:00", "Z")}
            elif old.clock.kind == "virtual":
                start = old.origin
            seed, count, same_clock = old.seed if seed is None else seed, old.seeded_customers, resolved.get(
                "clock") == old.config.get("clock")
            del old  # hooks may collect garbage: the old shop must not be held by this frame
            self._detach_shop(domain, reset=True)
            # A fresh state is a function of these on a virtual clock (on a wall clock it depends on when it is
            # made); hooks on new shops may do anything, so with any a shop is always made anew. A template refers
            # to the simulator and its services rather than copying them (and never holds deliveries).
            copies = start is not None and not self.on_shop_created
            shop = (_TEMPLATES.setdefault(self, TemplateShelf()) if copies else TemplateShelf()).copy_or_make(
                domain, (resolved, seed, self.seed, start, count), [self, self.outbox.sender, self.timeline.seq,
                                                                   *(getattr(self, name) for name in _SERVICES)],
                place=lambda copy: self._place(*copy), make=lambda: self._create(domain, resolved, count, seed=seed,
                                                                                 start=start),
                keep=lambda made: None if not copies or self.outbox.list(shop=domain) else (made, self.triggers.log(
                    domain)))
            shop.origin = origin if same_clock else shop.origin
            if keep_keys:
                self._by_rivo_key.pop(shop.credentials.rivo_api_key, None)
                self._by_shopify_token.pop(shop.credentials.shopify_access_token, None)
                for name in credentials.__slots__:  # into the object the shop's parts already hold
                    setattr(shop.credentials, name, getattr(credentials, name))
                self._by_rivo_key[credentials.rivo_api_key] = shop
                self._by_shopify_token[credentials.shopify_access_token] = shop
            return shop

    def _place(self, shop: Shop, log: Any = None) -> Shop:
        """A new shop, or one copied from its template with its trigger log (``log``), joins the services."""
        self.shops[shop.domain] = shop
        self._by_rivo_key[shop.credentials.rivo_api_key] = shop
        self._by_shopify_token[shop.credentials.shopify_access_token] = shop
        if log is None:
            self.triggers.attach(shop)
            self.shopify_webhooks.attach(shop)
        else:  # a copy: its bus holds the subscriptions already, its clock its timers (numbered anew)
            self.timeline.add(shop.domain, shop.clock, renumber=True)
            self.outbox.attach(shop.domain, shop.clock)
            self.triggers.adopt(shop, log)
            self.shopify_webhooks.adopt(shop)
        self.faults.install_shop_rules(shop.domain, shop.settings.faults)
        return shop

    def shop(self, domain: str) -> Shop:
        shop = self.shops.get(domain)
        if shop is None:
            known = ", ".join(sorted(self.shops)[:10]) or "none"
            raise NotFound(f"no shop {domain!r}; shops: {known}", resource="shop")
        return shop

    def delete_shop(self, domain: str) -> None:
        with self.lock:
            self._detach_shop(domain, reset=False)

    def _detach_shop(self, domain: str, *, reset: bool) -> None:
        """The shop out of the simulator; a reset keeps its place (and template) and drops its journal entries."""
        shop = self.shop(domain)
        shop.close()
        # Its clock goes with it: its daily ticks, expiries, syncs and deliveries never fire.
        self.timeline.remove(domain)
        self._by_rivo_key.pop(shop.credentials.rivo_api_key, None)
        self._by_shopify_token.pop(shop.credentials.shopify_access_token, None)
        self.triggers.detach(domain)
        self.shopify_webhooks.detach(domain)
        self.faults.clear(shop=domain)
        self.lag.forget(domain)
        self.limiter.forget(f"rivo:{shop.credentials.rivo_api_key}")
        self.outbox.detach(domain)
        del shop  # hooks may collect garbage: the shop must not be held by this frame
        if reset:
            self.journal.drop_shop(domain)
            self.outbox.forget_shop(domain)
            for api in ("shopify_rest", "shopify_graphql"):
                self.limiter.forget(f"{api}:{domain}:")
        else:
            del self.shops[domain]
            _TEMPLATES.get(self, TemplateShelf()).drop(domain)
        for hook in list(self.on_shop_deleted):
            hook(domain)

    def patch_shop(self, domain: str, patch: dict[str, Any]) -> Shop:
        with self.lock:
            shop = self.shop(domain)
            if "faults" in patch and patch["faults"] is not None:
                # Check the new rules before the patch changes anything (a refused patch changes nothing).
                validate_rules(patch["faults"])
            shop.patch(patch)
            if "faults" in patch:
                self.faults.install_shop_rules(shop.domain, shop.settings.faults)
            return shop

    def regenerate_api_key(self, domain: str) -> str:
        with self.lock:
            shop = self.shop(domain)
            self._by_rivo_key.pop(shop.credentials.rivo_api_key, None)
            key = shop.regenerate_api_key()
            self._by_rivo_key[key] = shop
            return key

    def shop_for_rivo_key(self, key: str) -> Shop | None:
        return self._by_rivo_key.get(key)

    def shop_for_shopify_token(self, token: str) -> Shop | None:
        return self._by_shopify_token.get(token)

    def record_bug(self, exc: BaseException, where: str) -> None:
        """A simulator bug (a 500 nobody injected): kept so tests and the control API can surface it."""
        self.bugs.append({"at": self.now().isoformat(), "where": where, "error": f"{type(exc).__name__}: {exc}"})

    # -- snapshot and restore (rivosim/snapshot/) ----------------------------------------------------------
    def snapshot(self, *, journal: bool = False, shop: str | None = None) -> dict[str, Any]:
        """Everything this simulator holds as a JSON-able document (README "Snapshot format"): every shop,
        clock and pending timer, random-stream positions, the outbox, fault rules and limits; the journal too
        when ``journal``. ``shop``: that one shop and its share of the services."""
        with self.lock:
            # Deliveries on their way (a threaded sender) are given a moment to land; one still out after
            # that is saved in flight and attempted again on restore (receivers de-duplicate on its id).
            self.outbox.drain()
            while self.outbox.in_flight and self.outbox.drain(wait=2.0):
                pass
            return take_snapshot(self, journal=journal, shop=shop)

    def restore(self, data: bytes | str | dict[str, Any]) -> str:
        """Become the simulator ``data`` (a snapshot document, or its JSON text) describes. Checked in full first:
        a refused snapshot raises ``rivosim.snapshot.SnapshotError`` and changes nothing. A shop snapshot
        replaces (or adds) that one shop. Returns the snapshot's scope: ``"simulator"`` or ``"shop"``."""
        with self.lock:
            self.outbox.drain()
            return restore_simulator(self, data)

