"""Why opening Rivo inside Shopify admin fails: each cause, what the merchant sees, and the fixes the seed's
checklist offers (the embedded admin's vocabulary, shared by :mod:`rivosim.domain.admin.embedded` and the control
API)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rivosim.domain.session_tokens import CLOCK_TOLERANCE, REAUTHORIZE_HEADER, RETRY_HEADER, TOKEN_LIFETIME
from rivosim.kernel.errors import ApiAccessDenied, Conflict

__all__ = ["CAUSES", "REMEDIES", "SEED_CHECKLIST", "SESSION_TOKEN_FETCH_FAILED", "AppNotInstalled", "Cause",
           "NoAppPermission"]

# The seed quotes the message with its middle elided; the simulator shows exactly what the seed shows.
SESSION_TOKEN_FETCH_FAILED = "Session token fetch failed … Check permissions."


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
