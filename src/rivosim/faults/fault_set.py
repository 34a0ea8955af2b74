"""Fault rules as data: a match (api, route name, method, shop, header, body field), an action (latency,
error status, timeout, reset, empty reply, malformed or slow body, commit-then-fail, read-after-write lag) and
limits (probability, times, after, window, ttl). The pipeline asks ``FaultSet.decide`` once per request.

Every draw comes from the rule's own stream of the simulator's seed, so the same seed and the same request
sequence give the same faults, whatever other rules or shops do.

Being ready must cost nothing: ``candidates(api, route, method, shop)`` answers from a cache keyed by those four
(the rules whose static match could apply), so a request that no rule names costs one dict lookup however many
rules are in force. Control API requests only meet rules that say ``api: control``; read-after-write lag rules only
fire on writes (POST, PUT, PATCH, DELETE).

A latency action may grow with load: ``"load": {"window": "PT1S", "per_request_ms": 150, "max_ms": 5000}`` adds
``per_request_ms`` for every earlier request the rule matched whose arrival lies in the trailing ``window`` of
simulator time (per rule), at most ``max_ms`` — a platform that slows down while a burst of calls is in flight.

What a rule document may say (and how a bad one is refused) is :mod:`rivosim.faults.rules`; the read-after-write
lag a rule starts is kept in :mod:`rivosim.faults.read_lag`; one rule, its matching and drawing, and the decision
for one request are :mod:`rivosim.faults.rule`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from rivosim.domain.config import validate_config
from rivosim.domain.settings import thaw
from rivosim.faults.rule import Decision, FaultRule, RequestFacts, parse_rule
from rivosim.faults.rules import (
    ACTIONS,
    TERMINAL,
    WRITE_METHODS,
    bad,
    distribution_percentile,
)
from rivosim.kernel.errors import InvalidConfig
from rivosim.kernel.ids import Randomness

# ACTIONS, WRITE_METHODS, distribution_percentile (rule documents, faults.rules) and Decision, FaultRule,
# RequestFacts (faults.rule) are re-exported: callers know them from here.
__all__ = ["ACTIONS", "WRITE_METHODS", "Decision", "FaultRule", "FaultSet", "RequestFacts", "distribution_percentile",
           "validate_rules", "validate_shop_document"]


_NO_RULES: tuple[FaultRule, ...] = ()


class FaultSet:
    """The rules in force, in the order they were added (the first terminal rule that fires wins).

    ``now`` (a callable) lets ``add``/``decide`` default to the simulator's clock; the pipeline passes the
    request's arrival time explicitly.
    """

    def __init__(self, randomness: Randomness, now: Callable[[], datetime] | None = None) -> None:
        self._randomness = randomness
        self._now = now
        self.rules: list[FaultRule] = []
        self._seq = 0
        self._cache: dict[tuple[str, str | None, str, str | None], tuple[FaultRule, ...]] = {}
        self._next_expiry: datetime | None = None

    def __len__(self) -> int:
        return len(self.rules)

    def _clock(self, now: datetime | None) -> datetime:
        if now is not None:
            return now
        if self._now is None:
            raise TypeError("this FaultSet has no clock: pass now=")
        return self._now()

    def _changed(self) -> None:
        self._cache.clear()
        expiries = [r.expires_at for r in self.rules if r.expires_at is not None]
        self._next_expiry = min(expiries) if expiries else None

    def export_state(self, shop: str) -> dict[str, Any]:
        """One shop's share, for its snapshot: the rules that match only it or came with it."""
        return {"fault_rules": [r for r in self.rules if (r.match or {}).get("shop") == shop
                                or r.origin == f"shop:{shop}"]}

    def import_state(self, state: dict[str, Any]) -> None:
        """A shop's rules back (as ``export_state`` gave them); one whose id is taken here already is left out."""
        taken = {r.id for r in self.rules}
        self.rules.extend(r for r in state.get("fault_rules") or [] if r.id not in taken)
        self._changed()

    def add(self, raw: Mapping[str, Any] | None = None, now: datetime | None = None, *, where: str = "fault",
            origin: str = "api", **fields: Any) -> FaultRule:
        """Add one rule: ``add({"match": …, "action": …})`` or ``add(match=…, action=…, times=2)``."""
        rule = self.parse({**(raw or {}), **fields}, self._clock(now), where=where, origin=origin)
        if any(r.id == rule.id for r in self.rules):
            raise bad(f"{where}.id", f"a rule with id {rule.id!r} already exists")
        self.rules.append(rule)
        self._changed()
        return rule

    def add_all(self, raws: Iterable[Any], now: datetime | None = None, *, where: str = "faults",
                origin: str = "api", id_prefix: str = "") -> list[FaultRule]:
        """Add a list of rules, all or nothing (the first bad one is refused naming ``where[i].field``)."""
        now = self._clock(now)
        seq = self._seq
        parsed: list[FaultRule] = []
        try:
            for i, raw in enumerate(raws):
                if id_prefix and isinstance(raw, Mapping) and "id" not in raw:
                    raw = {**raw, "id": f"{id_prefix}{i + 1}"}
                rule = self.parse(raw, now, where=f"{where}[{i}]", origin=origin)
                if any(r.id == rule.id for r in self.rules) or any(r.id == rule.id for r in parsed):
                    raise bad(f"{where}[{i}].id", f"a rule with id {rule.id!r} already exists")
                parsed.append(rule)
        except InvalidConfig:
            self._seq = seq
            raise
        self.rules.extend(parsed)
        self._changed()
        return parsed

    def parse(self, raw: Any, now: datetime, *, where: str = "fault", origin: str = "api") -> FaultRule:
        return parse_rule(raw, now, self._randomness, where=where, origin=origin, next_id=self._next_id)

    def _next_id(self) -> str:
        self._seq += 1
        return f"fault-{self._seq}"

    # -- control -------------------------------------------------------------------------------------
    def get(self, rule_id: str) -> FaultRule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def remove(self, rule_id: str) -> FaultRule:
        for i, rule in enumerate(self.rules):
            if rule.id == rule_id:
                removed = self.rules.pop(i)
                self._changed()
                return removed
        raise KeyError(rule_id)

    def clear(self, shop: str | None = None, *, origin: str | None = None) -> int:
        """Remove every rule (``shop``: only that shop's; ``origin``: only rules from there). Returns how many."""
        before = len(self.rules)
        self.rules = [r for r in self.rules
                      if not ((shop is None or r.match.get("shop") == shop) and (origin is None or r.origin == origin))]
        self._changed()
        return before - len(self.rules)

    def replace_origin(self, origin: str, raws: Iterable[Any], now: datetime | None = None, *, where: str = "faults",
                       scope: Mapping[str, Any] | None = None, id_prefix: str = "") -> list[FaultRule]:
        """Swap the rules that came from ``origin`` (a shop document, say) for ``raws``; all or nothing.
        ``scope`` adds match fields to every rule (a shop's own rules match only that shop)."""
        kept = [r for r in self.rules if r.origin != origin]
        previous, self.rules = self.rules, kept
        try:
            scoped = [{**raw, "match": {**(raw.get("match") or {}), **scope}} if scope and isinstance(raw, Mapping)
                      and isinstance(raw.get("match", {}), Mapping) else raw for raw in raws]
            return self.add_all(scoped, now, where=where, origin=origin, id_prefix=id_prefix)
        except InvalidConfig:
            self.rules = previous
            self._changed()
            raise

    def install_shop_rules(self, domain: str, rules: Iterable[Any]) -> None:
        """A shop document's ``faults``, scoped to that shop, replacing those it installed before."""
        raws = [thaw(rule) for rule in rules]
        origin = f"shop:{domain}"
        if raws or any(r.origin == origin for r in self.rules):
            self.replace_origin(origin, raws, where="faults", scope={"shop": domain}, id_prefix=f"{domain}:fault-")

    def list(self, now: datetime | None = None) -> list[FaultRule]:
        """The rules in force (rules whose ttl passed are dropped first)."""
        if self._next_expiry is not None:
            self._expire(self._clock(now))
        return list(self.rules)

    # -- the per-request decision ----------------------------------------------------------------------
    def candidates(self, api: str, route: str | None, method: str, shop: str | None = None
                   ) -> tuple[FaultRule, ...]:
        """The rules whose api/route/method/shop could match: cached, so unnamed requests cost one lookup."""
        if not self.rules:
            return _NO_RULES
        key = (api, route, method, shop)
        found = self._cache.get(key)
        if found is None:
            found = tuple(r for r in self.rules if r.could_apply(api, route, method, shop))
            if len(self._cache) >= 4096:  # many shops: start over rather than grow without bound
                self._cache.clear()
            self._cache[key] = found
        return found

    def decide(self, facts: RequestFacts, now: datetime | None = None) -> Decision:
        now = self._clock(now)
        if not self.rules:
            return Decision()
        if self._next_expiry is not None and now >= self._next_expiry:
            self._expire(now)
        return self.decide_among(self.candidates(facts.api, facts.route, facts.method, facts.shop), facts, now)

    def decide_among(self, candidates: tuple[FaultRule, ...], facts: RequestFacts, now: datetime) -> Decision:
        """Decide among ``candidates`` (from :meth:`candidates`) for one request."""
        decision = Decision()
        if self._next_expiry is not None and now >= self._next_expiry:
            self._expire(now)
        shop = facts.shop
        for rule in candidates:
            m = rule.match
            if ("shop" in m and m["shop"] != shop) or not rule.active(now):
                continue
            if ("header" in m or "body" in m) and not rule.matches_request(facts):
                continue
            rule.matched += 1
            # Every request the rule matches is traffic, whether or not the rule fires for it.
            load = rule.note_load(now) if rule._load_window is not None else 0
            if rule.matched <= rule.after:
                continue
            if rule.kind in TERMINAL and decision.terminal is not None:
                continue
            if rule.probability < 1.0 and rule._stream.random() >= rule.probability:
                continue
            rule.fired += 1
            decision.fired.append(rule.id)
            if rule.kind == "latency":
                decision.latency += rule.sample_latency(load)
            elif rule.kind == "read_after_write_lag":
                decision.lag = decision.lag or rule
            else:
                decision.terminal = rule
        return decision

    def _expire(self, now: datetime) -> None:
        if any(r.expires_at is not None and now >= r.expires_at for r in self.rules):
            self.rules = [r for r in self.rules if r.expires_at is None or now < r.expires_at]
            self._changed()


def validate_rules(raws: Any, where: str = "faults") -> None:
    """Check a list of rules as the parser would (for configuration documents), naming ``where[i].field``."""
    if not isinstance(raws, list):
        raise bad(where, "must be a list of fault rules")
    probe = FaultSet(Randomness(0))
    probe.add_all(raws, datetime(2026, 1, 1, tzinfo=UTC), where=where)




def validate_shop_document(doc: Any) -> None:
    """A shop configuration document checked in full (``rivosim.validate_config``): the domain's JSON Schema and
    cross-field rules, then each ``faults`` rule as the faults layer parses it (refusals name ``faults[i].field``)."""
    validate_config(doc)
    if doc.get("faults"):
        validate_rules(doc["faults"])
