"""Control API for the embedded admin (Rivo opened inside Shopify admin), under ``/_rivosim/shops/<domain>/admin``:
staff and their Rivo app permission, their browser (stale cookies, a skewed clock), App Bridge session tokens and
the back end's check of them, opening the app (embedded or by the direct login link) and the merchant's fixes.
Errors are the control API's ``{"error": {"code", "message", "field"}}``; a refused request changes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.wrappers import Response

from rivosim.domain.admin import CAUSES, REMEDIES, InvalidSessionToken, StaffMember
from rivosim.domain.shop import Shop
from rivosim.http.errors import json_response
from rivosim.http.params import read_body
from rivosim.http.routing import ApiBlueprint, Routes, current_shop
from rivosim.kernel.errors import ValidationFailed

__all__ = ["blueprint"]

routes = Routes()
route = routes.route
blueprint = ApiBlueprint("control_admin", __name__, api="control", url_prefix="/_rivosim/shops/<domain>/admin",
                         routes=(routes,))

# How each remedy is carried out through this simulator ({shop}, {staff}: the shop's domain, a staff member).
_BASE = "/_rivosim/shops/{shop}"
FIX_ROUTES: dict[str, str] = {
    "direct_login_link": f'POST {_BASE}/admin/open {{"staff": "{{staff}}", "via": "direct_link"}}',
    "clear_browser_data": f"POST {_BASE}/admin/staff/{{staff}}/browser/clear",
    "incognito_window": f'POST {_BASE}/admin/open {{"staff": "{{staff}}", "incognito": true}}',
    "reauthenticate_app": f"POST {_BASE}/admin/app/reauthorize",
    "grant_app_permission": f'PATCH {_BASE}/admin/staff/{{staff}} {{"app_permission": true}}',
    "fix_clock": f'PATCH {_BASE}/admin/staff/{{staff}}/browser {{"clock_skew_seconds": 0}}',
    "install_app": f"POST {_BASE}/shopify/app/install",
    "invite_to_rivo": f'PATCH {_BASE}/admin/staff/{{staff}} {{"rivo_account": true}}',
}


def _route_of(remedy: str, domain: str, staff: str = "<staff>") -> str:
    return FIX_ROUTES[remedy].replace("{shop}", domain).replace("{staff}", staff)


def _fields(body: dict[str, Any], accepted: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(accepted))
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]}; accepted: {', '.join(accepted)}", field=unknown[0])


def _patch(accepted: tuple[str, ...]) -> dict[str, Any]:
    """A PATCH body: only ``accepted`` fields, none of them null (leaving a field out leaves it as it is)."""
    body = read_body(request)
    _fields(body, accepted)
    for name in accepted:
        if name in body and body[name] is None:
            raise ValidationFailed(f"{name} cannot be null", field=name)
    return body


def _flag(body: dict[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise ValidationFailed(f"{name} must be true or false", field=name)
    return value


def _staff(shop: Shop, body: dict[str, Any]) -> StaffMember:
    """The staff member named by ``staff`` (a user id or an email); the account owner when left out."""
    ref = body.get("staff")
    if ref is None:
        return next(s for s in shop.admin.staff.values() if s.account_owner)
    if isinstance(ref, bool) or not isinstance(ref, int | str) or ref == "":
        raise ValidationFailed("staff must be a staff member's user id or email", field="staff")
    return shop.admin.find(ref)


def _with_routes(outcome: dict[str, Any], domain: str) -> dict[str, Any]:
    """Add to an open's outcome how each remedy is carried out here."""
    staff = outcome["staff"]["email"]
    if "fix" in outcome:
        outcome["fix"]["route"] = _route_of(outcome["fix"]["code"], domain, staff)
    for remedy in outcome.get("remedies", []):
        remedy["route"] = _route_of(remedy["code"], domain, staff)
    return outcome


# -- overview and the causes -----------------------------------------------------------------------------------
@route("", "GET", "control.admin.get")
def admin_get(domain: str) -> Response:
    """The app's install and authorisation, the direct login link, and each staff member with the causes an
    embedded open would meet now (``embedded_causes``, in the order it meets them)."""
    return json_response(current_shop(domain).admin.overview())


@route("/causes", "GET", "control.admin.causes")
def admin_causes(domain: str) -> Response:
    """Why opening Rivo fails, each with the fix a merchant makes and how to make it here."""
    current_shop(domain)
    causes = [{**c.to_dict(), "fix_route": _route_of(c.remedy, domain)} for c in CAUSES.values()]
    remedies = [{"code": code, "action": action, "route": _route_of(code, domain)} for code, action in REMEDIES.items()]
    return json_response({"causes": causes, "remedies": remedies})


# -- staff ----------------------------------------------------------------------------------------------------
@route("/staff", "GET", "control.admin.staff.list")
def staff_list(domain: str) -> Response:
    return json_response({"staff": [s.to_dict() for s in current_shop(domain).admin.staff.values()]})


@route("/staff", "POST", "control.admin.staff.create")
def staff_create(domain: str) -> Response:
    """Add a staff account: ``{"email", "name"?, "app_permission"? (default true), "rivo_account"? (true)}``."""
    shop = current_shop(domain)
    body = read_body(request)
    _fields(body, ("email", "name", "app_permission", "rivo_account"))
    if "email" not in body:
        raise ValidationFailed("email is required", field="email")
    member = shop.admin.add_staff(body["email"], body.get("name"), app_permission=body.get("app_permission", True),
                                  rivo_account=body.get("rivo_account", True))
    return json_response(member.to_dict(), 201)


@route("/staff/<ref>", "GET", "control.admin.staff.get")
def staff_get(domain: str, ref: str) -> Response:
    shop = current_shop(domain)
    member = shop.admin.find(ref)
    return json_response({**member.to_dict(), "embedded_causes": shop.admin.diagnose(member)})


@route("/staff/<ref>", "PATCH", "control.admin.staff.update")
def staff_update(domain: str, ref: str) -> Response:
    """Grant or revoke the Rivo app permission (``{"app_permission": true}``), rename, give a Rivo account."""
    shop = current_shop(domain)
    member = shop.admin.find(ref)
    body = _patch(("name", "app_permission", "rivo_account"))
    shop.admin.update_staff(member, name=body.get("name"), app_permission=body.get("app_permission"),
                            rivo_account=body.get("rivo_account"))
    return json_response(member.to_dict())


@route("/staff/<ref>/browser", "PATCH", "control.admin.browser.update")
def browser_update(domain: str, ref: str) -> Response:
    """Set the staff member's browser: ``{"stale_session"?: bool, "clock_skew_seconds"?: int}``."""
    shop = current_shop(domain)
    member = shop.admin.find(ref)
    body = _patch(("stale_session", "clock_skew_seconds"))
    shop.admin.set_browser(member, stale_session=body.get("stale_session"),
                           clock_skew_seconds=body.get("clock_skew_seconds"))
    return json_response(member.to_dict())


@route("/staff/<ref>/browser/clear", "POST", "control.admin.browser.clear")
def browser_clear(domain: str, ref: str) -> Response:
    """Clear the browser's cookies and site data (the fix for a stale session)."""
    shop = current_shop(domain)
    member = shop.admin.find(ref)
    shop.admin.clear_browser_data(member)
    return json_response(member.to_dict())


# -- the app --------------------------------------------------------------------------------------------------
@route("/app/reauthorize", "POST", "control.admin.app.reauthorize")
def app_reauthorize(domain: str) -> Response:
    """Re-authenticate the app: the merchant approves its access again (every scope it asks for)."""
    return json_response(current_shop(domain).admin.reauthenticate())


# -- session tokens and opening the app -----------------------------------------------------------------------
@route("/session_token", "POST", "control.admin.session_token")
def session_token(domain: str) -> Response:
    """What App Bridge's ``shopify.idToken()`` gives in a staff member's browser: ``{"staff"?, "incognito"?}``.
    403 ``no_app_permission`` when it gives none; a stale or skewed browser gets the token it would really get,
    with what the back end says of it (``verification``)."""
    shop = current_shop(domain)
    body = read_body(request, required=False)
    _fields(body, ("staff", "incognito"))
    incognito = _flag(body, "incognito")
    member = _staff(shop, body)
    token = shop.admin.session_token(member, incognito=incognito)
    return json_response({"token": token, "staff": member.to_dict(), **_verification(shop, token)})


def _verification(shop: Shop, token: str) -> dict[str, Any]:
    try:
        claims = shop.admin.verify(token)
    except InvalidSessionToken as exc:
        return {"valid": False, "error": exc.message,
                "response": {"status": 401, "headers": {"X-Shopify-Retry-Invalid-Session-Request": "1"}}}
    staff = next((s.to_dict() for s in shop.admin.staff.values() if str(s.id) == str(claims.get("sub"))), None)
    return {"valid": True, "claims": claims, "staff_member": staff}


@route("/verify", "POST", "control.admin.verify")
def verify(domain: str) -> Response:
    """Check a session token as Rivo's back end does: ``{"token"}`` or ``Authorization: Bearer <token>``. Always
    200 for a readable request: ``valid`` says whether the back end accepts it, and if not, why and its 401."""
    shop = current_shop(domain)
    body = read_body(request, required=False)
    _fields(body, ("token",))
    token = body.get("token")
    if token is None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = header[len("Bearer "):]
    if not isinstance(token, str) or not token:
        raise ValidationFailed('send {"token": "<session token>"} or Authorization: Bearer <session token>',
                               field="token")
    return json_response(_verification(shop, token))


@route("/open", "POST", "control.admin.open")
def open_app(domain: str) -> Response:
    """A staff member opens Rivo: ``{"staff"?: id|email (default: the account owner), "via"?: "embedded" |
    "direct_link", "incognito"?: bool}``. 200 with the outcome: ``opened``, then the dashboard, or the error the
    merchant sees, its cause, the HTTP exchange of App Bridge and the back end, and the remedies."""
    shop = current_shop(domain)
    body = read_body(request, required=False)
    _fields(body, ("staff", "via", "incognito"))
    via = body.get("via", "embedded")
    if via not in ("embedded", "direct_link"):
        raise ValidationFailed(f"via must be embedded or direct_link, got {via!r}", field="via")
    incognito = _flag(body, "incognito")
    if incognito and via == "direct_link":
        raise ValidationFailed("incognito applies to the embedded admin only", field="incognito")
    member = _staff(shop, body)
    return json_response(_with_routes(shop.admin.open(member, via=via, incognito=incognito), domain))
