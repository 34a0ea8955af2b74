"""In-process mode for ``aiohttp.ClientSession``, on ``aioresponses`` (https://github.com/pnuckowski/aioresponses):
its request handling (matching, recording, pass-through) carries the calls, reached through a plain-function patch of
``ClientSession._request``; the simulated hosts are answered from the app after whatever you registered on
``apis.aiohttp`` yourself.

Each transport action becomes what aiohttp raises for it over a socket (checked against the server shell by
``tests/e2e/test_client_exceptions.py``): a hang or a latency past the timeout is ``SocketTimeoutError`` (the
``sock_read`` timeout) or ``TimeoutError`` (the ``total`` one), a reset ``ClientOSError`` (errno 104), an empty
reply ``ServerDisconnectedError``, a body cut short ``ClientPayloadError`` when the body is read. Like aiohttp
against a real server, an idempotent request (GET, HEAD, PUT, DELETE, OPTIONS) that meets a reset or an empty
reply is sent once more before the error reaches you (https://www.rfc-editor.org/rfc/rfc9112.html#name-retrying-requests),
so the journal shows both attempts."""

from __future__ import annotations

import asyncio
import contextvars
import copy
import inspect
import json
from typing import TYPE_CHECKING, Any
from unittest.mock import patch
from urllib.parse import urlencode

import aiohttp
from aiohttp.client import IDEMPOTENT_METHODS
from aiohttp.helpers import TimerNoop
from aiohttp.http_exceptions import ContentLengthError
from aioresponses import aioresponses
from aioresponses.compat import stream_reader_factory
from aioresponses.core import RequestCall
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from rivosim.kernel.transport_action import client_meets
from rivosim.transports.wsgi import add_headers, wsgi_environ

if TYPE_CHECKING:
    from yarl import URL

    from rivosim.transports.inprocess.base import Owner as MockApis
    from rivosim.transports.inprocess.base import SimulatedCall

__all__ = ["AiohttpCarrier", "CompatibleResponse", "SimulatedResponses"]

MAX_KEPT_CALLS = 1000  # aioresponses keeps every call per (method, url); a long run keeps only the latest ones
_SESSION: contextvars.ContextVar[aiohttp.ClientSession | None] = contextvars.ContextVar("rivosim_session",
                                                                                         default=None)
_IMMUTABLE = frozenset((bool, int, float, str, bytes))
_SocketTimeout = getattr(aiohttp, "SocketTimeoutError", aiohttp.ServerTimeoutError)  # aiohttp >= 3.10


def _body(session: Any, kwargs: dict[str, Any], headers: CIMultiDict[str]) -> bytes:
    """The bytes aiohttp would send for ``json=`` / ``data=``, and the Content-Type it would add."""
    if kwargs.get("json") is not None:
        headers.setdefault("Content-Type", "application/json")
        dumps = getattr(session, "_json_serialize", json.dumps)
        return dumps(kwargs["json"]).encode("utf-8")
    data = kwargs.get("data")
    if data is None:
        return b""
    if isinstance(data, bytes | bytearray):
        headers.setdefault("Content-Type", "application/octet-stream")
        return bytes(data)
    if isinstance(data, str):
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return data.encode("utf-8")
    if isinstance(data, dict | list | tuple):
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        return urlencode(list(data.items()) if isinstance(data, dict) else list(data)).encode("utf-8")
    read = getattr(data, "read", None)
    return read() if callable(read) else bytes(data)


def _timeout(session: Any, kwargs: dict[str, Any]) -> tuple[float | None, type[Exception]]:
    """The read timeout that applies, and what aiohttp raises when it runs out (``sock_read``:
    ``SocketTimeoutError``; ``total``: the bare ``TimeoutError``)."""
    timeout = kwargs.get("timeout")
    if not isinstance(timeout, aiohttp.ClientTimeout | int | float):
        timeout = getattr(session, "timeout", None)
    if isinstance(timeout, int | float):
        return float(timeout), TimeoutError
    total = getattr(timeout, "total", None)
    sock_read = getattr(timeout, "sock_read", None)
    if sock_read is not None and (total is None or sock_read <= total):
        return float(sock_read), _SocketTimeout
    return (None if total is None else float(total)), TimeoutError


class _SentWriter:
    """Stands in for the request's stream writer once the request is sent: only its size is read."""

    output_size = 0


_NEEDS_WRITER = "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters


class CompatibleResponse(aiohttp.ClientResponse):
    """``aiohttp.ClientResponse`` as ``aioresponses`` 0.7 builds it, on aiohttp 3.14 too, which added a required
    ``stream_writer`` argument that aioresponses does not pass yet
    (https://github.com/pnuckowski/aioresponses/issues/289). Pass it as ``response_class=`` when you register a
    response on ``apis.aiohttp`` (the default there)."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        if _NEEDS_WRITER:
            kwargs.setdefault("stream_writer", _SentWriter())
        super().__init__(method, url, **kwargs)


class SimulatedResponses(aioresponses):
    """``aioresponses`` that answers the simulated hosts from the simulator when nothing you registered matched.

    It patches ``ClientSession._request`` with a plain function instead of aioresponses' ``autospec`` mock: the
    mock binds every call's arguments to the signature (``inspect``) and keeps every call in its
    ``call_args_list``, which nothing reads here and which grew without bound over a long run (what aioresponses
    records of a call stays in :attr:`requests`, kept to the latest :data:`MAX_KEPT_CALLS`)."""

    def __init__(self, apis: MockApis) -> None:
        super().__init__(passthrough_unmatched=apis.passthrough)
        self.apis = apis
        self.patcher = patch("aiohttp.client.ClientSession._request", new=_requesting(self))

    def add(self, url: Any, method: str = "GET", *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", CompatibleResponse)
        super().add(url, method, *args, **kwargs)

    def _build_request_call(self, method: str = "GET", *args: Any, allow_redirects: bool = True,
                            **kwargs: Any) -> RequestCall:
        """What aioresponses records of a call (:attr:`requests`), as it records it: the arguments deep-copied,
        except a multidict of headers, which is copied as a multidict (its keys and values are strings). Its
        ``copy.deepcopy`` of the session's merged ``CIMultiDict`` went through ``__reduce__`` and cost a quarter of
        every in-process aiohttp call."""
        kwargs.setdefault("allow_redirects", allow_redirects)
        if method == "POST":
            kwargs.setdefault("data", None)
        recorded = {}
        for name, value in kwargs.items():
            if value is None or type(value) in _IMMUTABLE:
                recorded[name] = value
            elif isinstance(value, MultiDict | MultiDictProxy):
                recorded[name] = value.copy()
            else:
                try:
                    recorded[name] = copy.deepcopy(value)
                except (TypeError, ValueError):  # as aioresponses: some values cannot be deep-copied
                    recorded[name] = value
        return RequestCall(args, recorded)

    async def match(self, method: str, url: URL, allow_redirects: bool = True,
                    **kwargs: Any) -> aiohttp.ClientResponse | None:
        calls = self.requests.get((method, url))
        if calls is not None and len(calls) > MAX_KEPT_CALLS:
            del calls[:MAX_KEPT_CALLS // 2]
        built = getattr(self, "_responses", None)  # every response it built, closed at stop(): only the latest
        if built is not None and len(built) > MAX_KEPT_CALLS:
            del built[:MAX_KEPT_CALLS // 2]
        if self._matches:
            found = await super().match(method, url, allow_redirects=allow_redirects, **kwargs)
            if found is not None:
                return found
        if not self.apis.host_pattern.match(str(url)):
            return None
        session = _SESSION.get()
        retry = bool(getattr(session, "_retry_connection", True)) and method.upper() in IDEMPOTENT_METHODS
        while True:
            try:
                return await self._simulate(session, method, url, kwargs)
            except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
                if not retry:
                    raise
                retry = False  # aiohttp sends an idempotent request once more on a dropped connection

    async def _simulate(self, session: Any, method: str, url: URL, kwargs: dict[str, Any]
                        ) -> aiohttp.ClientResponse:
        arrived = await self.apis.arrive_async()  # every concurrent request arrives before the app answers any
        headers: CIMultiDict[str] = CIMultiDict(kwargs.get("headers") or {})
        body = _body(session, kwargs, headers)
        headers.setdefault("Host", url.raw_authority)
        environ = wsgi_environ(method.upper(), url.raw_path or "/", url.raw_query_string, None, body,
                               scheme=url.scheme, host=url.raw_host or "localhost", port=url.explicit_port)
        add_headers(environ, headers.items())
        call = self.apis.call(environ)
        if call.plain:
            return self._response(method, url, kwargs, call, None)
        seconds, timeout_error = _timeout(session, kwargs)
        meets = client_meets(call.action, seconds, len(call.body))
        await self.apis.wait_async(meets.waited, call.shop, since=arrived)  # the rest: the app's time counts
        kind = meets.kind
        if kind in ("timed_out", "hangs_forever"):
            raise (_SocketTimeout("Timeout on reading data from socket") if timeout_error is _SocketTimeout
                   else TimeoutError())
        if kind == "reset":
            raise aiohttp.ClientOSError(104, "Connection reset by peer")
        if kind == "closed":
            raise aiohttp.ServerDisconnectedError()
        error: Exception | None = None
        if kind == "timed_out_in_body":
            error = (_SocketTimeout("Timeout on reading data from socket") if timeout_error is _SocketTimeout
                     else TimeoutError())
        return self._response(method, url, kwargs, call, error)

    def _response(self, method: str, url: URL, kwargs: dict[str, Any], call: SimulatedCall,
                  error: Exception | None) -> aiohttp.ClientResponse:
        body = b"" if method.upper() == "HEAD" else call.body
        declared = call.declared_length()
        if error is None and declared is not None and declared > len(body) and method.upper() != "HEAD":
            short = ContentLengthError("Not enough data to satisfy content length header "
                                       f"(received {len(body)} of {declared} bytes).")
            error = aiohttp.ClientPayloadError(f"Response payload is not completed: {short!r}")
        return _client_response(method.upper(), url, kwargs.get("headers"), call, body, error)


def _client_response(method: str, url: URL, request_headers: Any, call: SimulatedCall, body: bytes,
                     error: Exception | None) -> aiohttp.ClientResponse:
    """The ``ClientResponse`` aiohttp would hand over for ``call``, built as ``aioresponses`` builds its own but on
    the running event loop: aioresponses gives each response a ``unittest.mock.Mock`` loop whose ``get_debug()``
    is true, which costs a ``Mock`` and a captured stack per response, more than the app's own work. Only the
    headers the app sent, as from a real server; a body that ends in ``error`` feeds what arrived, then the error,
    when it is read."""
    loop = asyncio.get_running_loop()
    headers = CIMultiDict(call.headers)
    response = CompatibleResponse(
        method, url, request_info=aiohttp.RequestInfo(
            url=url, method=method, headers=CIMultiDictProxy(CIMultiDict(request_headers or ())), real_url=url),
        writer=None, continue100=None, timer=TimerNoop(), traces=[], loop=loop, session=None)
    for cookie in headers.getall("Set-Cookie", ()):
        response.cookies.load(cookie)
    response._headers = CIMultiDictProxy(headers)
    response._raw_headers = tuple((name.encode("utf-8"), value.encode("utf-8")) for name, value in call.headers)
    response.status = call.status
    response.reason = None
    stream = response.content = stream_reader_factory(loop)
    if error is None:
        stream.feed_data(body)
        stream.feed_eof()
    else:
        if not isinstance(error, TimeoutError | _SocketTimeout):
            stream.feed_data(body)
        stream.set_exception(error)
    return response


def _requesting(mock: SimulatedResponses) -> Any:
    """What ``ClientSession._request`` becomes while ``mock`` runs: aioresponses' ``_request_mock``, with the
    session at hand for :meth:`SimulatedResponses.match` (aioresponses does not pass it on)."""

    async def _request(session: aiohttp.ClientSession, method: str, str_or_url: Any, *args: Any,
                       **kwargs: Any) -> aiohttp.ClientResponse:
        token = _SESSION.set(session)
        try:
            return await mock._request_mock(session, method, str_or_url, *args, **kwargs)
        finally:
            _SESSION.reset(token)

    return _request


class AiohttpCarrier:
    """Starts and stops :class:`SimulatedResponses` for one :class:`MockApis` (``apis.aiohttp`` while it runs)."""

    def __init__(self, apis: MockApis) -> None:
        self.apis = apis

    def start(self) -> None:
        mock = SimulatedResponses(self.apis)
        mock.start()
        self.apis.aiohttp = mock

    def stop(self) -> None:
        mock = self.apis.aiohttp
        if mock is not None:
            mock.stop()
            self.apis.aiohttp = None
