"""The embedded admin: the shop's staff (:mod:`.staff`), why opening Rivo fails and how it is fixed
(:mod:`.causes`), and opening it with App Bridge session tokens (:mod:`.embedded`)."""

from __future__ import annotations

from rivosim.domain.admin.causes import (
    CAUSES,
    REMEDIES,
    SEED_CHECKLIST,
    SESSION_TOKEN_FETCH_FAILED,
    AppNotInstalled,
    Cause,
    NoAppPermission,
)
from rivosim.domain.admin.embedded import AdminContext, EmbeddedAdmin
from rivosim.domain.admin.staff import Browser, StaffMember, StaffRoster
from rivosim.domain.session_tokens import (
    CLOCK_TOLERANCE,
    REAUTHORIZE_HEADER,
    RETRY_HEADER,
    TOKEN_LIFETIME,
    InvalidSessionToken,
    decode_session_token,
)

__all__ = [
    "CAUSES", "CLOCK_TOLERANCE", "REAUTHORIZE_HEADER", "REMEDIES", "RETRY_HEADER", "SEED_CHECKLIST",
    "SESSION_TOKEN_FETCH_FAILED", "TOKEN_LIFETIME", "AdminContext", "AppNotInstalled", "Browser", "Cause",
    "EmbeddedAdmin", "InvalidSessionToken", "NoAppPermission", "StaffMember", "StaffRoster", "decode_session_token",
]
