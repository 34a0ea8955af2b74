"""The embedded admin: Rivo opened inside Shopify admin. Owns App Bridge session tokens (HS256 JWTs signed with
the app's client secret, shopify-api.md §6.1) and how Rivo's back end checks them, the app's authorisation, and the
outcome of opening the app: the dashboard, or "Session token fetch failed … Check permissions." with its cause —
and the direct login link that works meanwhile. The staff who open it are :mod:`rivosim.domain.admin.staff`'s.

It sees its shop through :class:`AdminContext`, not the whole ``Shop``: the shop context, the credentials, whether
the app is installed, how to patch the shop's document (re-authentication grants scopes) and the dashboard's counts.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from rivosim.domain.admin.causes import (
    CAUSES,
    REMEDIES,
    SEED_CHECKLIST,
    SESSION_TOKEN_FETCH_FAILED,
    AppNotInstalled,
    NoAppPermission,
)
from rivosim.domain.admin.staff import Browser, StaffMember, StaffRoster
from rivosim.domain.context import Credentials, ShopContext
from rivosim.domain.events import AppUninstalled
from rivosim.domain.session_tokens import (
    CLOCK_TOLERANCE,
    REAUTHORIZE_HEADER,
    RETRY_HEADER,
    TOKEN_LIFETIME,
    InvalidSessionToken,
    decode_session_token,
    encode_session_token,
)
from rivosim.domain.settings import thaw
from rivosim.kernel.errors import InvalidConfig, ValidationFailed

__all__ = ["AdminContext", "EmbeddedAdmin"]

# INFERRED: the first call Rivo's front end makes to its own back end once it has a session token.
DASHBOARD_REQUEST = {"method": "GET", "path": "/api/dashboard"}


@dataclass(frozen=True, slots=True)
class AdminContext:
    """What the embedded admin needs from its shop, and nothing more."""

    ctx: ShopContext
    credentials: Credentials
    app_installed: Callable[[], bool]
    patch: Callable[[dict[str, Any]], None]
    """Merge a patch into the shop's document (RFC 7386), as ``PATCH /_rivosim/shops/<domain>`` does."""
    program_counts: Callable[[], tuple[int, int]]
    """(customers, points events) of the Rivo program, for the dashboard."""


class EmbeddedAdmin:
    """One shop's staff and what happens when one of them opens Rivo (embedded, or by the direct login link)."""

    def __init__(self, context: AdminContext, rng: random.Random) -> None:
        self.context = context
        self.ctx = context.ctx
        self.rng = rng  # the shop's own "admin" stream: opening the app never shifts another id
        # Drawn first, so their place in the stream never moves: a stale browser's cached session was issued
        # under the client id and secret of a previous install.
        self.previous_install = (self._hex(32), "shpss_" + self._hex(32))
        self.roster = StaffRoster(self.ctx.domain, self.ctx.settings().admin.staff,
                                  next_id=lambda: self.ctx.ids.next("shopify_staff"), now=self.ctx.now)
        self.ctx.bus.subscribe(AppUninstalled, self._on_uninstalled)

    @property
    def domain(self) -> str:
        return self.ctx.domain

    def _hex(self, length: int) -> str:
        return f"{self.rng.getrandbits(4 * length):0{length}x}"

    # -- staff (the roster owns them; these names are the control API's) ------------------------------------
    @property
    def staff(self) -> dict[int, StaffMember]:
        return self.roster.members

    def find(self, ref: int | str) -> StaffMember:
        return self.roster.find(ref)

    def add_staff(self, email: Any, name: Any = None, *, app_permission: Any = True,
                  rivo_account: Any = True) -> StaffMember:
        return self.roster.add_staff(email, name, app_permission=app_permission, rivo_account=rivo_account)

    def update_staff(self, member: StaffMember, *, name: Any = None, app_permission: Any = None,
                     rivo_account: Any = None) -> StaffMember:
        return self.roster.update_staff(member, name=name, app_permission=app_permission, rivo_account=rivo_account)

    def set_browser(self, member: StaffMember, *, stale_session: Any = None, clock_skew_seconds: Any = None) -> Browser:
        return self.roster.set_browser(member, stale_session=stale_session, clock_skew_seconds=clock_skew_seconds)

    def clear_browser_data(self, member: StaffMember) -> Browser:
        return self.roster.clear_browser_data(member)

    def _on_uninstalled(self, event: AppUninstalled) -> None:
        self.roster.app_uninstalled()

    def check_patch(self, patch: dict[str, Any]) -> None:
        """Staff are declared when the shop is created; a PATCH changing them would be silently ignored."""
        admin = patch.get("admin")
        declared = thaw(self.ctx.settings().admin.staff)
        if isinstance(admin, dict) and "staff" in admin and admin["staff"] != declared:
            raise InvalidConfig("admin.staff: staff are declared when the shop is created; later, use "
                                f"/_rivosim/shops/{self.domain}/admin/staff", field="admin.staff")

    # -- the app's authorisation ---------------------------------------------------------------------------
    def installed(self) -> bool:
        return self.context.app_installed()

    def missing_scopes(self) -> list[str]:
        settings = self.ctx.settings()
        granted = set(settings.shopify.access_scopes)
        return [s for s in settings.admin.app_scopes if s not in granted]

    def needs_reauthorization(self) -> bool:
        return not self.ctx.settings().admin.app_authorised or bool(self.missing_scopes())

    def reauthorize_url(self) -> str:
        # INFERRED shape: Shopify's OAuth grant screen for the app's client id and the scopes it asks for.
        query = urlencode({"client_id": self.context.credentials.shopify_api_key,
                           "scope": ",".join(self.ctx.settings().admin.app_scopes)})
        return f"https://{self.domain}/admin/oauth/authorize?{query}"

    def reauthenticate(self) -> dict[str, Any]:
        """The merchant approves the app's access again: authorised, and every scope it asks for granted."""
        if not self.installed():
            raise AppNotInstalled("Rivo is not installed on this store; install it (that authorises it)")
        missing = self.missing_scopes()
        patch: dict[str, Any] = {}
        settings = self.ctx.settings()
        if not settings.admin.app_authorised:
            patch["admin"] = {"app_authorised": True}
        if missing:
            patch["shopify"] = {"access_scopes": [*settings.shopify.access_scopes, *missing]}
        if patch:
            self.context.patch(patch)
        return {"app_authorised": True, "granted_scopes": missing,
                "access_scopes": list(self.ctx.settings().shopify.access_scopes)}

    def login_url(self) -> str:
        return self.ctx.settings().admin.login_url.replace("{shop}", self.domain)

    # -- session tokens -------------------------------------------------------------------------------------
    def _browser(self, member: StaffMember, incognito: bool) -> Browser:
        # An incognito window has no cookies, but it runs on the same computer clock.
        return Browser(clock_skew_seconds=member.browser.clock_skew_seconds) if incognito else member.browser

    def session_token(self, member: StaffMember, *, incognito: bool = False) -> str:
        """What App Bridge's ``shopify.idToken()`` resolves to in this staff member's browser; refused where it
        resolves none (the app is not installed, or the staff member lacks the app permission)."""
        if not self.installed():
            raise AppNotInstalled("Rivo is not installed on this store: Shopify admin does not list it under Apps")
        if not member.app_permission:
            raise NoAppPermission(
                f"App Bridge resolved no session token: {member.email} does not have the Rivo app permission in "
                f'Shopify, and the app shows "{SESSION_TOKEN_FETCH_FAILED}"', cause="no_app_permission")
        return self._mint(member, self._browser(member, incognito))

    def _mint(self, member: StaffMember, browser: Browser) -> str:
        key, secret = self.context.credentials.shopify_api_key, self.context.credentials.shopify_api_secret
        if browser.stale_session:
            key, secret = self.previous_install
        if browser.sid is None:
            browser.sid = self._hex(32)
        # The browser's clock stamps the token: a skewed computer gets tokens the back end refuses (INFERRED).
        at = int(self.ctx.now().timestamp()) + browser.clock_skew_seconds
        return encode_session_token(self.domain, api_key=key, secret=secret, user_id=member.id, at=at,
                                    jti=self.rng.getrandbits(128), sid=browser.sid)

    def verify(self, token: str) -> dict[str, Any]:
        """Check a token as Rivo's back end does (shopify-api's decodeSessionToken), at the simulator's time."""
        c = self.context.credentials
        return decode_session_token(token, api_key=c.shopify_api_key, secret=c.shopify_api_secret, now=self.ctx.now())

    # -- opening the app ------------------------------------------------------------------------------------
    def diagnose(self, member: StaffMember, *, incognito: bool = False) -> list[str]:
        """Every cause that holds for an embedded open now, in the order opening meets them."""
        skew = member.browser.clock_skew_seconds
        checks = {"app_not_installed": not self.installed(), "no_app_permission": not member.app_permission,
                  "stale_session": member.browser.stale_session and not incognito,
                  "clock_skew": skew > CLOCK_TOLERANCE or skew <= -(TOKEN_LIFETIME + CLOCK_TOLERANCE),
                  "reauthorization_required": self.needs_reauthorization()}
        return [code for code, holds in checks.items() if holds]

    def open(self, member: StaffMember, *, via: str = "embedded", incognito: bool = False) -> dict[str, Any]:
        """Open Rivo: inside Shopify admin (App Bridge, a session token, the back end) or by the direct login link."""
        if via == "direct_link":
            if not member.rivo_account:
                return self._failed(member, via, "no_rivo_account", exchange=[])
            return {"opened": True, "via": via, "staff": member.to_dict(), "url": self.login_url(),
                    "dashboard": self.dashboard(member)}
        if via != "embedded":
            raise ValidationFailed(f"via must be embedded or direct_link, got {via!r}", field="via")
        causes = self.diagnose(member, incognito=incognito)
        if causes[:1] in (["app_not_installed"], ["no_app_permission"]):
            exchange = [] if causes[0] == "app_not_installed" else [{"attempt": 1, "id_token": None, "request": None,
                                                                      "response": None}]
            return self._failed(member, via, causes[0], exchange=exchange, incognito=incognito)
        browser = self._browser(member, incognito)
        exchange = [self._call_back_end(1, self._mint(member, browser))]
        if exchange[0]["response"]["headers"].get(RETRY_HEADER) == "1":
            # App Bridge fetches a new token and retries once (respond-to-invalid-session-token.ts).
            exchange.append(self._call_back_end(2, self._mint(member, browser)))
        if exchange[-1]["response"]["status"] != 200:
            return self._failed(member, via, causes[0], exchange=exchange, incognito=incognito)
        browser.signed_in = True
        return {"opened": True, "via": via, "incognito": incognito, "staff": member.to_dict(), "exchange": exchange,
                "dashboard": self.dashboard(member)}

    def _call_back_end(self, attempt: int, token: str) -> dict[str, Any]:
        request = {**DASHBOARD_REQUEST, "headers": {"Authorization": f"Bearer {token}"}}
        try:
            self.verify(token)
        except InvalidSessionToken as exc:
            response = {"status": 401, "headers": {RETRY_HEADER: "1"}, "error": exc.message}
        else:
            if self.needs_reauthorization():
                response = {"status": 401, "headers": {REAUTHORIZE_HEADER: self.reauthorize_url()},
                            "error": "the app needs to be re-authorised for this store"}
            else:
                response = {"status": 200, "headers": {}, "error": None}
        return {"attempt": attempt, "id_token": token, "request": request, "response": response}

    def _failed(self, member: StaffMember, via: str, code: str, *, exchange: list[dict[str, Any]],
                incognito: bool = False) -> dict[str, Any]:
        cause = CAUSES[code]
        checklist = SEED_CHECKLIST if via == "embedded" else ()
        fixes = {cause.remedy} | ({"incognito_window"} if code == "stale_session" else set())
        remedies = [{"code": r, "action": REMEDIES[r], "fixes_cause": r in fixes}
                    for r in [*checklist, *([cause.remedy] if cause.remedy not in checklist else [])]]
        out: dict[str, Any] = {"opened": False, "via": via, "staff": member.to_dict(), "error": cause.error,
                               "cause": {"code": code, "explanation": cause.explanation},
                               "fix": {"code": cause.remedy, "action": cause.fix}, "exchange": exchange,
                               "remedies": remedies}
        if via == "embedded":
            out["incognito"] = incognito
            out["direct_link"] = self.login_url()
        return out

    def dashboard(self, member: StaffMember) -> dict[str, Any]:
        """The summary Rivo's dashboard opens on."""
        settings = self.ctx.settings()
        customers, points_events = self.context.program_counts()
        return {"shop": self.domain, "signed_in_as": member.email, "plan": settings.plan,
                "program_active": settings.program.active, "points_name": settings.program.points_name,
                "customers": customers, "points_events": points_events}

    def overview(self) -> dict[str, Any]:
        return {"app_installed": self.installed(), "app_authorised": self.ctx.settings().admin.app_authorised,
                "missing_scopes": self.missing_scopes(), "login_url": self.login_url(),
                "staff": [{**s.to_dict(), "embedded_causes": self.diagnose(s)} for s in self.staff.values()]}
