"""The embedded admin: Rivo opened inside Shopify admin. Owns the shop's staff accounts (the Rivo app permission
Shopify gives each, and the state of their browser), App Bridge session tokens (HS256 JWTs signed with the app's
client secret, shopify-api.md §6.1) and how Rivo's back end checks them, and the outcome of opening the app: the
dashboard, or "Session token fetch failed … Check permissions." with its cause — and the direct login link that
works meanwhile.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

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
from rivosim.kernel.errors import AlreadyExists, ApiAccessDenied, Conflict, InvalidConfig, NotFound, ValidationFailed

if TYPE_CHECKING:
    from rivosim.domain.shop import Shop

__all__ = [
    "CAUSES", "CLOCK_TOLERANCE", "REAUTHORIZE_HEADER", "RETRY_HEADER", "SESSION_TOKEN_FETCH_FAILED", "TOKEN_LIFETIME",
    "AppNotInstalled", "Browser", "Cause", "EmbeddedAdmin", "InvalidSessionToken", "NoAppPermission", "StaffMember",
    "decode_session_token",
]

# The seed quotes the message with its middle elided; the simulator shows exactly what the seed shows.
SESSION_TOKEN_FETCH_FAILED = "Session token fetch failed … Check permissions."
# INFERRED: the first call Rivo's front end makes to its own back end once it has a session token.
DASHBOARD_REQUEST = {"method": "GET", "path": "/api/dashboard"}
MAX_SKEW = 31_536_000  # a year, as the configuration schema allows
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class Cause:
    """Why opening Rivo fails, what the merchant sees, and the fix a merchant really makes (a remedy code)."""

    code: str
    via: str
    error: str
    explanation: str
    fix: str
    remedy: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "via": self.via, "error": self.error, "explanation": self.explanation,
                "fix": self.fix, "remedy": self.remedy}


# In the order opening the app meets them: the first that holds is the one the merchant sees.
CAUSES: dict[str, Cause] = {c.code: c for c in (
    Cause("app_not_installed", "embedded", "Rivo is not installed on this store",
          "The app was uninstalled: Shopify admin no longer lists it under Apps.",
          "Install the app again.", "install_app"),
    Cause("no_app_permission", "embedded", SESSION_TOKEN_FETCH_FAILED,
          "The staff member does not have the Rivo app permission in Shopify, so App Bridge resolves no session "
          "token (as POS getSessionToken() returns null, shopify-api.md §6.1) and the app never reaches its back end.",
          "The account owner gives them the app under Settings > Users and permissions.", "grant_app_permission"),
    Cause("stale_session", "embedded", SESSION_TOKEN_FETCH_FAILED,
          "The browser holds cookies and a cached App Bridge session from a previous install of the app; the "
          "session token it presents was issued under that install's client id and secret, so Rivo's back end "
          f"refuses it (401 with {RETRY_HEADER}: 1) and the one retry presents the same stale session.",
          "Clear the browser's cookies (or open an incognito window).", "clear_browser_data"),
    Cause("clock_skew", "embedded", SESSION_TOKEN_FETCH_FAILED,
          "The computer's clock is off: the token is stamped with the browser's time (a modelling choice, "
          f"INFERRED), so more than {CLOCK_TOLERANCE} s ahead it is not yet valid and "
          f"{TOKEN_LIFETIME + CLOCK_TOLERANCE} s or more behind it has expired for the back end, which allows "
          f"{CLOCK_TOLERANCE} s; 401 with the retry header, and the retry's fresh token is refused the same way.",
          "Set the computer's date and time automatically.", "fix_clock"),
    Cause("reauthorization_required", "embedded", SESSION_TOKEN_FETCH_FAILED,
          "The app's authorisation was revoked, or it asks for scopes the store has not granted: the session token "
          f"is valid, but Rivo's back end cannot act for the store and answers 401 with {REAUTHORIZE_HEADER}.",
          "Re-authenticate the app: open it from Apps and approve the access it asks for.", "reauthenticate_app"),
    Cause("no_rivo_account", "direct_link", "No Rivo account for this email",
          "The direct login link signs in with a Rivo account, and this staff member has none.",
          "The account owner invites them to Rivo.", "invite_to_rivo"),
)}

# The seed's checklist, in its order, after the direct login link it recommends first; then the fixes it omits.
REMEDIES: dict[str, str] = {
    "direct_login_link": "Use the direct login link to work in Rivo outside the embedded admin meanwhile.",
    "clear_browser_data": "Clear browser cookies.",
    "incognito_window": "Open an incognito window.",
    "reauthenticate_app": "Re-authenticate the app.",
    "grant_app_permission": "Confirm your Shopify staff app permissions.",
    "fix_clock": "Set the computer's date and time automatically.",
    "install_app": "Install the app again.",
    "invite_to_rivo": "Ask the account owner for a Rivo account.",
}
SEED_CHECKLIST = ("direct_login_link", "clear_browser_data", "incognito_window", "reauthenticate_app",
                  "grant_app_permission")


class NoAppPermission(ApiAccessDenied):
    code = "no_app_permission"


class AppNotInstalled(Conflict):
    code = "app_not_installed"


@dataclass(slots=True)
class Browser:
    """A staff member's usual browser: the app's cookies and the computer's clock."""

    stale_session: bool = False
    clock_skew_seconds: int = 0
    signed_in: bool = False  # holds the current install's cookies after an embedded open
    sid: str | None = None  # the admin session id App Bridge puts in the token's ``sid``

    def to_dict(self) -> dict[str, Any]:
        return {"stale_session": self.stale_session, "clock_skew_seconds": self.clock_skew_seconds,
                "signed_in": self.signed_in}


@dataclass(slots=True)
class StaffMember:
    id: int
    email: str
    name: str
    account_owner: bool
    app_permission: bool
    rivo_account: bool
    created_at: datetime
    browser: Browser = field(default_factory=Browser)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "name": self.name, "account_owner": self.account_owner,
                "app_permission": self.app_permission, "rivo_account": self.rivo_account,
                "created_at": self.created_at.isoformat(), "browser": self.browser.to_dict()}


class EmbeddedAdmin:
    """One shop's staff and what happens when one of them opens Rivo (embedded, or by the direct login link)."""

    def __init__(self, shop: Shop, rng: random.Random) -> None:
        self.shop = shop
        self.ctx = shop.ctx
        self.rng = rng  # the shop's own "admin" stream: opening the app never shifts another id
        # Drawn first, so their place in the stream never moves: a stale browser's cached session was issued
        # under the client id and secret of a previous install.
        self.previous_install = (self._hex(32), "shpss_" + self._hex(32))
        self.staff: dict[int, StaffMember] = {}
        declared = list(shop.config["admin"]["staff"])
        owner = next((s for s in declared if s.get("account_owner")), None)
        if owner is None:
            owner = {"email": f"owner@{shop.domain}", "name": "Store owner", "account_owner": True}
        else:
            declared.remove(owner)
        for entry in (owner, *declared):
            browser = entry.get("browser") or {}
            self._add(entry["email"], entry.get("name"), account_owner=bool(entry.get("account_owner")),
                      app_permission=entry.get("app_permission", True), rivo_account=entry.get("rivo_account", True),
                      browser=Browser(stale_session=browser.get("stale_session", False),
                                      clock_skew_seconds=browser.get("clock_skew_seconds", 0)))
        self.ctx.bus.subscribe(AppUninstalled, self._on_uninstalled)

    def _hex(self, length: int) -> str:
        return f"{self.rng.getrandbits(4 * length):0{length}x}"

    # -- staff ------------------------------------------------------------------------------------------------
    def _add(self, email: str, name: str | None, *, account_owner: bool, app_permission: bool, rivo_account: bool,
             browser: Browser | None = None) -> StaffMember:
        member = StaffMember(self.ctx.ids.next("shopify_staff"), email, name or email.split("@")[0],
                             account_owner, app_permission or account_owner, rivo_account, self.ctx.now(),
                             browser or Browser())
        self.staff[member.id] = member
        return member

    def find(self, ref: int | str) -> StaffMember:
        """A staff member by user id or email (case-insensitive)."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isascii() and ref.isdigit()):
            # More digits than any id has are simply unknown (int() refuses past 4300 digits anyway).
            member = self.staff.get(int(ref)) if len(str(ref)) <= 18 else None
        else:
            member = next((s for s in self.staff.values() if s.email.casefold() == str(ref).casefold()), None)
        if member is None:
            known = ", ".join(s.email for s in list(self.staff.values())[:10])
            raise NotFound(f"no staff member {ref!r}; staff: {known}", resource="staff")
        return member

    def add_staff(self, email: Any, name: Any = None, *, app_permission: Any = True,
                  rivo_account: Any = True) -> StaffMember:
        """A new staff account (Settings > Users and permissions > Add staff)."""
        if not isinstance(email, str) or len(email) > 254 or not EMAIL_RE.match(email):
            raise ValidationFailed(f"email must be an email address, got {email!r}", field="email")
        if any(s.email.casefold() == email.casefold() for s in self.staff.values()):
            raise AlreadyExists(f"a staff member with email {email} already exists", field="email")
        _check_name(name)
        _check_bool("app_permission", app_permission)
        _check_bool("rivo_account", rivo_account)
        return self._add(email, name, account_owner=False, app_permission=app_permission, rivo_account=rivo_account)

    def update_staff(self, member: StaffMember, *, name: Any = None, app_permission: Any = None,
                     rivo_account: Any = None) -> StaffMember:
        """Grant or revoke the app permission, rename, give or take the Rivo account; all checked first."""
        _check_name(name)
        for what, value in (("app_permission", app_permission), ("rivo_account", rivo_account)):
            if value is not None:
                _check_bool(what, value)
        if member.account_owner and app_permission is False:
            raise ValidationFailed("the account owner always has every permission", field="app_permission")
        if name is not None:
            member.name = name
        if app_permission is not None:
            member.app_permission = app_permission
        if rivo_account is not None:
            member.rivo_account = rivo_account
        return member

    def set_browser(self, member: StaffMember, *, stale_session: Any = None, clock_skew_seconds: Any = None) -> Browser:
        """Inject a browser cause: cookies from a previous install, or a computer clock that is off."""
        if stale_session is not None:
            _check_bool("stale_session", stale_session)
        if clock_skew_seconds is not None and (isinstance(clock_skew_seconds, bool) or not isinstance(
                clock_skew_seconds, int) or not -MAX_SKEW <= clock_skew_seconds <= MAX_SKEW):
            raise ValidationFailed(f"clock_skew_seconds must be a whole number from {-MAX_SKEW} to {MAX_SKEW}",
                                   field="clock_skew_seconds")
        browser = member.browser
        if stale_session is not None:
            browser.stale_session = stale_session
            browser.signed_in = browser.signed_in and not stale_session
        if clock_skew_seconds is not None:
            browser.clock_skew_seconds = clock_skew_seconds
        return browser

    def clear_browser_data(self, member: StaffMember) -> Browser:
        """Clear cookies and site data: no app session left, stale or current (the clock stays as it is)."""
        browser = member.browser
        browser.stale_session = browser.signed_in = False
        browser.sid = None
        return browser

    def _on_uninstalled(self, event: AppUninstalled) -> None:
        # The app's cookies outlive the install they belong to: after a reinstall they are stale.
        for member in self.staff.values():
            if member.browser.signed_in:
                member.browser.signed_in, member.browser.stale_session = False, True

    def check_patch(self, patch: dict[str, Any]) -> None:
        """Staff are declared when the shop is created; a PATCH changing them would be silently ignored."""
        admin = patch.get("admin")
        if isinstance(admin, dict) and "staff" in admin and admin["staff"] != self.shop.config["admin"]["staff"]:
            raise InvalidConfig("admin.staff: staff are declared when the shop is created; later, use "
                                f"/_rivosim/shops/{self.shop.domain}/admin/staff", field="admin.staff")

    # -- the app's authorisation ---------------------------------------------------------------------------
    def installed(self) -> bool:
        return bool(self.shop.shopify.app_installed)

    def missing_scopes(self) -> list[str]:
        granted = set(self.shop.config["shopify"]["access_scopes"])
        return [s for s in self.shop.config["admin"]["app_scopes"] if s not in granted]

    def needs_reauthorization(self) -> bool:
        return not self.shop.config["admin"]["app_authorised"] or bool(self.missing_scopes())

    def reauthorize_url(self) -> str:
        # INFERRED shape: Shopify's OAuth grant screen for the app's client id and the scopes it asks for.
        query = urlencode({"client_id": self.shop.credentials.shopify_api_key,
                           "scope": ",".join(self.shop.config["admin"]["app_scopes"])})
        return f"https://{self.shop.domain}/admin/oauth/authorize?{query}"

    def reauthenticate(self) -> dict[str, Any]:
        """The merchant approves the app's access again: authorised, and every scope it asks for granted."""
        if not self.installed():
            raise AppNotInstalled("Rivo is not installed on this store; install it (that authorises it)")
        missing = self.missing_scopes()
        patch: dict[str, Any] = {}
        if not self.shop.config["admin"]["app_authorised"]:
            patch["admin"] = {"app_authorised": True}
        if missing:
            patch["shopify"] = {"access_scopes": [*self.shop.config["shopify"]["access_scopes"], *missing]}
        if patch:
            self.shop.patch(patch)
        return {"app_authorised": True, "granted_scopes": missing,
                "access_scopes": list(self.shop.config["shopify"]["access_scopes"])}

    def login_url(self) -> str:
        return str(self.shop.config["admin"]["login_url"]).replace("{shop}", self.shop.domain)

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
        key, secret = self.shop.credentials.shopify_api_key, self.shop.credentials.shopify_api_secret
        if browser.stale_session:
            key, secret = self.previous_install
        if browser.sid is None:
            browser.sid = self._hex(32)
        # The browser's clock stamps the token: a skewed computer gets tokens the back end refuses (INFERRED).
        at = int(self.ctx.now().timestamp()) + browser.clock_skew_seconds
        return encode_session_token(self.shop.domain, api_key=key, secret=secret, user_id=member.id, at=at,
                                    jti=self.rng.getrandbits(128), sid=browser.sid)

    def verify(self, token: str) -> dict[str, Any]:
        """Check a token as Rivo's back end does (shopify-api's decodeSessionToken), at the simulator's time."""
        c = self.shop.credentials
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
        rivo, program = self.shop.rivo, self.shop.config["program"]
        return {"shop": self.shop.domain, "signed_in_as": member.email, "plan": self.shop.plan,
                "program_active": program["active"], "points_name": program["points_name"],
                "customers": len(rivo.members), "points_events": len(rivo.points_events)}

    def overview(self) -> dict[str, Any]:
        return {"app_installed": self.installed(), "app_authorised": self.shop.config["admin"]["app_authorised"],
                "missing_scopes": self.missing_scopes(), "login_url": self.login_url(),
                "staff": [{**s.to_dict(), "embedded_causes": self.diagnose(s)} for s in self.staff.values()]}


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{name} must be true or false", field=name)


def _check_name(name: Any) -> None:
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 255):
        raise ValidationFailed("name must be a non-blank string of at most 255 characters", field="name")
