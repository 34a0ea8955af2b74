"""The control token: with one set, every ``/_rivosim`` request must carry ``Authorization: Bearer <token>``
(401 in the control API's error shape otherwise). The Rivo and Shopify APIs keep their own credentials.

Self-contained on purpose: :func:`guard_control_api` wraps a WSGI app, so the check can move into the request
pipeline's gates unchanged (:func:`control_token_refusal` is the check itself). ``RIVOSIM_CONTROL_TOKEN`` is the
environment variable the CLI, the scenario runner and the demo read; :func:`control_headers` is what a client of
the control API sends.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Response

from rivosim.http.errors import error_response

__all__ = ["CONTROL_PREFIX", "TOKEN_ENV", "control_headers", "control_token_refusal", "env_control_token",
           "guard_control_api", "install_control_token"]

TOKEN_ENV = "RIVOSIM_CONTROL_TOKEN"
CONTROL_PREFIX = "/_rivosim"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def env_control_token() -> str | None:
    """The token ``RIVOSIM_CONTROL_TOKEN`` sets, or None (unset or empty)."""
    return os.environ.get(TOKEN_ENV) or None


def control_headers(token: str | None = None) -> dict[str, str]:
    """The header a control API client sends: the given token, else the environment's, else none."""
    token = token or env_control_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


def control_token_refusal(environ: dict[str, Any], token: str) -> Response | None:
    """None when the request may go on (not a control path, or the right bearer token); else the 401."""
    path = environ.get("PATH_INFO", "")
    if not path.startswith(CONTROL_PREFIX) or path[len(CONTROL_PREFIX):len(CONTROL_PREFIX) + 1] not in ("", "/"):
        return None
    given = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
        return None
    detail = ("the control API needs Authorization: Bearer <control token> (this server was started with "
              "--control-token or RIVOSIM_CONTROL_TOKEN)" if not given else "the control token does not match")
    return error_response("control", 401, detail, code="unauthorized",
                          headers={"WWW-Authenticate": 'Bearer realm="rivosim control API"'})


def guard_control_api(app: WSGIApp, token: str) -> WSGIApp:
    """``app`` with every ``/_rivosim`` request refused unless it carries the bearer ``token``."""
    if not token:
        raise ValueError("the control token must not be empty")

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        refusal = control_token_refusal(environ, token)
        if refusal is not None:
            return refusal(environ, start_response)
        return app(environ, start_response)

    return guarded


def install_control_token(app: Any, token: str | None) -> None:
    """Guard a Flask app's control API with ``token`` (its ``wsgi_app`` is wrapped: the refusal happens before the
    request pipeline, so a refused request changes nothing and reaches no journal). No token: nothing to do."""
    if not token:
        return
    app.wsgi_app = guard_control_api(app.wsgi_app, token)
    app.control_token = token
