"""In-process mode for ``httpx``: one transport class that is both an ``httpx.BaseTransport`` and an
``httpx.AsyncBaseTransport`` (``httpx.Client(transport=rivosim.httpx_transport(sim))``, or the same object in an
``AsyncClient``), and the carrier that routes the simulated hosts of every client built without one, by patching
httpx's default transports (``HTTPTransport`` / ``AsyncHTTPTransport``) the way ``respx`` patches them.

Each transport action becomes what httpx raises for it over a socket (checked against the server shell by
``tests/e2e/test_client_exceptions.py``): a hang is ``ReadTimeout`` after the read timeout, a reset ``ReadError``,
an empty reply ``RemoteProtocolError``, a body cut short ``RemoteProtocolError`` while the body is read, a body
dribbled slower than the read timeout ``ReadTimeout`` while it is read. See
https://www.python-httpx.org/advanced/transports/ for the transport API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from rivosim.kernel.transport_action import ClientMeets, client_meets
from rivosim.transports.wsgi import add_headers, wsgi_environ

if TYPE_CHECKING:
    from rivosim.transports.inprocess.base import Owner as MockApis
    from rivosim.transports.inprocess.base import SimulatedCall

__all__ = ["HttpxCarrier", "SimulatorTransport", "environ_for_httpx"]


def environ_for_httpx(request: httpx.Request, body: bytes) -> dict[str, Any]:
    """The WSGI environ the server shell would build for ``request``: header values decoded from the bytes httpx
    would send as latin-1, as the shell decodes them (and PEP 3333 asks), not as ``Headers.multi_items()`` guesses
    an encoding (which also costs twice the time)."""
    url = request.url
    path, _, query = url.raw_path.partition(b"?")
    environ = wsgi_environ(request.method, path.decode("ascii") or "/", query.decode("ascii"), None, body,
                           scheme=url.scheme, host=url.host or "localhost", port=url.port)
    add_headers(environ, [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw])
    return environ


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout") or {}
    read = timeout.get("read")
    return None if read is None else float(read)


class _Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that ends in an error, as a socket's would: the bytes that arrived, then ``error``."""

    def __init__(self, data: bytes, error: Exception) -> None:
        self.data = data
        self.error = error

    def __iter__(self) -> Iterator[bytes]:
        if self.data:
            yield self.data
        raise self.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.data:
            yield self.data
        raise self.error


class SimulatorTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Feeds each request to the simulator's app and carries out its transport action as httpx meets it from a
    real server. Sync (``handle_request``) and async (``handle_async_request``) alike; on a wall clock the async
    side awaits its waits without blocking the event loop."""

    def __init__(self, apis: MockApis) -> None:
        self.apis = apis

    # -- sync --------------------------------------------------------------------------------------------------
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        arrived = time.perf_counter()
        call = self.apis.call(environ_for_httpx(request, request.read()))
        if call.plain:
            return _answer(request, call, sync=True)
        meets = client_meets(call.action, _read_timeout(request), len(call.body))
        self.apis.wait(meets.waited, call.shop, since=arrived)
        return self._response(request, call, meets, sync=True)

    # -- async -------------------------------------------------------------------------------------------------
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        apis = self.apis
        body = await request.aread()
        arrived = await apis.arrive_async()  # every concurrent request arrives before the app answers any
        call = apis.call(environ_for_httpx(request, body))
        if call.plain:
            return _answer(request, call, sync=False)
        meets = client_meets(call.action, _read_timeout(request), len(call.body))
        await apis.wait_async(meets.waited, call.shop, since=arrived)  # the rest: the app's time counts
        return self._response(request, call, meets, sync=False)

    # -- what the client meets ---------------------------------------------------------------------------------
    @staticmethod
    def _response(request: httpx.Request, call: SimulatedCall, meets: ClientMeets | None, *,
                  sync: bool) -> httpx.Response:
        kind = "response" if meets is None else meets.kind
        body = call.body
        # httpx's sync socket layer words its errors; the async one (anyio) leaves them empty.
        if kind in ("timed_out", "hangs_forever"):
            message = "timed out" if sync else ""
            if kind == "hangs_forever":
                message = ("rivosim: the server hangs and the client set no timeout; a real client would wait "
                           "forever, in-process mode raises at once")
            raise httpx.ReadTimeout(message, request=request)
        if kind == "reset":
            raise httpx.ReadError("[Errno 104] Connection reset by peer" if sync else "", request=request)
        if kind == "closed":
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        if request.method == "HEAD":
            body = b""
        declared = call.declared_length()
        if kind == "timed_out_in_body":
            error: Exception = httpx.ReadTimeout("timed out" if sync else "", request=request)
            return httpx.Response(call.status, headers=call.headers, stream=_Body(b"", error), request=request)
        if declared is not None and declared > len(body) and request.method != "HEAD":
            error = httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body "
                f"(received {len(body)} bytes, expected {declared})", request=request)
            return httpx.Response(call.status, headers=call.headers, stream=_Body(body, error), request=request)
        return httpx.Response(call.status, headers=call.headers, content=body, request=request)


def _answer(request: httpx.Request, call: SimulatedCall, *, sync: bool) -> httpx.Response:
    """The response to a call with nothing to carry out (most calls): as from a server, unless its body is cut."""
    if request.method != "HEAD":
        declared = call.declared_length()
        if declared is None or declared <= len(call.body):
            return httpx.Response(call.status, headers=call.headers, content=call.body, request=request)
    return SimulatorTransport._response(request, call, None, sync=sync)


class HttpxCarrier:
    """Patches httpx's default transports so clients built without a transport reach the simulator for the
    simulated hosts; other hosts go to the original transport (pass-through) or fail with ``ConnectError``."""

    def __init__(self, apis: MockApis) -> None:
        self.apis = apis
        self.transport = SimulatorTransport(apis)
        self._saved: tuple[Any, Any] | None = None

    def start(self) -> None:
        sync_original = httpx.HTTPTransport.handle_request
        async_original = httpx.AsyncHTTPTransport.handle_async_request
        apis, transport = self.apis, self.transport

        def refuse(request: httpx.Request) -> httpx.ConnectError:
            return httpx.ConnectError(f"rivosim: {request.url.host} is not a simulated host and pass-through is off "
                                      "(mock_apis(passthrough=False))", request=request)

        def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
            if apis.host_pattern.match(str(request.url)):
                return transport.handle_request(request)
            if apis.passthrough:
                return sync_original(self, request)
            raise refuse(request)

        async def handle_async_request(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
            if apis.host_pattern.match(str(request.url)):
                return await transport.handle_async_request(request)
            if apis.passthrough:
                return await async_original(self, request)
            raise refuse(request)

        self._saved = (sync_original, async_original)
        httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]
        httpx.AsyncHTTPTransport.handle_async_request = handle_async_request  # type: ignore[method-assign]

    def stop(self) -> None:
        if self._saved is not None:
            httpx.HTTPTransport.handle_request, httpx.AsyncHTTPTransport.handle_async_request = self._saved  # type: ignore[method-assign]
            self._saved = None
