"""In-process mode for ``requests``: a private ``responses.RequestsMock`` whose registry answers the simulated hosts
from the app (after whatever you registered on it) and raises what ``requests`` raises over a socket for each
transport action (the table in the package docstring)."""

from __future__ import annotations

import re
import time
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

from rivosim.kernel.transport_action import client_meets
from rivosim.transports.wsgi import add_headers, wsgi_environ

if TYPE_CHECKING:
    from requests import PreparedRequest

    from rivosim.transports.inprocess.base import Owner as MockApis

__all__ = ["MAX_KEPT_CALLS", "RequestsCarrier", "environ_for"]

MAX_KEPT_CALLS = 1000  # responses keeps every call; a long run keeps only the latest ones


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
    add_headers(environ, request.headers.items())
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

    def __init__(self, carrier: RequestsCarrier) -> None:
        super().__init__(method="ANY", url=carrier.apis.host_pattern)
        self._carrier = carrier
        self._calls = _KeptCalls()

    def matches(self, request: PreparedRequest) -> tuple[bool, str]:
        if self._carrier.apis.host_pattern.match(request.url or ""):
            return True, ""
        return False, "not a simulated host"

    def get_response(self, request: PreparedRequest) -> Any:
        return self._carrier.handle(request)


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


class RequestsCarrier:
    """Starts and stops the ``responses`` mock for one :class:`MockApis` (``apis.mock`` while it runs)."""

    def __init__(self, apis: MockApis) -> None:
        self.apis = apis

    def start(self) -> None:
        # Pass through to whatever HTTPAdapter.send is now: the network, or a responses mock started before us.
        mock = responses.RequestsMock(assert_all_requests_are_fired=False, registry=_Registry,
                                      real_adapter_send=HTTPAdapter.send)
        registry = mock.get_registry()
        assert isinstance(registry, _Registry)
        registry.simulated = _Simulated(self)
        mock._calls = _KeptCalls()
        if self.apis.passthrough:
            mock.add_passthru(re.compile(r".*"))
        mock.start()
        self.apis.mock = mock

    def stop(self) -> None:
        mock = self.apis.mock
        if mock is not None:
            mock.stop(allow_assert=False)
            mock.reset()
            self.apis.mock = None

    def handle(self, request: PreparedRequest) -> Any:
        arrived = time.perf_counter()  # the wait counts from here: the app's time is part of it
        environ = environ_for(request)
        call = self.apis.call(environ)
        body = call.body
        if not call.plain:
            self._carry_out(call, request, arrived)
        headers = HTTPHeaderDict(call.headers)
        declared = call.declared_length()
        if declared is not None and declared > len(body):
            cut = IncompleteRead(body, declared - len(body))
            raise requests.exceptions.ChunkedEncodingError(ProtocolError(f"Connection broken: {cut!r}", cut),
                                                           request=request)
        if request.method == "HEAD":
            body = b""
        return responses._form_response(BytesIO(body), headers, call.status, request.method)

    def _carry_out(self, call: Any, request: PreparedRequest, arrived: float) -> None:
        """Wait, then raise what ``requests`` raises for what the client meets
        (``rivosim.kernel.transport_action.client_meets``)."""
        timeout = _read_timeout(getattr(request, "req_kwargs", {}).get("timeout"))
        meets = client_meets(call.action, timeout, len(call.body))
        self.apis.wait(meets.waited, call.shop, since=arrived)
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
