"""The bytes the server shell writes itself: response heads (status line, framing, Date and Server headers) and
the error responses it sends without the app, each in the error shape of the API that owns the path (the same
shapes as ``rivosim.http.errors``). Cached where clients repeat themselves (status lines, the Date header once a
second, header names)."""

from __future__ import annotations

import json
import time
from email.utils import formatdate

__all__ = ["build_head", "error_response", "header_key", "shell_error"]

_SERVER_LINE = "Server: rivosim\r\n"
_HOP_BY_HOP = frozenset({"connection", "transfer-encoding", "keep-alive"})

_header_keys: dict[bytes, str] = {}
_status_lines: dict[str, str] = {}
_date = [0, ""]


def header_key(name: bytes) -> str:
    """The environ key for a request header name; cached because clients send the same few names.

    ``""`` for a name with ``_``: WSGI spells ``-`` as ``_``, so ``Content_Length`` would alias
    ``Content-Length`` (and ``X_Api_Key`` the header a gateway set). Such headers are dropped, as nginx does."""
    key = _header_keys.get(name)
    if key is None:
        key = "" if b"_" in name else name.decode("latin-1").upper().replace("-", "_")
        if key and key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        if len(_header_keys) < 4096:
            _header_keys[name] = key
    return key


def _status_line(status: str) -> str:
    line = _status_lines.get(status)
    if line is None:
        line = f"HTTP/1.1 {status}\r\n"
        if len(_status_lines) < 1024:
            _status_lines[status] = line
    return line


def _date_line() -> str:
    now = int(time.time())
    if _date[0] != now:
        _date[0], _date[1] = now, f"Date: {formatdate(now, usegmt=True)}\r\n"
    return _date[1]


def _api_of(path: str) -> str:
    if path.startswith("/admin/"):
        return "shopify"
    if path.startswith("/_rivosim"):
        return "control"
    return "rivo"  # the Rivo API, and paths no API owns (the app answers those in Rivo's shape too)


def error_body(status: str, detail: str, path: str = "") -> bytes:
    """An error body in the shape of the API owning ``path`` (see ``rivosim.http.errors``)."""
    code, _, title = status.partition(" ")
    api = _api_of(path)
    body: dict[str, object]
    if api == "shopify":
        body = {"errors": detail}
    elif api == "control":
        body = {"error": {"code": title.lower().replace(" ", "_"), "message": detail}}
    else:
        body = {"errors": [{"status": code, "title": title, "detail": detail}], "error": detail}
    return json.dumps(body).encode()


def error_response(status: str, detail: str, extra: str = "", path: str = "") -> bytes:
    """A complete ``Connection: close`` error response the shell sends without the app, in the shape of the API
    that owns ``path`` (the request target as far as it arrived)."""
    body = error_body(status, detail, path)
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"{extra}{_date_line()}{_SERVER_LINE}Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def shell_error(status: str, detail: str, url: bytes, extra: str = "") -> bytes:
    """:func:`error_response` for a request whose target so far is ``url`` (origin or absolute form)."""
    path = url.decode("latin-1", "replace")
    if not path.startswith("/"):
        _, sep, rest = path.partition("://")
        path = "/" + rest.partition("/")[2] if sep else path
    return error_response(status, detail, extra, path)


def build_head(status: str, headers: list[tuple[str, str]], body_len: int, keep_alive: bool,
               http10: bool) -> tuple[bytes, bool]:
    """Serialize status and headers; add Content-Length/Date/Server if missing. Returns (head, keep_alive)."""
    lines = [_status_line(status)]
    has_cl = has_date = has_server = False
    for name, value in headers:
        low = name.lower()
        if low in _HOP_BY_HOP:
            # Framing and persistence are the shell's business (WSGI apps must not set hop-by-hop headers);
            # we honour an app's "close" but always write our own framing headers.
            if low == "connection" and "close" in value.lower():
                keep_alive = False
            continue
        if low == "content-length":
            has_cl = True
        elif low == "date":
            has_date = True
        elif low == "server":
            has_server = True
        lines.append(f"{name}: {value}\r\n")
    if not has_cl and status[:1] != "1" and status[:3] not in ("204", "304"):
        lines.append(f"Content-Length: {body_len}\r\n")
    if not has_date:
        lines.append(_date_line())
    if not has_server:
        lines.append(_SERVER_LINE)
    if not keep_alive:
        lines.append("Connection: close\r\n")
    elif http10:
        lines.append("Connection: keep-alive\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1"), keep_alive
