"""In-process mode: ``mock_apis(sim)`` routes ``requests`` calls for the simulated hosts into ``create_app(sim)``
through a private ``responses.RequestsMock``: no server, no sockets, no sleeping.

    with mock_apis(sim) as apis:                      # or @mock_apis(sim) on a test function
        requests.get(f"{apis.rivo_url}/customers/42", headers={"Authorization": key})

- Hosts: the Rivo API host (``developer-api.rivo.io``) and ``*.myshopify.com`` (``hosts=`` to change,
  ``extra_hosts=`` to add); any scheme and port. Other hosts pass through to the network (``passthrough=False``
  refuses them instead), so webhooks the simulator delivers reach a subscriber you mocked on ``apis`` (``apis.add``,
  ``apis.add_callback``) or, when it is not mocked, a real one over HTTP. A ``responses`` mock you started
  *before* ``mock_apis`` sees what passes through. What you register on ``apis`` for a simulated host wins over
  the simulator.
- The pipeline decides; this module only carries out its transport action, the way ``requests`` would meet it
  from a real server (the table below). Latency advances the simulator's clock (the app does that for a virtual
  clock; for a wall clock this module moves its offset) instead of sleeping, unless ``real_sleep=True``.

=======================================  ===================================================================
what the server does (TransportAction)   what the ``requests`` caller gets
=======================================  ===================================================================
respond after ``delay``                  the response; ``ReadTimeout`` when ``delay`` > the read timeout
hang (``timeout`` fault)                 ``ReadTimeout`` (at once when the client set no timeout: a real
                                         client would wait forever); with ``seconds`` shorter than the read
                                         timeout, the server closes: ``ConnectionError`` (RemoteDisconnected)
reset                                    ``ConnectionError`` (ConnectionResetError 104, "Connection aborted.")
empty_reply                              ``ConnectionError`` (RemoteDisconnected, "Connection aborted.")
dribble (``slow_body``)                  the response once every chunk is in; ``ConnectionError``
                                         (ReadTimeoutError) when the chunk interval > the read timeout
body cut short (``malformed_body: cut``) ``ChunkedEncodingError`` (IncompleteRead)
malformed JSON (truncated/invalid/html)  the response; ``response.json()`` raises ``JSONDecodeError``
=======================================  ===================================================================

These are the exceptions ``requests`` raises for the same events over a socket (``tests/e2e`` checks the
server-mode side). The journal, the clock and the fault counters are the same in both modes.
"""

from __future__ import annotations

import fnmatch
import re
import time
import weakref
from collections.abc import Iterable
from contextlib import ContextDecorator
from http.client import IncompleteRead, RemoteDisconnected
from io import BytesIO
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
import responses
from requests.adapters import HTTPAdapter
from responses.registries import FirstMatchRegistry
from urllib3 import HTTPHeaderDict
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from rivosim.kernel.transport_action import ENVIRON_KEY, client_meets
from rivosim.transports.wsgi import call_app, wsgi_environ

if TYPE_CHECKING:
    from flask import Flask
    from requests import PreparedRequest

    from rivosim.engine import Simulator
    from rivosim.kernel.transport_action import TransportAction

__all__ = ["DEFAULT_HOSTS", "RIVO_HOST", "MockApis", "environ_for", "mock_apis"]

RIVO_HOST = "developer-api.rivo.io"  # rivo-api.md §1.1: https://developer-api.rivo.io/merchant_api/v1
DEFAULT_HOSTS = (RIVO_HOST, "*.myshopify.com")
MAX_KEPT_CALLS = 1000  # responses keeps every call; a long run keeps only the latest ones
_APPS: weakref.WeakKeyDictionary[Simulator, Flask] = weakref.WeakKeyDictionary()


def _app_for(sim: Simulator) -> Flask:
    """One app per simulator (compiling the routes takes ~30 ms)."""
    app = _APPS.get(sim)
    if app is None:
        from rivosim.http.app import create_app

        app = _APPS[sim] = create_app(sim)
    return app


def _host_pattern(hosts: Iterable[str]) -> re.Pattern[str]:
    alternatives = "|".join(fnmatch.translate(h.lower()).removeprefix("(?s:").removesuffix(")\\Z") for h in hosts)
    return re.compile(rf"^https?://(?:{alternatives})(?::\d+)?(?:[/?#]|$)", re.IGNORECASE)


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        try:
            return body.encode("latin-1")  # what http.client sends for a str body
        except UnicodeEncodeError:
            return body.encode("utf-8")
    if hasattr(body, "read"):
        return _body_bytes(body.read())
    return b"".join(_body_bytes(chunk) for chunk in body)  # a generator: requests would send it chunked


def environ_for(request: PreparedRequest) -> dict[str, Any]:
    """The WSGI environ a server would build for ``request`` (what the server shell builds, field for field)."""
    parts = urlsplit(request.url)
    environ = wsgi_environ(str(request.method), parts.path or "/", parts.query, None, _body_bytes(request.body),
                           scheme=parts.scheme, host=parts.hostname or "localhost", port=parts.port)
    environ["HTTP_HOST"] = parts.netloc  # as the client wrote it
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ["HTTP_" + key] = value
    return environ


class _Pool:
    """Stands in for urllib3's connection pool in exception messages (``HTTPSConnectionPool(host=…, port=…)``)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        kind = "HTTPSConnectionPool" if parts.scheme == "https" else "HTTPConnectionPool"
        self.text = f"{kind}(host={parts.hostname!r}, port={parts.port or (443 if parts.scheme == 'https' else 80)})"

    def __str__(self) -> str:
        return self.text


def _timed_out(request: PreparedRequest, message: str) -> ReadTimeoutError:
    url = request.url or ""
    return ReadTimeoutError(_Pool(url), url, message)  # type: ignore[arg-type]


def _read_timeout(timeout: Any) -> float | None:
    """The read timeout ``requests`` was given: a number, ``(connect, read)`` or urllib3's ``Timeout``."""
    if timeout is None:
        return None
    if isinstance(timeout, tuple):
        return None if timeout[1] is None else float(timeout[1])
    if isinstance(timeout, int | float):
        return float(timeout)
    read = getattr(timeout, "read_timeout", None)
    return float(read) if isinstance(read, int | float) else None


class _KeptCalls(responses.CallList):
    """``responses``' call list, keeping only the latest ``MAX_KEPT_CALLS``."""

    def add_call(self, call: Any) -> None:
        self._calls.append(call)
        if len(self._calls) > MAX_KEPT_CALLS:
            del self._calls[:MAX_KEPT_CALLS // 2]

    def add(self, request: Any, response: Any) -> None:
        self.add_call(responses.Call(request, response))


class _Simulated(responses.BaseResponse):
    """One registry entry for every simulated host and method: feeds the call to the app."""

    def __init__(self, owner: MockApis) -> None:
        super().__init__(method="ANY", url=owner.host_pattern)
        self._owner = owner
        self._calls = _KeptCalls()

    def matches(self, request: PreparedRequest) -> tuple[bool, str]:
        if self._owner.host_pattern.match(request.url or ""):
            return True, ""
        return False, "not a simulated host"

    def get_response(self, request: PreparedRequest) -> Any:
        return self._owner.handle(request)


class _Registry(FirstMatchRegistry):
    """Your registrations first (with the usual ``responses`` rules), then the simulator."""

    simulated: _Simulated | None = None

    def find(self, request: PreparedRequest) -> tuple[Any, list[str]]:
        if self.registered:
            found, reasons = super().find(request)
            if found is not None:
                return found, reasons
        else:
            reasons = []
        simulated = self.simulated
        if simulated is not None and simulated.matches(request)[0]:
            return simulated, reasons
        return None, [*reasons, "not a simulated host"] if simulated is not None else reasons


class MockApis(ContextDecorator):
    """What :func:`mock_apis` returns: a context manager and a decorator; inside, :attr:`mock` is the active
    ``responses.RequestsMock`` (``add``, ``add_callback``, ``calls`` … are forwarded to it)."""

    def __init__(self, sim: Simulator, *, hosts: Iterable[str] = DEFAULT_HOSTS, extra_hosts: Iterable[str] = (),
                 real_sleep: bool = False, passthrough: bool = True, app: Flask | None = None) -> None:
        self.sim = sim
        self.hosts = tuple(hosts) + tuple(extra_hosts)
        if not self.hosts:
            raise ValueError("mock_apis needs at least one host to simulate")
        self.host_pattern = _host_pattern(self.hosts)
        self.real_sleep = real_sleep
        self.passthrough = passthrough
        self._app = app
        self.mock: responses.RequestsMock | None = None
        self._depth = 0

    @property
    def app(self) -> Flask:
        if self._app is None:
            self._app = _app_for(self.sim)
        return self._app

    @property
    def rivo_url(self) -> str:
        """Base URL of the Rivo merchant API as clients configure it."""
        host = RIVO_HOST if RIVO_HOST in self.hosts else self.hosts[0].replace("*", "rivo")
        return f"https://{host}/merchant_api/v1"

    def shopify_url(self, domain: str, version: str | None = None) -> str:
        """Base URL of a shop's Admin REST API (``https://<domain>/admin/api/<version>``)."""
        return f"https://{domain}/admin" + (f"/api/{version}" if version else "")

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> MockApis:
        if self._depth:
            self._depth += 1
            return self
        self.app  # noqa: B018 - build the app before patching, outside any test timing
        # Pass through to whatever HTTPAdapter.send is now: the network, or a responses mock started before us.
        mock = responses.RequestsMock(assert_all_requests_are_fired=False, registry=_Registry,
                                      real_adapter_send=HTTPAdapter.send)
        registry = mock.get_registry()
        assert isinstance(registry, _Registry)
        registry.simulated = _Simulated(self)
        mock._calls = _KeptCalls()
        if self.passthrough:
            mock.add_passthru(re.compile(r".*"))
        mock.start()
        self.mock = mock
        self._depth = 1
        return self

    def stop(self) -> None:
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth == 0 and self.mock is not None:
            self.mock.stop(allow_assert=False)
            self.mock.reset()
            self.mock = None

    def __enter__(self) -> MockApis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __getattr__(self, name: str) -> Any:
        # add, add_callback, replace, calls, registered …: the active RequestsMock's.
        mock = self.__dict__.get("mock")
        if mock is None or name.startswith("_"):
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}"
                                 + ("" if mock is not None else " (outside its with-block)"))
        return getattr(mock, name)

    # -- one call ----------------------------------------------------------------------------------------------
    def handle(self, request: PreparedRequest) -> Any:
        environ = environ_for(request)
        status_line, header_list, body = call_app(self.app, environ)
        status = int(status_line[:3])
        headers = HTTPHeaderDict(header_list)
        action: TransportAction | None = environ.get(ENVIRON_KEY)
        if action is not None and (action.kind != "respond" or action.delay):
            self._carry_out(action, request, body)
        declared = headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > len(body):
            cut = IncompleteRead(body, int(declared) - len(body))
            raise requests.exceptions.ChunkedEncodingError(ProtocolError(f"Connection broken: {cut!r}", cut),
                                                           request=request)
        if request.method == "HEAD":
            body = b""
        return responses._form_response(BytesIO(body), headers, status, request.method)

    def _carry_out(self, action: TransportAction, request: PreparedRequest, body: bytes) -> None:
        """Raise what ``requests`` raises for what the client meets
        (``rivosim.kernel.transport_action.client_meets``)."""
        timeout = _read_timeout(getattr(request, "req_kwargs", {}).get("timeout"))
        meets = client_meets(action, timeout, len(body))
        self._wait(meets.waited)
        kind = meets.kind
        if kind == "response":
            return
        if kind == "timed_out":
            raise requests.exceptions.ReadTimeout(
                _timed_out(request, f"Read timed out. (read timeout={timeout:g})"), request=request)
        if kind == "timed_out_in_body":
            raise requests.exceptions.ConnectionError(_timed_out(request, "Read timed out."), request=request)
        if kind == "hangs_forever":
            raise requests.exceptions.ReadTimeout(_timed_out(
                request, "Read timed out. (rivosim: the server hangs and the client set no timeout; a real "
                "client would wait forever, in-process mode raises at once)"), request=request)
        if kind == "reset":
            raise requests.exceptions.ConnectionError(ProtocolError(
                "Connection aborted.", ConnectionResetError(104, "Connection reset by peer")), request=request)
        raise requests.exceptions.ConnectionError(ProtocolError(  # closed: an empty reply, or a hang that ended
            "Connection aborted.", RemoteDisconnected("Remote end closed connection without response")),
            request=request)

    def _wait(self, seconds: float) -> None:
        """The client waits ``seconds``: really when asked to; otherwise a wall clock's offset moves (a virtual
        clock already moved in the app for the server's latency; a hang's wait is the client's, not simulator
        time)."""
        if seconds <= 0:
            return
        if self.real_sleep:
            time.sleep(seconds)
        elif self.sim.clock.kind == "wall":
            self.sim.advance(seconds)


def mock_apis(sim: Simulator, *, hosts: Iterable[str] = DEFAULT_HOSTS, extra_hosts: Iterable[str] = (),
              real_sleep: bool = False, passthrough: bool = True, app: Flask | None = None) -> MockApis:
    """Route ``requests`` calls for the simulated hosts into ``create_app(sim)`` (a context manager and a
    decorator). See the module docstring for hosts, pass-through and how faults reach the caller."""
    return MockApis(sim, hosts=hosts, extra_hosts=extra_hosts, real_sleep=real_sleep, passthrough=passthrough,
                    app=app)
