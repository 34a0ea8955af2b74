"""The shop's staff accounts as Shopify admin has them: each with the Rivo app permission Shopify gives it, a Rivo
account or not, and the state of their usual browser (the app's cookies, the computer's clock)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rivosim.kernel.errors import AlreadyExists, NotFound, ValidationFailed

__all__ = ["MAX_SKEW", "Browser", "StaffMember", "StaffRoster"]

MAX_SKEW = 31_536_000  # a year, as the configuration schema allows
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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


class StaffRoster:
    """The staff of one shop: the account owner (who always exists) first, then those declared in the shop's
    document, then those added through the control API."""

    def __init__(self, domain: str, declared: Iterable[Mapping[str, Any]], *, next_id: Callable[[], int],
                 now: Callable[[], datetime]) -> None:
        self._next_id, self._now = next_id, now
        self.members: dict[int, StaffMember] = {}
        entries = list(declared)
        owner: Mapping[str, Any] | None = next((s for s in entries if s.get("account_owner")), None)
        if owner is None:
            owner = {"email": f"owner@{domain}", "name": "Store owner", "account_owner": True}
        else:
            entries.remove(owner)
        for entry in (owner, *entries):
            browser = entry.get("browser") or {}
            self._add(entry["email"], entry.get("name"), account_owner=bool(entry.get("account_owner")),
                      app_permission=entry.get("app_permission", True), rivo_account=entry.get("rivo_account", True),
                      browser=Browser(stale_session=browser.get("stale_session", False),
                                      clock_skew_seconds=browser.get("clock_skew_seconds", 0)))

    # -- staff ------------------------------------------------------------------------------------------------
    def _add(self, email: str, name: str | None, *, account_owner: bool, app_permission: bool, rivo_account: bool,
             browser: Browser | None = None) -> StaffMember:
        member = StaffMember(self._next_id(), email, name or email.split("@")[0],
                             account_owner, app_permission or account_owner, rivo_account, self._now(),
                             browser or Browser())
        self.members[member.id] = member
        return member

    def find(self, ref: int | str) -> StaffMember:
        """A staff member by user id or email (case-insensitive)."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isascii() and ref.isdigit()):
            # More digits than any id has are simply unknown (int() refuses past 4300 digits anyway).
            member = self.members.get(int(ref)) if len(str(ref)) <= 18 else None
        else:
            member = next((s for s in self.members.values() if s.email.casefold() == str(ref).casefold()), None)
        if member is None:
            known = ", ".join(s.email for s in list(self.members.values())[:10])
            raise NotFound(f"no staff member {ref!r}; staff: {known}", resource="staff")
        return member

    def add_staff(self, email: Any, name: Any = None, *, app_permission: Any = True,
                  rivo_account: Any = True) -> StaffMember:
        """A new staff account (Settings > Users and permissions > Add staff)."""
        if not isinstance(email, str) or len(email) > 254 or not EMAIL_RE.match(email):
            raise ValidationFailed(f"email must be an email address, got {email!r}", field="email")
        if any(s.email.casefold() == email.casefold() for s in self.members.values()):
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

    def app_uninstalled(self) -> None:
        """The app's cookies outlive the install they belong to: after a reinstall they are stale."""
        for member in self.members.values():
            if member.browser.signed_in:
                member.browser.signed_in, member.browser.stale_session = False, True


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{name} must be true or false", field=name)


def _check_name(name: Any) -> None:
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 255):
        raise ValidationFailed("name must be a non-blank string of at most 255 characters", field="name")
