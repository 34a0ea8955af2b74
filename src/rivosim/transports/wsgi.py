"""How the in-process carriers call the one WSGI app: the environ the server shell builds, and a WSGI call that
collects the status, headers and body the way a server does."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from io import BytesIO
from typing import Any
from urllib.parse import unquote_to_bytes

__all__ = ["add_headers", "call_app", "wsgi_environ"]


# -- the request side ----------------------------------------------------------------------------------------------
def wsgi_environ(method: str, path: str, query: str = "", headers: Mapping[str, str] | None = None,
                 body: bytes = b"", *, scheme: str = "http", host: str = "localhost", port: int | None = None
                 ) -> dict[str, Any]:
    """The WSGI environ the server shell builds for a request, field for field: what both in-process transports
    hand ``create_app(sim)``. ``path`` is as sent on the wire (percent-encoded); ``PATH_INFO`` gets its bytes as
    latin-1 text, as PEP 3333 says."""
    port = port or (443 if scheme == "https" else 80)
    environ = dict(_CONSTANT)
    environ["REQUEST_METHOD"] = method
    environ["PATH_INFO"] = unquote_to_bytes(path).decode("latin-1") if "%" in path else (path or "/")
    environ["QUERY_STRING"] = query
    environ["SERVER_NAME"] = host
    environ["SERVER_PORT"] = str(port)
    environ["HTTP_HOST"] = host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"
    environ["wsgi.url_scheme"] = scheme
    environ["wsgi.input"] = BytesIO(body)
    environ["wsgi.errors"] = sys.stderr  # looked up per request: test runners swap it
    if headers:
        add_headers(environ, headers.items())
    if body and "CONTENT_LENGTH" not in environ:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


_CONSTANT: dict[str, Any] = {  # what every request's environ holds alike (copied, so an app may change its own)
    "SCRIPT_NAME": "",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
    "wsgi.version": (1, 0),
    "wsgi.multithread": True,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
}


def call_app(app: Callable[[dict[str, Any], Any], Iterable[bytes]], environ: dict[str, Any]
             ) -> tuple[str, list[tuple[str, str]], bytes]:
    """Call a WSGI app the way a server does, for the in-process transports: ``(status line, headers, body)``,
    the body being what ``write()`` was given followed by the returned iterable, which is closed afterwards."""
    head: list[Any] = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        head[:] = [status, headers]
        return written.append

    result = app(environ, start_response)
    try:
        rest = b"".join(result)  # first: an app may write() while its iterable runs
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return head[0], head[1], b"".join(written) + rest


def add_headers(environ: dict[str, Any], headers: Iterable[tuple[str, str]]) -> None:
    """Put request headers into ``environ`` the way the server shell does (``transports/http_head.py``), so every
    carrier hands the app the same environ: a name with ``_`` is dropped (it would alias a dashed one, e.g.
    ``Content_Length``; nginx drops them too), a repeated header is joined with ``","`` (``"; "`` for cookies; RFC
    9110 §5.3), and ``Content-Type``/``Content-Length`` lose their ``HTTP_`` prefix as PEP 3333 says."""
    keys = _ENVIRON_KEYS
    for name, value in headers:
        key = keys.get(name)
        if key is None:
            key = _environ_key(name)
        if not key:
            continue
        previous = environ.get(key)
        if previous is None or key in _REPLACED:
            environ[key] = value
        else:
            environ[key] = previous + ("; " if key == "HTTP_COOKIE" else ",") + value


_REPLACED = frozenset(("HTTP_HOST", "CONTENT_TYPE", "CONTENT_LENGTH"))  # one value each: the last one sent
_ENVIRON_KEYS: dict[str, str] = {}  # header name as sent -> environ key ("": dropped); clients send few names


def _environ_key(name: str) -> str:
    key = ""
    if "_" not in name:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
    if len(_ENVIRON_KEYS) >= 512:  # any name can be sent: keep the cache bounded
        _ENVIRON_KEYS.clear()
    _ENVIRON_KEYS[name] = key
    return key
