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
    default_port = port == (443 if scheme == "https" else 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1") if "%" in path else (path or "/"),
        "QUERY_STRING": query,
        "SERVER_NAME": host,
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": host if default_port else f"{host}:{port}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    add_headers(environ, (headers or {}).items())
    if body and "CONTENT_LENGTH" not in environ:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


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
    for name, value in headers:
        if "_" in name:
            continue
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        previous = environ.get(key)
        if previous is None or key in ("HTTP_HOST", "CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ[key] = previous + ("; " if key == "HTTP_COOKIE" else ",") + value
