"""Marketing integrations Rivo feeds (rivo-api.md §7.5): Klaviyo and Postscript as simulated platforms that
hold profile properties and events with the names Rivo's help centre gives.

Connected integrations come from the shop document (``integrations: [{name, connected_domain}]``). Loyalty
events reach them automatically, batched in the background (``AUTO_DELAY`` after the first change). A manual
"Sync Customers" is queued, then pushes every member's properties in the background; a second one for the same
integration within an hour is refused with when it will be allowed; each integration runs on its own.
An integration connected with another domain than the shop's fails every sync with the "Data Not Syncing"
message the dashboard shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.events import (
    ActionCompleted,
    CustomerJoinedProgram,
    DomainEvent,
    PointsEventCreated,
    RedemptionCreated,
    ReferralClaimed,
    ReferralCompleted,
    StorefrontActionRecorded,
    TierChanged,
)
from rivosim.domain.rivo.backend import RivoBackend
from rivosim.domain.rivo.models import Member
from rivosim.domain.syncs import HISTORY, START_DELAY, SyncRun, find_run, run_chunk
from rivosim.kernel.errors import NotFound, TooManyRequestsForSync

__all__ = ["AUTO_DELAY", "INTEGRATIONS", "MANUAL_SYNC_INTERVAL", "IntegrationSpec", "Integrations"]

AUTO_DELAY = timedelta(seconds=10)  # INFERRED: "runs automatically ... in the background"
MANUAL_SYNC_INTERVAL = timedelta(hours=1)  # §7.5 and the sync guide: once per hour per integration
MAX_EVENTS = 10_000


@dataclass(frozen=True, slots=True)
class IntegrationSpec:
    display_name: str
    properties: dict[str, str]  # our name -> the platform's property name
    events: dict[str, str]  # our kind -> the platform's event (metric) name


# rivo-api.md §7.5 (CONFIRMED names). "Advocate signup" and "Referral invite friend" have no counterpart here.
INTEGRATIONS: dict[str, IntegrationSpec] = {
    "klaviyo": IntegrationSpec(
        "Klaviyo",
        {"dob": "Rivo Date of Birth", "status": "Rivo Loyalty Status", "points": "Rivo Points Balance",
         "referral_url": "Rivo Referral URL", "tier": "Rivo VIP Tier Name"},
        {"birthday": "Customer birthday", "tier_down": "Customer moves down a tier",
         "tier_up": "Customer moves up a tier", "points_earned": "Points earned",
         "referral_completed": "Referral completed", "referral_claimed": "Referral friend claim",
         "reward_redeemed": "Reward redeemed"}),
    "postscript": IntegrationSpec(
        "Postscript",
        {"points": "Rivo-Points-Balance", "status": "Rivo-Loyalty-Status", "referral_url": "Rivo-Referral-URL",
         "tier": "Rivo-VIP-Tier-Name", "dob": "Rivo-Date-of-Birth"},
        {"points_earned": "Points Earned", "tier_up": "Customer Moves Up A Tier",
         "tier_down": "Customer Moves Down A Tier", "reward_redeemed": "Reward Redeemed",
         "referral_completed": "Referral Completed"}),
}


@dataclass(slots=True, eq=False)
class IntegrationState:
    name: str
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    pending_customers: set[int] = field(default_factory=set)
    pending_events: list[tuple[str, int, dict[str, Any], datetime]] = field(default_factory=list)
    flush_scheduled: bool = False
    last_synced_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failed_updates: int = 0
    runs: list[SyncRun] = field(default_factory=list)
    last_manual_at: datetime | None = None


def _when(delta: timedelta) -> str:
    minutes = max(1, -(-int(delta.total_seconds()) // 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class Integrations:
    def __init__(self, ctx: ShopContext, rivo: RivoBackend) -> None:
        self.ctx = ctx
        self.rivo = rivo
        self.states: dict[str, IntegrationState] = {}
        ctx.bus.subscribe_all(self._on_event)
        ctx.handle("integration.flush", self._flush)
        ctx.handle("integration.sync", self._run)
        ctx.handle("integration.sync_chunk", self._sync_chunk)

    # -- configuration ---------------------------------------------------------------------------------------
    def connected(self) -> dict[str, str]:
        """name -> the domain it was connected with (the shop's own unless the document says otherwise)."""
        return {item.name: item.connected_domain or self.ctx.domain for item in self.ctx.settings().integrations}

    def state(self, name: str) -> IntegrationState:
        if name not in INTEGRATIONS:
            raise NotFound(f"unknown integration {name!r}; integrations: {', '.join(INTEGRATIONS)}",
                           resource="integration")
        if name not in self.connected():
            raise NotFound(f"{INTEGRATIONS[name].display_name} is not connected to {self.ctx.domain}: add "
                           f'{{"name": "{name}"}} to the shop\'s integrations', resource="integration")
        return self.states.setdefault(name, IntegrationState(name))

    def domain_error(self, name: str) -> str | None:
        """The dashboard's "Data Not Syncing" message when the connected domain is not the shop's exactly."""
        connected = self.connected().get(name)
        if connected is None or connected == self.ctx.domain:
            return None
        label = INTEGRATIONS[name].display_name
        return (f"Data Not Syncing: {label} is connected with the store domain {connected}, but this store is "
                f"{self.ctx.domain}. The domains must match exactly: reconnect {label} from {self.ctx.domain}.")

    # -- what Rivo sends -------------------------------------------------------------------------------------
    def profile_properties(self, name: str, member: Member) -> dict[str, Any]:
        props = INTEGRATIONS[name].properties
        tier = self.rivo.tiers.get(member.vip_tier_id) if member.vip_tier_id else None
        code = self.rivo.referral_code(member.id)
        values = {"dob": member.dob, "status": member.loyalty_status, "points": member.points_tally,
                  "referral_url": f"https://{self.ctx.domain}?referral_code={code}",
                  "tier": tier.name if tier else None}
        return {props[key]: value for key, value in values.items()}

    def _events_for(self, event: DomainEvent) -> list[tuple[str, int, dict[str, Any]]]:
        rivo = self.rivo
        if isinstance(event, PointsEventCreated):
            if event.points_diff > 0:
                return [("points_earned", event.customer_id, {"points": event.points_diff, "source": event.source})]
        elif isinstance(event, TierChanged):
            tier = rivo.tiers.get(event.to_tier_id) if event.to_tier_id else None
            before = rivo.tiers.get(event.from_tier_id) if event.from_tier_id else None
            kind = "tier_up" if event.direction == "upgraded" else "tier_down"
            return [(kind, event.customer_id, {"tier": tier.name if tier else None,
                                               "previous_tier": before.name if before else None})]
        elif isinstance(event, RedemptionCreated):
            redemption = rivo.redemptions.get(event.redemption_id)
            if redemption is not None:
                return [("reward_redeemed", event.customer_id, {"reward": redemption.name, "code": redemption.code,
                                                                "points_spent": redemption.points_amount})]
        elif isinstance(event, ReferralCompleted):
            return [("referral_completed", event.advocate_customer_id, {"referral_id": event.referral_id})]
        elif isinstance(event, ReferralClaimed):
            return [("referral_claimed", event.advocate_customer_id, {"referral_id": event.referral_id})]
        elif isinstance(event, ActionCompleted) and event.trigger == "customer_birthday":
            return [("birthday", event.customer_id, {})]
        elif isinstance(event, CustomerJoinedProgram | StorefrontActionRecorded):
            return [("", event.customer_id, {})]  # a profile update only
        return []

    def _on_event(self, event: DomainEvent) -> None:
        connected = self.ctx.settings().integrations
        if not connected:
            return
        items = self._events_for(event)
        if not items:
            return
        for entry in connected:
            name = entry.name
            spec = INTEGRATIONS[name]
            state = self.states.setdefault(name, IntegrationState(name))
            for kind, customer_id, props in items:
                state.pending_customers.add(customer_id)
                if kind in spec.events:
                    state.pending_events.append((spec.events[kind], customer_id, props, event.at))
            if not state.flush_scheduled:
                state.flush_scheduled = True
                self.ctx.schedule(self.ctx.now() + AUTO_DELAY, "integration.flush", (name,))

    def _flush(self, name: str) -> None:
        state = self.states[name]
        state.flush_scheduled = False
        customers, events = state.pending_customers, state.pending_events
        state.pending_customers, state.pending_events = set(), []
        if state.name not in self.connected():
            return  # disconnected since: nothing is sent
        error = self.domain_error(state.name)
        if error is not None:
            state.last_error, state.last_error_at = error, self.ctx.now()
            state.failed_updates += len(customers) + len(events)
            return
        for cid in sorted(customers):
            self._push_profile(state, cid)
        for name, cid, props, at in events:
            member = self.rivo.members.get(cid)
            state.events.append({"name": name, "customer_id": cid, "profile": self._profile_key(member, cid),
                                 "properties": props, "occurred_at": at.isoformat(),
                                 "received_at": self.ctx.now().isoformat()})
        del state.events[:-MAX_EVENTS]
        state.last_synced_at = self.ctx.now()
        state.last_error = None

    @staticmethod
    def _profile_key(member: Member | None, customer_id: int) -> str:
        return member.email.casefold() if member is not None and member.email else f"customer:{customer_id}"

    def _push_profile(self, state: IntegrationState, customer_id: int) -> None:
        member = self.rivo.members.get(customer_id)
        if member is None:
            return
        key = self._profile_key(member, customer_id)
        profile = state.profiles.setdefault(key, {"customer_id": customer_id, "email": member.email,
                                                  "properties": {}})
        profile["properties"].update(self.profile_properties(state.name, member))
        profile["updated_at"] = self.ctx.now().isoformat()

    # -- manual "Sync Customers" -----------------------------------------------------------------------------
    def request_sync(self, name: str) -> SyncRun:
        """Queue a manual sync; refused within an hour of the previous one for the same integration."""
        state = self.state(name)
        now = self.ctx.now()
        label = INTEGRATIONS[name].display_name
        if state.last_manual_at is not None and now < state.last_manual_at + MANUAL_SYNC_INTERVAL:
            allowed = state.last_manual_at + MANUAL_SYNC_INTERVAL
            wait = allowed - now
            raise TooManyRequestsForSync(
                f"You can only run a manual sync once per hour for each integration. {label} was last synced "
                f"manually at {state.last_manual_at.isoformat()}; you can sync it again at {allowed.isoformat()} "
                f"(in {_when(wait)}).", retry_after=wait.total_seconds(), integration=name,
                allowed_at=allowed.isoformat())
        run = SyncRun(id=self.ctx.ids.next("sync"), family=f"integration:{name}", status="queued",
                      requested_at=now, message="Syncing has been queued")
        state.runs.append(run)
        del state.runs[:-HISTORY]
        state.last_manual_at = now
        self.ctx.schedule(now + START_DELAY, "integration.sync", (name, run.id))
        return run

    def _run(self, name: str, run_id: int) -> None:
        state = self.states[name]
        run = find_run(state.runs, run_id)
        if run is None:
            return
        now = self.ctx.now()
        run.started_at = now
        if state.name not in self.connected():
            run.status, run.error = "failed", f"{INTEGRATIONS[state.name].display_name} was disconnected"
            run.message, run.finished_at = run.error, now
            return
        error = self.domain_error(state.name)
        if error is not None:
            run.status, run.error, run.message, run.finished_at = "failed", error, error, now
            state.last_error, state.last_error_at = error, now
            return
        run.status, run.message = "syncing", "Syncing…"
        run.ids = list(self.rivo.members)
        run.total = len(run.ids)
        self._sync_chunk(name, run_id, 0)

    def _sync_chunk(self, name: str, run_id: int, offset: int) -> None:
        state = self.states[name]
        run = find_run(state.runs, run_id)
        if run is None:
            return

        def step(chunk: list[int]) -> None:
            for cid in chunk:
                self._push_profile(state, cid)

        if run_chunk(self.ctx, run, offset, step, "integration.sync_chunk", (name, run_id)):
            return
        run.status, run.finished_at = "synced", self.ctx.now()
        run.message = f"Successfully synced {len(run.ids)} customers"
        run.result = {"customers": len(run.ids)}
        run.ids = []
        state.last_synced_at = run.finished_at
        state.last_error = None

    # -- reading -----------------------------------------------------------------------------------------------
    def describe(self, name: str, *, email: str | None = None, limit: int = 1000) -> dict[str, Any]:
        state = self.state(name)
        profiles = state.profiles
        if email is not None:
            one = profiles.get(email.casefold())
            profiles = {email.casefold(): one} if one is not None else {}
        error = self.domain_error(name)
        nxt = state.last_manual_at + MANUAL_SYNC_INTERVAL if state.last_manual_at else None
        return {
            "name": name, "display_name": INTEGRATIONS[name].display_name,
            "connected_domain": self.connected()[name],
            "status": "failing" if error else "connected", "error": error or state.last_error,
            "last_synced_at": state.last_synced_at.isoformat() if state.last_synced_at else None,
            "pending": {"profiles": len(state.pending_customers), "events": len(state.pending_events)},
            "failed_updates": state.failed_updates,
            "manual_sync": {"latest": state.runs[-1].to_dict() if state.runs else None,
                            "next_allowed_at": nxt.isoformat() if nxt and nxt > self.ctx.now() else None},
            "profiles": dict(list(profiles.items())[:limit]), "profile_count": len(state.profiles),
            "events": [e for e in state.events if email is None or e["profile"] == email.casefold()][-limit:],
        }

    def overview(self) -> list[dict[str, Any]]:
        out = []
        for name in self.connected():
            state = self.state(name)
            error = self.domain_error(name)
            out.append({"name": name, "display_name": INTEGRATIONS[name].display_name,
                        "status": "failing" if error else "connected", "error": error,
                        "latest_manual_sync": state.runs[-1].to_dict() if state.runs else None})
        return out
