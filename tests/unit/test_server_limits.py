"""The server shell's limits as a hostile or careless client meets them: timeouts, connection and size caps,
header hygiene, error shapes per API, and TLS. Every server binds 127.0.0.1 with short limits set here."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from rivosim.transports.server import Server

T = 5.0


def echo_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    headers = {k: v for k, v in environ.items() if k.startswith("HTTP_") or k.startswith("CONTENT_")}
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"headers": headers, "body_len": len(body), "path": environ["PATH_INFO"],
                        "scheme": environ["wsgi.url_scheme"]}).encode()]


def serve(**limits: Any) -> Server:
    return Server(echo_app, **limits)


def connect(s: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", s.port), timeout=T)


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (a bounded wait)."""
    out = bytearray()
    deadline = time.monotonic() + T
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


def status_and_body(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body) if body else {}


def get(s: Server, path: str = "/", **kwargs: Any) -> requests.Response:
    return requests.get(s.url + path, timeout=T, **kwargs)


def test_a_40000_header_request_gets_431_while_another_connection_is_answered_at_once() -> None:
    with serve() as s:
        bomb = b"GET /merchant_api/v1/customers HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 40_000 + b"\r\n"
        with connect(s) as sock:
            sender = threading.Thread(target=lambda: sock.sendall(bomb), daemon=True)
            sender.start()
            started = time.monotonic()
            assert get(s, "/ok").status_code == 200
            assert time.monotonic() - started < 0.2
            status, body = status_and_body(read_all(sock))
        assert status == 431
        assert "100 request headers" in body["errors"][0]["detail"]


def test_header_bytes_over_the_cap_get_431_and_a_long_url_414() -> None:
    with serve(max_header_bytes=4096, max_url_bytes=1024) as s:
        assert get(s, headers={"X-Big": "v" * 5000}).status_code == 431
        r = get(s, "/admin/api/2024-01/shop.json?q=" + "a" * 2000)
        assert r.status_code == 414
        assert isinstance(r.json()["errors"], str)  # Shopify's shape for a Shopify path
        assert get(s, "/ok?q=" + "a" * 500).status_code == 200


def test_a_slowloris_connection_is_closed_by_the_header_timeout() -> None:
    with serve(header_timeout=0.3) as s, connect(s) as sock:
        sock.sendall(b"GET /_rivosim/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        started = time.monotonic()
        raw = read_all(sock)
        assert time.monotonic() - started < 3
        status, body = status_and_body(raw)
        assert status == 408
        assert body["error"]["code"] == "request_timeout"  # the control API's shape for a control path


def test_an_idle_keepalive_connection_is_closed() -> None:
    with serve(keepalive_timeout=0.3) as s, connect(s) as sock:
        sock.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert read_all(sock) == b""  # closed without a word, as servers close idle connections
        assert time.monotonic() - started < 3
        assert s.connection_count == 0


def test_an_unfinished_body_is_dropped_and_its_buffer_freed() -> None:
    with serve(body_timeout=0.4) as s, connect(s) as sock:
        sock.sendall(b"POST /merchant_api/v1/points_events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                     + b"x" * 60_000)
        deadline = time.monotonic() + T
        while s.buffered_bytes < 60_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert s.buffered_bytes == 60_000
        status, _ = status_and_body(read_all(sock))
        assert status == 408
        assert s.buffered_bytes == 0


def test_connection_past_the_cap_gets_503_while_connection_one_is_still_served() -> None:
    with serve(max_connections=2) as s, connect(s) as one, connect(s) as _two:
        time.sleep(0.1)
        with connect(s) as three:
            raw = read_all(three)
        assert raw.startswith(b"HTTP/1.1 503")
        assert b"Connection: close" in raw
        one.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        assert one.recv(65536).startswith(b"HTTP/1.1 200")


def test_bodies_over_the_body_cap_get_413_and_over_the_buffered_cap_503() -> None:
    with serve(max_body_bytes=1000, max_buffered_bytes=50_000) as s:
        assert requests.post(s.url + "/p", data=b"x" * 1001, timeout=T).status_code == 413
        assert requests.post(s.url + "/p", data=b"x" * 1000, timeout=T).status_code == 200
    with serve(max_buffered_bytes=50_000) as s, connect(s) as holder:
        holder.sendall(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\n\r\n" + b"x" * 30_000)
        time.sleep(0.1)
        r = requests.post(s.url + "/merchant_api/v1/points_events", data=b"y" * 30_000, timeout=T)
        assert r.status_code == 503 and r.json()["errors"][0]["status"] == "503"
        holder.sendall(b"x" * 10_000)
        assert holder.recv(65536).startswith(b"HTTP/1.1 200")


def test_repeated_headers_are_joined_and_underscore_names_dropped() -> None:
    with serve() as s, connect(s) as sock:
        sock.sendall(b"POST /p HTTP/1.1\r\nHost: x\r\nX-Tag: a\r\nX-Tag: b\r\nX-Tag: c\r\nContent_Length: abc\r\n"
                     b"X_Api_Key: forged\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
        status, body = status_and_body(read_all(sock))
    assert status == 200
    assert body["headers"]["HTTP_X_TAG"] == "a,b,c"
    assert body["headers"]["CONTENT_LENGTH"] == "2" and "HTTP_X_API_KEY" not in body["headers"]
    assert body["body_len"] == 2


def test_limits_are_refused_when_not_positive() -> None:
    with pytest.raises(ValueError, match="header_timeout"):
        Server(echo_app, header_timeout=0)
    with pytest.raises(TypeError, match="max_headerz"):
        Server(echo_app, max_headerz=5)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_round_trip_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    with Server(echo_app, certfile=str(cert), keyfile=str(key)) as s:
        assert s.url.startswith("https://")
        r = requests.get(s.url + "/tls", verify=str(cert), timeout=T)
        assert r.status_code == 200 and r.json()["scheme"] == "https"
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(s.url + "/tls", timeout=T)  # not trusted without the certificate
        with pytest.raises((requests.exceptions.ConnectionError, ssl.SSLError)):
            requests.get(s.url.replace("https", "http") + "/plain", timeout=T)


def big_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [b"x" * 1_000_000]


def test_a_client_that_never_reads_its_answers_is_dropped() -> None:
    with Server(big_app, body_timeout=0.5) as s, connect(s) as sock:
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n" * 50)  # 50 MB of answers it will never read
        deadline = time.monotonic() + T
        while s.connection_count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert s.connection_count == 0
