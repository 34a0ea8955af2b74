"""``LeanFlask``: Flask with the per-request work rivosim never needs made cheap, through public methods only.

Flask does some work on every request for features an app may use: it opens a session (a new null session per
request when there is no secret key), looks for ``before_request`` / ``url_value_preprocessor`` / ``teardown``
functions of the app and of each blueprint of the endpoint, and asks ``inspect`` whether each function it calls is
a coroutine. rivosim registers none of those hooks, so each override below keeps Flask's behaviour exactly (it
falls back to Flask's own method the moment such a hook is registered) and only skips the looking. Measured on
``POST /points_events`` in-process: about 8 % of the app's cost per request. The route rule class and the URL
adapter cut start-up time and a second Host-header parse (see each).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Request
from flask import Response as FlaskResponse
from flask.sessions import NullSession, SecureCookieSessionInterface
from flask.signals import request_tearing_down
from werkzeug.exceptions import BadHost
from werkzeug.routing import MapAdapter, Rule
from werkzeug.wsgi import get_host

__all__ = ["LazyBuilderRule", "LeanFlask", "LeanResponse"]

_UNSET: Any = object()


class LazyBuilderRule(Rule):
    """A route whose URL builder is compiled on first use. Werkzeug compiles one for every rule up front (about
    1 ms each, ~180 rules here) although rivosim never builds URLs from routes: this halves start-up."""

    def _compile_builder(self, append_unknown: bool = True) -> Any:
        compile_now = super()._compile_builder
        real: list[Any] = []

        def build(rule: Rule, *args: Any, **kwargs: Any) -> Any:
            if not real:
                real.append(compile_now(append_unknown))
            return real[0].__get__(rule, None)(*args, **kwargs)

        return build


class LeanResponse(FlaskResponse):
    """Flask's response, answering the common case — a buffered body (``[bytes]``) with its ``Content-Length``, a
    status with a body, no ``Location``, no HEAD — without werkzeug's generic path (a copy of the headers, a scan
    of them, a closing iterator around the body): the same status line, header list and body bytes."""

    _closers = False  # set when call_on_close registers a function: then werkzeug's path runs it

    def call_on_close(self, func: Callable[[], Any]) -> Callable[[], Any]:
        self._closers = True
        return super().call_on_close(func)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = self.response
        status = self.status_code
        if (type(body) is not list or len(body) != 1 or type(body[0]) is not bytes or self.direct_passthrough
                or self._closers or status < 200 or status == 204 or status == 304
                or environ["REQUEST_METHOD"] == "HEAD"):
            return super().__call__(environ, start_response)
        headers = self.headers.to_wsgi_list()
        length = None
        for key, _ in headers:
            lowered = key.lower()
            if lowered == "content-length":
                length = key
            elif lowered == "location" or lowered == "content-location":
                return super().__call__(environ, start_response)  # werkzeug makes them absolute URIs
        if length is None:
            return super().__call__(environ, start_response)
        start_response(self.status, headers)
        return body


class _SharedNullSession(SecureCookieSessionInterface):
    """Without a secret key Flask makes a new :class:`NullSession` for every request; a null session refuses
    every change, so one serves every request alike."""

    def make_null_session(self, app: Flask) -> NullSession:  # type: ignore[override]
        shared = getattr(self, "_shared", None)
        if shared is None or type(shared) is not self.null_session_class:
            shared = self._shared = self.null_session_class()
        return shared  # type: ignore[no-any-return]


def _wsgi_text(value: str) -> str:
    # PEP 3333 strings are latin-1 decoded bytes; werkzeug re-decodes them as UTF-8 (its "decoding dance").
    return value if value.isascii() else value.encode("latin1").decode("utf-8", "replace")


class LeanFlask(Flask):
    """Flask, minus the per-request look-ups for hooks nobody registered (each falls back to Flask's own)."""

    url_rule_class = LazyBuilderRule
    response_class = LeanResponse
    session_interface = _SharedNullSession()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._server_names: dict[str, str] = {}  # Host header -> server name, for create_url_adapter
        self._sync: dict[Callable[..., Any], Callable[..., Any]] = {}  # ensure_sync's answers

    @property
    def server_names(self) -> dict[str, str]:
        """The Host values already checked (Host -> the server name routing uses)."""
        return self._server_names

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's answer, remembered per function (Flask asks ``inspect`` for every view on every request)."""
        sync = self._sync.get(func)
        if sync is None:
            sync = super().ensure_sync(func)
            if len(self._sync) >= 1024:  # bound the memory should a caller pass a new callable each time
                self._sync.clear()
            self._sync[func] = sync
        return sync

    def preprocess_request(self) -> Any:
        if not self.url_value_preprocessors and not self.before_request_funcs:
            return None  # what Flask's loop over (None, *blueprints) finds when nothing is registered
        return super().preprocess_request()

    def do_teardown_request(self, exc: BaseException | None = _UNSET) -> None:
        if not self.teardown_request_funcs and not request_tearing_down.receivers:
            return None  # no function to call, no receiver to tell
        if exc is _UNSET:
            return super().do_teardown_request()
        return super().do_teardown_request(exc)

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:  # type: ignore[override]
        """What Flask's ``create_url_adapter`` builds (no SERVER_NAME, no subdomain or host matching, no
        trusted hosts), without ``bind_to_environ`` parsing the Host header a second time and IDNA-encoding it
        on every request: the server name is cached per Host value."""
        if request is None or self.config["TRUSTED_HOSTS"] is not None or self.config["SERVER_NAME"] is not None:
            return super().create_url_adapter(request)
        env = request.environ
        host = request.host = get_host(env)  # type: ignore[misc]
        names = self._server_names
        server_name = names.get(host)
        if server_name is None:
            name, sep, port = host.lower().partition(":")
            try:
                server_name = name.encode("idna").decode("ascii") + sep + port
            except UnicodeError as exc:
                raise BadHost() from exc
            if len(names) >= 256:  # any Host header can reach us: keep the cache bounded
                names.clear()
            names[host] = server_name
        return MapAdapter(self.url_map, server_name, _wsgi_text(env.get("SCRIPT_NAME") or "") or "/",
                          self.url_map.default_subdomain or "", env["wsgi.url_scheme"],
                          _wsgi_text(env.get("PATH_INFO") or "") or "/", env["REQUEST_METHOD"],
                          _wsgi_text(env.get("QUERY_STRING", "")))
