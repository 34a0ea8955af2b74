"""The control token: with one set, every ``/_rivosim`` request must carry ``Authorization: Bearer <token>``
(401 in the control API's error shape otherwise). The Rivo and Shopify APIs keep their own credentials.

It is a gate of the control API like any other (``app.add_gate("control", …)``, run before the route's own
stages, so a refused request changes nothing; it is journaled like every refusal), and the app runs the same
gate before explaining a control path that matches no route, so a client without the token learns nothing of the
routes. A browser cannot send a bearer token when it opens a page, so the inspector (``/_rivosim/ui/``) also takes
HTTP Basic with the token as the password (any user name): its 401 asks for Basic, the browser prompts once and
sends the same credentials with every page and ``fetch`` after that.

``RIVOSIM_CONTROL_TOKEN`` is the environment variable the CLI, the scenario runner and the demo read;
:func:`control_headers` is what a client of the control API sends.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Response

from rivosim.http.errors import error_response

__all__ = ["CONTROL_PREFIX", "TOKEN_ENV", "control_headers", "control_token_gate", "control_token_refusal",
           "env_control_token", "install_control_token"]

TOKEN_ENV = "RIVOSIM_CONTROL_TOKEN"
CONTROL_PREFIX = "/_rivosim"
UI_PREFIX = "/_rivosim/ui"



def env_control_token() -> str | None:
    """The token ``RIVOSIM_CONTROL_TOKEN`` sets, or None (unset or empty)."""
    return os.environ.get(TOKEN_ENV) or None


def control_headers(token: str | None = None) -> dict[str, str]:
    """The header a control API client sends: the given token, else the environment's, else none."""
    token = token or env_control_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


def _presented(header: str) -> str | None:
    """The token a header carries: ``Bearer <token>``, or HTTP Basic with the token as the password."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def control_token_refusal(environ: dict[str, Any], token: str) -> Response | None:
    """None when the request may go on (not a control path, or the right token); else the 401."""
    path = environ.get("PATH_INFO", "")
    if not path.startswith(CONTROL_PREFIX) or path[len(CONTROL_PREFIX):len(CONTROL_PREFIX) + 1] not in ("", "/"):
        return None
    given = environ.get("HTTP_AUTHORIZATION", "")
    presented = _presented(given) if given else None
    if presented is not None and hmac.compare_digest(presented.encode(), token.encode()):
        return None
    detail = ("the control API needs Authorization: Bearer <control token> (this server was started with "
              "--control-token or RIVOSIM_CONTROL_TOKEN)" if not given else "the control token does not match")
    page = path == UI_PREFIX or path.startswith(UI_PREFIX + "/")
    challenge = 'Basic realm="rivosim inspector"' if page else 'Bearer realm="rivosim control API"'
    return error_response("control", 401, detail, code="unauthorized", headers={"WWW-Authenticate": challenge})


def control_token_gate(token: str) -> Callable[[Any], Response | None]:
    """The control API's gate for ``token`` (a pipeline gate: ``gate(state) -> refusal or None``)."""
    if not token:
        raise ValueError("the control token must not be empty")

    def gate(state: Any) -> Response | None:
        return control_token_refusal(state.request.environ, token)

    return gate


def install_control_token(app: Any, token: str | None) -> None:
    """Guard ``app``'s control API with ``token`` (one more gate of the control API). No token: nothing to do."""
    if not token:
        return
    app.add_gate("control", control_token_gate(token))
    app.control_token = token
