"""Rivo's store-side syncs (the sync guide, shared/seeds/004): **Sync Theme** and **Sync Store** under
Settings > Troubleshooting, and the tagging **Sync Store** under Settings > Shopify Metafields & Tags — each
queued and run in the background on the simulator clock (``syncing`` → ``synced``) — and the storefront
they repair: whether the loyalty widget displays, and why not, derived from the live state.

The widget displays when the published theme carries Rivo's app embed, enabled; a theme sync has seen that
theme with its current ``settings_data.json``; a store sync ran after that theme sync; and the shop
metafield ``rivo.loy`` the store sync writes is there. So publishing another theme or touching the embed
breaks the widget until Sync Theme and then Sync Store run, as the guide says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.rivo.backend import RivoBackend
from rivosim.domain.shopify.backend import ShopifyBackend
from rivosim.domain.shopify.themes import SETTINGS_DATA, app_embed_state, checksum
from rivosim.domain.writeback import SHOP_METAFIELD, Writeback
from rivosim.kernel.errors import ValidationFailed
from rivosim.kernel.timers import Arg

__all__ = ["CHUNK", "FAMILIES", "StoreSyncs", "SyncRun", "find_run", "run_chunk"]

FAMILIES = ("store", "theme", "tagging")
# Background timing on the simulator clock (Rivo publishes none): a theme sync takes 3 s, a store sync 5 s;
# customer-wide syncs handle CHUNK customers per second after a 1 s start.
DURATIONS = {"theme": timedelta(seconds=3), "store": timedelta(seconds=5)}
START_DELAY = timedelta(seconds=1)
CHUNK = 500
HISTORY = 20
SYNCING, SYNCED = "Syncing…", "Successfully synced"


@dataclass(slots=True, eq=False)
class SyncRun:
    """One sync, from the click to its outcome: ``queued`` → ``syncing`` → ``synced`` | ``failed``."""

    id: int
    family: str
    status: str
    requested_at: datetime
    message: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    processed: int = 0
    total: int | None = None
    result: dict[str, Any] = field(default_factory=dict)
    # A customer-wide sync's work list (the member ids when it started) and its running count of changes:
    # state, not closures, so the chunk timers can name the run by id.
    ids: list[int] = field(default_factory=list)
    changed: int = 0

    @property
    def active(self) -> bool:
        return self.status in ("queued", "syncing")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "family": self.family, "status": self.status, "message": self.message,
                "requested_at": self.requested_at.isoformat(),
                "started_at": self.started_at.isoformat() if self.started_at else None,
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "error": self.error, "progress": {"processed": self.processed, "total": self.total},
                "result": dict(self.result)}


def run_chunk(ctx: ShopContext, run: SyncRun, offset: int, step: Callable[[list[int]], None],
              action: str, args: tuple[Arg, ...]) -> bool:
    """Process the chunk of ``run.ids`` at ``offset`` — CHUNK ids per simulated second — and schedule ``action``
    with ``args`` plus the next offset, or plus -1 once this was the last chunk (the handler then finishes the
    run). Each chunk takes its second, the last one included, so a running sync shows "Syncing…" for at least a
    second before "Successfully synced" (the help centre's "wait a few moments while syncing is in progress").
    Returns False when ``offset`` is -1: the chunks are done and the caller finishes the run."""
    if offset < 0:
        return False
    chunk = run.ids[offset:offset + CHUNK]
    if chunk:
        step(chunk)
        run.processed += len(chunk)
    following = -1 if offset + CHUNK >= len(run.ids) else offset + CHUNK
    ctx.schedule(ctx.now() + timedelta(seconds=1), action, (*args, following))
    return True


def find_run(runs: list[SyncRun], run_id: int) -> SyncRun | None:
    """The run with id ``run_id`` in a history (a timer names its run by id)."""
    return next((run for run in reversed(runs) if run.id == run_id), None)


@dataclass(frozen=True, slots=True)
class ThemeSyncRecord:
    seq: int
    theme_id: int
    theme_name: str
    settings_checksum: str | None
    app_embed: str
    at: datetime


class StoreSyncs:
    def __init__(self, ctx: ShopContext, shopify: ShopifyBackend, rivo: RivoBackend, writeback: Writeback) -> None:
        self.ctx = ctx
        self.shopify = shopify
        self.rivo = rivo
        self.writeback = writeback
        self.runs: dict[str, list[SyncRun]] = {family: [] for family in FAMILIES}
        self._theme_seq = 0
        self.theme_record: ThemeSyncRecord | None = None
        self.store_synced_theme_seq: int | None = None
        self.store_synced_at: datetime | None = None
        ctx.handle("sync.finish", self._finish)
        ctx.handle("sync.tagging", self._run_tagging)
        ctx.handle("sync.tagging_chunk", self._tagging_chunk)
        # The app was set up at install: the theme was seen and the store synced once.
        self._record_theme()
        self._record_store()

    # -- requests --------------------------------------------------------------------------------------------
    def request(self, family: str) -> SyncRun:
        """Click the button: a new run (or the one already running — a second click changes nothing)."""
        if family not in FAMILIES:
            raise ValidationFailed(f"unknown sync {family!r}; syncs: {', '.join(FAMILIES)}", field="sync")
        current = self.latest(family)
        if current is not None and current.active:
            return current
        now = self.ctx.now()
        run = SyncRun(id=self.ctx.ids.next("sync"), family=family, status="syncing", requested_at=now,
                      started_at=now, message=SYNCING)
        history = self.runs[family]
        history.append(run)
        del history[:-HISTORY]
        if family == "tagging":
            self.ctx.schedule(now + START_DELAY, "sync.tagging", (run.id,))
        else:
            self.ctx.schedule(now + DURATIONS[family], "sync.finish", (family, run.id))
        return run

    def latest(self, family: str) -> SyncRun | None:
        history = self.runs.get(family) or []
        return history[-1] if history else None

    def _fail(self, run: SyncRun, message: str) -> None:
        run.status, run.error, run.message = "failed", message, message
        run.finished_at = self.ctx.now()

    def _done(self, run: SyncRun) -> None:
        run.status, run.message = "synced", SYNCED
        run.finished_at = self.ctx.now()

    def _finish(self, family: str, run_id: int) -> None:
        run = find_run(self.runs[family], run_id)
        if run is None:
            return
        if not self.shopify.app_installed:
            self._fail(run, "The Rivo app is not installed on this store: reinstall it, then sync again.")
            return
        if run.family == "theme":
            record = self._record_theme()
            run.result = {"theme_id": record.theme_id if record else None,
                          "theme_name": record.theme_name if record else None,
                          "app_embed": record.app_embed if record else "missing"}
        else:
            self._record_store()
            run.result = {"shop_metafield": f"{SHOP_METAFIELD[0]}.{SHOP_METAFIELD[1]}",
                          "after_theme_sync": self.theme_record.seq if self.theme_record else None}
        self._done(run)

    def _record_theme(self) -> ThemeSyncRecord | None:
        theme = self.shopify.main_theme()
        self._theme_seq += 1
        if theme is None:
            self.theme_record = None
            return None
        settings = theme.assets.get(SETTINGS_DATA)
        self.theme_record = ThemeSyncRecord(
            seq=self._theme_seq, theme_id=theme.id, theme_name=theme.name,
            settings_checksum=checksum(settings.value) if settings else None, app_embed=app_embed_state(theme),
            at=self.ctx.now())
        return self.theme_record

    def _record_store(self) -> None:
        self.writeback.write_shop_metafield()
        self.store_synced_theme_seq = self.theme_record.seq if self.theme_record else None
        self.store_synced_at = self.ctx.now()

    def _run_tagging(self, run_id: int) -> None:
        run = find_run(self.runs["tagging"], run_id)
        if run is None:
            return
        if not self.shopify.app_installed:
            self._fail(run, "The Rivo app is not installed on this store: reinstall it, then sync again.")
            return
        run.ids = list(self.rivo.members)
        run.total = len(run.ids)
        self._tagging_chunk(run_id, 0)

    def _tagging_chunk(self, run_id: int, offset: int) -> None:
        run = find_run(self.runs["tagging"], run_id)
        if run is None:
            return

        def step(chunk: list[int]) -> None:
            run.changed += self.writeback.backfill_customers(chunk)

        if run_chunk(self.ctx, run, offset, step, "sync.tagging_chunk", (run_id,)):
            return
        run.result = {"customers": len(run.ids), "customer_tags_changed": run.changed,
                      "orders_tagged": self.writeback.backfill_orders(),
                      "vip_tier_tags": self.ctx.settings().shopify.vip_tier_tags,
                      "order_tags": self.ctx.settings().shopify.order_tags}
        run.ids = []
        self._done(run)

    # -- the storefront --------------------------------------------------------------------------------------
    def storefront(self) -> dict[str, Any]:
        """Whether the loyalty widget displays, with every reason it does not (and what fixes it)."""
        sf = self.shopify
        theme = sf.main_theme()
        reasons: list[dict[str, str]] = []
        warnings: list[dict[str, str]] = []

        def because(code: str, message: str) -> None:
            reasons.append({"code": code, "message": message})

        embed = app_embed_state(theme) if theme is not None else "missing"
        settings = theme.assets.get(SETTINGS_DATA) if theme is not None else None
        current_sum = checksum(settings.value) if settings is not None else None
        record = self.theme_record
        if not sf.app_installed:
            because("app_not_installed", "The Rivo app is not installed on this store.")
        if theme is None:
            because("no_published_theme", "The store has no published theme.")
        elif embed == "missing":
            because("app_embed_missing", f"The Rivo app embed is not in the published theme {theme.name!r}: add "
                                         "and enable it under Online Store > Themes > Customize > App embeds.")
        elif embed == "disabled":
            because("app_embed_disabled", f"The Rivo app embed is turned off in the published theme "
                                          f"{theme.name!r}: enable it under Online Store > Themes > Customize > "
                                          "App embeds.")
        if theme is not None and (record is None or record.theme_id != theme.id):
            seen = f"{record.theme_name!r}" if record else "no theme"
            because("theme_sync_needed", f"The published theme changed to {theme.name!r} (the last theme sync saw "
                                         f"{seen}): run Sync Theme, then Sync Store (Settings > Troubleshooting).")
        elif theme is not None and record is not None and record.settings_checksum != current_sum:
            because("theme_sync_needed", "The app embed setup of the published theme changed since the last "
                                         "theme sync: run Sync Theme, then Sync Store (Settings > Troubleshooting).")
        elif record is not None and self.store_synced_theme_seq != record.seq:
            because("store_sync_needed", "Sync Store has not run since the last theme sync: run Sync Store "
                                         "(Settings > Troubleshooting).")
        metafield = sf.find_metafield("shop", sf.shop_id, *SHOP_METAFIELD)
        if metafield is None:
            because("shop_metafield_missing", "Rivo's shop metafield (rivo.loy) is missing from Shopify: run "
                                              "Sync Store (Settings > Troubleshooting).")
        elif not self.writeback.shop_metafield_is_current():
            warnings.append({"code": "settings_not_synced",
                             "message": "Program settings changed since the last store sync; the widget shows the "
                                        "old ones until Sync Store runs."})
        if not self.ctx.settings().program.active:
            because("program_inactive", "The loyalty program is not active.")
        return {
            "widget_displayed": not reasons, "reasons": reasons, "warnings": warnings,
            "theme": None if theme is None else {"id": theme.id, "name": theme.name, "role": theme.role},
            "app_embed": embed,
            "shop_metafield": None if metafield is None else {"id": metafield.id,
                                                              "updated_at": metafield.updated_at.isoformat()},
            "last_theme_sync": None if record is None else {
                "theme_id": record.theme_id, "theme_name": record.theme_name, "app_embed": record.app_embed,
                "at": record.at.isoformat()},
            "last_store_sync_at": self.store_synced_at.isoformat() if self.store_synced_at else None,
        }

    def status(self) -> dict[str, Any]:
        return {family: (run.to_dict() if (run := self.latest(family)) else None) for family in FAMILIES}
