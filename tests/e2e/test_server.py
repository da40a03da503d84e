"""The `dockyard serve` process itself: it says where it listens, logs requests, stops cleanly."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import httpx

from tests.conftest import ADMIN
from tests.e2e.conftest import DockyardServer, MakeRegistry
from tests.e2e.images import sha256


def _wait_for_log(server: DockyardServer, pattern: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = server.log()
        if re.search(pattern, log):
            return log
        time.sleep(0.05)
    return server.log()


def test_prints_where_it_listens_and_logs_one_line_per_request(registry: DockyardServer) -> None:
    assert f"listening on {registry.url}" in registry.log()
    assert str(registry.data_dir.resolve()) in registry.log()

    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=10) as client:
        assert client.get("/v2/").status_code == 200
        assert client.get("/v2/e2e/log-check/tags/list").status_code == 404
        assert client.head("/v2/e2e/log-check/manifests/latest?x=1").status_code == 404

    log = _wait_for_log(registry, r'"HEAD /v2/e2e/log-check/manifests/latest\?x=1" 404')
    assert len(re.findall(r'"GET /v2/e2e/log-check/tags/list" 404 ', log)) == 1
    assert len(re.findall(r'"HEAD /v2/e2e/log-check/manifests/latest\?x=1" 404 ', log)) == 1


def test_sigterm_exits_cleanly_and_restart_keeps_data(registry: DockyardServer) -> None:
    blob = b"kept across restarts"
    digest = sha256(blob)
    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=10) as client:
        put = client.post(f"/v2/e2e/restart/blobs/uploads/?digest={digest}", content=blob)
        assert put.status_code == 201, put.text
    old_pid = registry.pid

    registry.restart()

    assert registry.exit_codes == [0]
    assert registry.pid != old_pid
    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=10) as client:
        got = client.get(f"/v2/e2e/restart/blobs/{digest}")
        assert got.status_code == 200
        assert got.content == blob


def _slow_body(chunks: int, delay: float) -> Iterator[bytes]:
    for _ in range(chunks):
        time.sleep(delay)
        yield b"s" * 65536


def test_sigterm_lets_an_in_flight_upload_finish(registry: DockyardServer) -> None:
    chunks = 30
    digest = sha256(b"s" * 65536 * chunks)
    result: dict[str, httpx.Response] = {}

    def upload() -> None:
        result["response"] = httpx.post(
            f"{registry.url}/v2/e2e/draining/blobs/uploads/?digest={digest}",
            content=_slow_body(chunks, 0.05),
            auth=ADMIN,
            timeout=30,
        )

    uploader = threading.Thread(target=upload)
    uploader.start()
    time.sleep(0.5)  # the upload is under way
    assert registry.stop() == 0
    uploader.join(timeout=30)
    assert result["response"].status_code == 201

    registry.start()
    head = httpx.head(f"{registry.url}/v2/e2e/draining/blobs/{digest}", auth=ADMIN)
    assert head.status_code == 200


def test_sigterm_does_not_wait_forever_for_a_stuck_client(make_registry: MakeRegistry) -> None:
    registry = make_registry(env={"DOCKYARD_SERVER__SHUTDOWN_TIMEOUT": "2"})
    digest = sha256(b"never finished")
    errors: list[Exception] = []

    def upload() -> None:
        try:
            httpx.post(
                f"{registry.url}/v2/e2e/stuck/blobs/uploads/?digest={digest}",
                content=_slow_body(600, 0.05),
                auth=ADMIN,
                timeout=60,
            )
        except httpx.TransportError as exc:
            errors.append(exc)

    uploader = threading.Thread(target=upload, daemon=True)
    uploader.start()
    time.sleep(0.5)
    assert registry.stop() == 0  # stop() fails the test unless the server exits in 10 s
    uploader.join(timeout=30)
    assert errors, "the stuck upload should have been cut off"

    registry.start()
    head = httpx.head(f"{registry.url}/v2/e2e/stuck/blobs/{digest}", auth=ADMIN)
    assert head.status_code == 404


def test_two_servers_run_side_by_side(make_registry: MakeRegistry) -> None:
    first, second = make_registry("first"), make_registry("second")
    assert first.port != second.port
    assert first.data_dir != second.data_dir
    for server in (first, second):
        assert httpx.get(f"{server.url}/v2/", auth=ADMIN, timeout=10).json() == {}
