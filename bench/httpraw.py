"""A minimal HTTP/1.1 client over a raw socket, so the client is never the bottleneck.

Uploads go out with `socket.sendfile` (zero-copy from the page cache); downloads land with
`recv_into` in one reused buffer and are thrown away. Each call opens its own connection.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_RECV = 4 << 20


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    received: int = 0  # body bytes when the body was discarded
    seconds: float = 0.0  # from the first byte sent to the last byte received


class HttpError(RuntimeError):
    pass


def _connect(url: str) -> tuple[socket.socket, str, str]:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port or 80))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return sock, target, f"{parts.hostname}:{parts.port}"


def _read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise HttpError("connection closed before the response head")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def _read_chunked(sock: socket.socket, rest: bytes) -> bytes:
    data = rest
    while not data.endswith(b"0\r\n\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    body, pos = bytearray(), 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return bytes(body)
        body += data[end + 2 : end + 2 + size]
        pos = end + 4 + size


def request(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    body_file: str | None = None,
    discard_body: bool = False,
) -> Reply:
    """One request on a fresh connection; the body comes from bytes or (zero-copy) a file."""
    sock, target, host = _connect(url)
    try:
        length = os.path.getsize(body_file) if body_file else len(body or b"")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body_file is not None or body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {length}")
        started = time.perf_counter()
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if body_file is not None:
            with open(body_file, "rb") as f:
                sock.sendfile(f)
        elif body:
            sock.sendall(body)
        status, reply_headers, rest = _read_head(sock)
        reply = Reply(status, reply_headers)
        if method == "HEAD":
            pass
        elif reply_headers.get("transfer-encoding", "").lower() == "chunked":
            reply.body = _read_chunked(sock, rest)
        elif discard_body:
            reply.received = _discard(sock, rest, reply_headers)
        else:
            reply.body = _read_all(sock, rest, reply_headers)
        reply.seconds = time.perf_counter() - started
        return reply
    finally:
        sock.close()


def _read_all(sock: socket.socket, rest: bytes, headers: dict[str, str]) -> bytes:
    want = int(headers.get("content-length", -1))
    data = bytearray(rest)
    while want < 0 or len(data) < want:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _discard(sock: socket.socket, rest: bytes, headers: dict[str, str]) -> int:
    want = int(headers.get("content-length", -1))
    buffer = memoryview(bytearray(_RECV))
    got = len(rest)
    while want < 0 or got < want:
        n = sock.recv_into(buffer)
        if n == 0:
            break
        got += n
    return got


def expect(reply: Reply, *statuses: int, what: str) -> Reply:
    if reply.status not in statuses:
        raise HttpError(f"{what}: HTTP {reply.status} {reply.body[:300]!r}")
    return reply
