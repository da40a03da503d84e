"""Requests per second with N keep-alive connections: `wrk` when installed, else a fallback.

wrk (C, epoll) saturates either server on this kind of machine while using little CPU; the
fallback is a raw-socket asyncio client spread over one process per core, which costs more CPU
per request, so figures from the two tools are not comparable with each other (the tool used is
recorded next to every figure, and both servers are always measured with the same one).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit


@dataclass
class Load:
    tool: str
    requests: int
    seconds: float
    rps: float
    errors: int  # non-2xx answers plus socket errors
    latency_avg_ms: float | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def tool(choice: str = "auto") -> str:
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    return choice


def run(
    url: str,
    connections: int,
    seconds: float,
    headers: dict[str, str],
    threads: int,
    choice: str = "auto",
) -> Load:
    if tool(choice) == "wrk":
        return _wrk(url, connections, seconds, headers, threads)
    return _python(url, connections, seconds, headers, threads)


def _wrk(url: str, connections: int, seconds: float, headers: dict[str, str], threads: int) -> Load:
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    requests = int(_find(r"(\d+) requests in", out))
    errors = int(_find(r"Non-2xx or 3xx responses: (\d+)", out, "0"))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return Load(
        tool="wrk",
        requests=requests,
        seconds=seconds,
        rps=float(_find(r"Requests/sec:\s+([\d.]+)", out)),
        errors=errors,
        latency_avg_ms=_latency_ms(_find(r"Latency\s+([\d.]+\w+)", out)),
    )


def _find(pattern: str, text: str, default: str | None = None) -> str:
    match = re.search(pattern, text)
    if match:
        return match.group(1)
    if default is None:
        raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{text}")
    return default


def _latency_ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


# -- fallback ------------------------------------------------------------------------------


def _python(
    url: str, connections: int, seconds: float, headers: dict[str, str], processes: int
) -> Load:
    processes = max(1, min(processes, connections))
    shares = [connections // processes + (i < connections % processes) for i in range(processes)]
    with ProcessPoolExecutor(processes) as pool:
        results = list(
            pool.map(
                _process_main,
                [url] * processes,
                shares,
                [seconds] * processes,
                [headers] * processes,
            )
        )
    requests = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    elapsed = max(r[2] for r in results)
    latency = sum(r[3] for r in results) / requests * 1000 if requests else None
    return Load("python", requests, elapsed, requests / elapsed, errors, latency)


def _process_main(
    url: str, connections: int, seconds: float, headers: dict[str, str]
) -> tuple[int, int, float, float]:
    return asyncio.run(_drive(url, connections, seconds, headers))


async def _drive(
    url: str, connections: int, seconds: float, headers: dict[str, str]
) -> tuple[int, int, float, float]:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    started = time.perf_counter()
    deadline = started + seconds
    totals = await asyncio.gather(
        *(
            _connection(parts.hostname or "", parts.port or 80, request, deadline)
            for _ in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    return (
        sum(t[0] for t in totals),
        sum(t[1] for t in totals),
        elapsed,
        sum(t[2] for t in totals),
    )


async def _connection(
    host: str, port: int, request: bytes, deadline: float
) -> tuple[int, int, float]:
    reader, writer = await asyncio.open_connection(host, port)
    done = errors = 0
    busy = 0.0
    try:
        while (now := time.perf_counter()) < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            await reader.readexactly(int(match.group(1)) if match else 0)
            busy += time.perf_counter() - now
            done += 1
            errors += not head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2"))
    finally:
        writer.close()
    return done, errors, busy


def cores() -> int:
    return os.cpu_count() or 1
