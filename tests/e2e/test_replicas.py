"""Several `dockyard serve` replicas on one PostgreSQL schema and one S3 prefix (DESIGN.md §2,
scale-out): replicas are stateless, so any request may land on any of them, an upload started
on one is finished on another, and a replica dying loses nothing it acknowledged.

Set up as a deployer would: one YAML file for every replica, `dockyard db upgrade` once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN
from tests.e2e.backends import ScaleOut
from tests.e2e.conftest import DockyardServer, Skopeo, free_port
from tests.e2e.fleet import Fleet, MakeFleet, run_dockyard
from tests.e2e.images import (
    OCI_MANIFEST,
    Image,
    Layout,
    build_image,
    push_image,
    sha256,
    simple_image,
)

MiB = 1024 * 1024
FAST_SWEEP = {
    "DOCKYARD_REGISTRY__UPLOAD_EXPIRY_SECONDS": "1",
    "DOCKYARD_REGISTRY__UPLOAD_SWEEP_INTERVAL_SECONDS": "1",
}


def _assert_stored_once(fleet: Fleet, digests: list[str]) -> None:
    """Exactly one stored copy of each blob, every copy on record, no upload leftovers."""
    stored = fleet.backend.stored_blobs()
    assert [blob.digest for blob in stored] == sorted(digests)
    assert stored == fleet.backend.recorded_blobs()
    assert fleet.backend.upload_leftovers() == []


def test_replicas_serve_only_after_db_upgrade(
    new_scale_out: Callable[..., ScaleOut], tmp_path: Path
) -> None:
    config = new_scale_out("fresh").write_config(tmp_path / "scale.yaml")
    serve = ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(free_port())]

    refused = run_dockyard(*serve, "--data-dir", str(tmp_path / "data"))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "run `dockyard db upgrade` with the same --config first" in refused.stderr

    upgraded = run_dockyard("db", "upgrade", "--config", str(config))
    assert upgraded.returncode == 0, upgraded.stderr
    assert run_dockyard("db", "status", "--config", str(config)).returncode == 0


def test_push_through_one_replica_pull_through_another(
    make_fleet: MakeFleet, skopeo: Skopeo, tmp_path: Path
) -> None:
    fleet = make_fleet()
    a, b = fleet.replicas
    skopeo.login(a)
    skopeo.login(b)
    big = random.Random(21).randbytes(7 * MiB + 99)  # a layer of more than one S3 part
    image = simple_image("fleet", extra_layer=big)
    layout = Layout(tmp_path / "source")
    layout.add_image(image, "src")

    skopeo.copy(f"oci:{layout.root}:src", f"docker://{a.address}/fleet/app:v1")
    pulled = tmp_path / "pulled"
    skopeo.copy(f"docker://{b.address}/fleet/app:v1", f"oci:{pulled}:v1")

    back = Layout(pulled)
    assert back.resolve("v1")["digest"] == image.digest
    assert back.blob(image.digest) == image.manifest
    for digest, data in image.blobs.items():
        assert back.blob(digest) == data, f"blob {digest} differs after the round trip"
    with httpx.Client(base_url=b.url, auth=ADMIN, timeout=30) as client:
        got = client.get("/v2/fleet/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert got.content == image.manifest
        assert got.headers["docker-content-digest"] == image.digest
        assert client.get("/v2/fleet/app/tags/list").json()["tags"] == ["v1"]
    _assert_stored_once(fleet, list(image.blobs))


# (replica, bytes) of each PATCH: below and above the 5 MiB part size, so chunks end inside a
# part (the rest waits in the spool) and fill several parts; then the final PUT's own bytes.
CHUNKS = [(0, 3 * MiB + 11), (1, 6 * MiB + 5), (0, MiB), (1, 11 * MiB + 3), (0, 700 * 1024)]
FINAL = (1, 2 * MiB + 7)


def _abandon_upload(started_on: httpx.Client, sent_to: httpx.Client, repository: str) -> str:
    """An upload with a chunk of more than one S3 part (a multipart upload plus a spool)."""
    start = started_on.post(f"/v2/{repository}/blobs/uploads/")
    assert start.status_code == 202, start.text
    chunk = sent_to.patch(start.headers["location"], content=b"a" * (6 * MiB))
    assert chunk.status_code == 202, chunk.text
    return str(chunk.headers["location"])


def test_chunked_upload_moves_between_replicas(make_fleet: MakeFleet) -> None:
    fleet = make_fleet()
    sizes = [size for _, size in [*CHUNKS, FINAL]]
    data = random.Random(5).randbytes(sum(sizes))
    digest = sha256(data)
    repository = "fleet/chunked"
    clients = [httpx.Client(base_url=r.url, auth=ADMIN, timeout=60) for r in fleet.replicas]
    try:
        # Cancelled on another replica than the one that took its bytes: nothing stays behind
        # (checked at the end with the rest).
        cancelled = _abandon_upload(clients[0], clients[1], repository)
        assert any(k.startswith("multipart:") for k in fleet.backend.upload_leftovers())
        assert clients[0].delete(cancelled).status_code == 204
        assert clients[1].get(cancelled).status_code == 404

        start = clients[0].post(f"/v2/{repository}/blobs/uploads/")
        assert start.status_code == 202, start.text
        location = start.headers["location"]
        offset = 0
        for replica, size in CHUNKS:
            chunk = clients[replica].patch(
                location,
                content=data[offset : offset + size],
                headers={
                    "Content-Range": f"{offset}-{offset + size - 1}",
                    "Content-Type": "application/octet-stream",
                },
            )
            assert chunk.status_code == 202, chunk.text
            offset += size
            assert chunk.headers["range"] == f"0-{offset - 1}"
            location = chunk.headers["location"]
            # The other replica knows where the upload stands, and refuses a chunk that
            # does not continue it without harming it.
            other = clients[1 - replica]
            status = other.get(location)
            assert status.status_code == 204
            assert status.headers["range"] == f"0-{offset - 1}"
            stale = other.patch(location, content=b"x", headers={"Content-Range": "0-0"})
            assert stale.status_code == 416, stale.text
            assert stale.headers["range"] == f"0-{offset - 1}"

        replica, size = FINAL
        done = clients[replica].put(
            location,
            params={"digest": digest},
            content=data[offset:],
            headers={"Content-Range": f"{offset}-{offset + size - 1}"},
        )
        assert done.status_code == 201, done.text
        assert done.headers["docker-content-digest"] == digest

        for client in clients:
            got = client.get(f"/v2/{repository}/blobs/{digest}")
            assert got.status_code == 200
            assert got.content == data
            # A slice across the end of the first part (and of the second PATCH).
            first, last = 5 * MiB - 10, 9 * MiB + 20
            part = client.get(
                f"/v2/{repository}/blobs/{digest}", headers={"Range": f"bytes={first}-{last}"}
            )
            assert part.status_code == 206
            assert part.content == data[first : last + 1]
            assert client.get(location).status_code == 404  # the upload is over everywhere
    finally:
        for client in clients:
            client.close()
    _assert_stored_once(fleet, [digest])


def _upload_across(
    here: httpx.Client, there: httpx.Client, repository: str, data: bytes, style: int
) -> httpx.Response:
    """One blob upload: monolithic on `here`, or started on `here` and continued on `there`."""
    digest = sha256(data)
    if style == 0:
        return here.post(f"/v2/{repository}/blobs/uploads/?digest={digest}", content=data)
    start = here.post(f"/v2/{repository}/blobs/uploads/")
    start.raise_for_status()
    location = start.headers["location"]
    if style == 1:
        return there.put(location, params={"digest": digest}, content=data)
    half = len(data) // 2
    chunk = there.patch(location, content=data[:half], headers={"Content-Range": f"0-{half - 1}"})
    chunk.raise_for_status()
    return here.put(chunk.headers["location"], params={"digest": digest}, content=data[half:])


CONCURRENT = 8


def test_concurrent_pushes_of_one_image_to_different_replicas(make_fleet: MakeFleet) -> None:
    fleet = make_fleet()
    rng = random.Random(8)
    image = build_image([{"big.bin": rng.randbytes(6 * MiB)}, {"small.txt": b"small\n" * 99}])
    repository = "fleet/contended"
    barrier = threading.Barrier(CONCURRENT, timeout=60)

    def push(i: int) -> tuple[list[int], int, str]:
        here, there = fleet.replicas[i % 2], fleet.replicas[(i + 1) % 2]
        with (
            httpx.Client(base_url=here.url, auth=ADMIN, timeout=60) as near,
            httpx.Client(base_url=there.url, auth=ADMIN, timeout=60) as far,
        ):
            barrier.wait()
            blobs = [
                _upload_across(near, far, repository, data, i % 3).status_code
                for data in image.blobs.values()
            ]
            barrier.wait()
            manifest = far.put(
                f"/v2/{repository}/manifests/latest",
                content=image.manifest,
                headers={"Content-Type": OCI_MANIFEST},
            )
            return blobs, manifest.status_code, manifest.headers.get("location", "")

    with ThreadPoolExecutor(CONCURRENT) as pool:
        results = list(pool.map(push, range(CONCURRENT)))

    assert [r[0] for r in results] == [[201] * len(image.blobs)] * CONCURRENT
    assert [r[1] for r in results] == [201] * CONCURRENT
    assert {r[2] for r in results} == {f"/v2/{repository}/manifests/{image.digest}"}
    _assert_stored_once(fleet, list(image.blobs))
    for replica in fleet.replicas:
        with httpx.Client(base_url=replica.url, auth=ADMIN, timeout=60) as client:
            assert client.get(f"/v2/{repository}/manifests/latest").content == image.manifest
            for digest, data in image.blobs.items():
                assert client.get(f"/v2/{repository}/blobs/{digest}").content == data
            assert client.get(f"/v2/{repository}/tags/list").json()["tags"] == ["latest"]


# -- a replica dies -------------------------------------------------------------------------

PUSHERS = 4
SHARED_BASE = {"etc/base.txt": b"a base layer every image shares\n" * 2000}


@dataclass(frozen=True)
class Acknowledged:
    repository: str
    tag: str
    image: Image
    replica: str  # the URL of the replica that answered 201 to the manifest


def _image(rng: random.Random, n: int) -> Image:
    # Now and then a layer of more than one S3 part, so a kill can leave a multipart upload.
    size = rng.randrange(6 * MiB, 12 * MiB) if rng.random() < 0.3 else rng.randrange(1, 200_000)
    return build_image([SHARED_BASE, {f"app/{n}.bin": rng.randbytes(size)}], n=str(n))


class FleetPushers:
    """Threads pushing distinct images, each upload and manifest spread over both replicas,
    until a replica goes away; records every acknowledged manifest."""

    def __init__(self, replicas: list[DockyardServer]) -> None:
        self.replicas = replicas
        self.acknowledged: list[Acknowledged] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(PUSHERS)
        ]

    def __enter__(self) -> FleetPushers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), "a pusher thread did not stop"

    def acknowledged_by(self, replica: DockyardServer) -> int:
        with self._lock:
            return sum(ack.replica == replica.url for ack in self.acknowledged)

    def _run(self, worker: int) -> None:
        rng = random.Random(f"fleet-{worker}")
        repository = f"fleet/w{worker}"
        clients = [httpx.Client(base_url=r.url, auth=ADMIN, timeout=30) for r in self.replicas]
        try:
            for n in range(10_000):
                if self._stop.is_set():
                    return
                if not self._push(rng, clients, repository, worker * 10_000 + n):
                    return
        finally:
            for client in clients:
                client.close()

    def _push(
        self, rng: random.Random, clients: list[httpx.Client], repository: str, n: int
    ) -> bool:
        image = _image(rng, n)
        tag = f"n{n}"
        near, far = rng.sample(clients, 2)
        try:
            for data in image.blobs.values():
                _upload_across(near, far, repository, data, rng.randrange(3)).raise_for_status()
            response = far.put(
                f"/v2/{repository}/manifests/{tag}",
                content=image.manifest,
                headers={"Content-Type": OCI_MANIFEST},
            )
        except httpx.TransportError:
            return False  # a replica is gone: what was acknowledged is what counts
        except httpx.HTTPStatusError as exc:
            with self._lock:
                self.errors.append(f"{exc.request.method} {exc.request.url}: {exc}")
            return False
        with self._lock:
            if response.status_code != 201:
                self.errors.append(f"manifest push: {response.status_code} {response.text}")
                return False
            self.acknowledged.append(Acknowledged(repository, tag, image, str(far.base_url)))
        return True


def _verify(server: DockyardServer, fleet: Fleet, acknowledged: list[Acknowledged]) -> None:
    """Every acknowledged image is there, blobs re-hashed; everything metadata makes visible
    reads back with the right digest."""
    with httpx.Client(base_url=server.url, auth=ADMIN, timeout=30) as client:
        for ack in acknowledged:
            manifest = client.get(
                f"/v2/{ack.repository}/manifests/{ack.tag}", headers={"Accept": OCI_MANIFEST}
            )
            assert manifest.status_code == 200, f"{ack.repository}:{ack.tag} was lost"
            assert manifest.content == ack.image.manifest
            assert manifest.headers["docker-content-digest"] == ack.image.digest
            for digest, data in ack.image.blobs.items():
                blob = client.get(f"/v2/{ack.repository}/blobs/{digest}")
                assert blob.status_code == 200, f"{digest} of {ack.repository}:{ack.tag} is lost"
                assert sha256(blob.content) == digest
                assert blob.content == data

        blobs, manifests = fleet.backend.visible()
        for repository, digest in blobs:
            blob = client.get(f"/v2/{repository}/blobs/{digest}")
            assert blob.status_code == 200, f"{repository}@{digest} is linked but unreadable"
            assert sha256(blob.content) == digest, f"{repository}@{digest} has wrong content"
        for repository, digest in manifests:
            manifest = client.get(f"/v2/{repository}/manifests/{digest}")
            assert manifest.status_code == 200
            assert sha256(manifest.content) == digest


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_acknowledged_pushes_survive_a_replica_killed_mid_push(make_fleet: MakeFleet) -> None:
    fleet = make_fleet()
    doomed, survivor = fleet.replicas
    with (
        httpx.Client(base_url=doomed.url, auth=ADMIN, timeout=60) as near,
        httpx.Client(base_url=survivor.url, auth=ADMIN, timeout=60) as far,
    ):
        _abandon_upload(near, far, "fleet/abandoned")  # the sweep must clear it later
    with FleetPushers(fleet.replicas) as pushers:
        _wait_for(
            lambda: (
                bool(pushers.errors)
                or (pushers.acknowledged_by(doomed) >= 2 and pushers.acknowledged_by(survivor) >= 2)
            ),
            timeout=120,
            what="pushes acknowledged by both replicas",
        )
        time.sleep(random.uniform(0.0, 1.0))  # somewhere in the middle of the next pushes
        doomed.kill()
    assert not pushers.errors, pushers.errors
    acknowledged = pushers.acknowledged

    fleet.backend.check_integrity()
    _verify(survivor, fleet, acknowledged)

    # Back up (sweeping fast now): it serves everything too, and the fleet clears away what
    # the kill left half-done, multipart uploads included.
    doomed.extra_env.update(FAST_SWEEP)
    doomed.start()
    _verify(doomed, fleet, acknowledged)
    _wait_for(lambda: not fleet.backend.upload_leftovers(), 30, "the upload sweep")
    assert fleet.backend.stored_blobs() == fleet.backend.recorded_blobs()
    fleet.backend.check_integrity()


# -- scanning is shared between replicas -------------------------------------------------------

SCANNED_IMAGES = 10


def test_replicas_share_the_scan_queue_and_never_scan_an_image_twice(
    make_fleet: MakeFleet,
) -> None:
    """Every replica scans (the queue's rows are leased one at a time), so a backlog of
    requested scans is worked off by all of them, each image exactly once."""
    fleet = make_fleet(
        env={
            "DOCKYARD_EXTENSIONS__SCANNING__SCAN_ON_PUSH": "false",
            "DOCKYARD_EXTENSIONS__SCANNING__POLL_SECONDS": "0.1",
        }
    )
    a, b = fleet.replicas
    rng = random.Random(12)
    # Incompressible layers: each scan reads a few MiB from S3, long enough for the other
    # replica to claim the next row meanwhile.
    images = [
        build_image([{f"opt/{n}.bin": rng.randbytes(6 * MiB)}], n=str(n))
        for n in range(SCANNED_IMAGES)
    ]
    with httpx.Client(base_url=a.url, auth=ADMIN, timeout=60) as client:
        for n, image in enumerate(images):
            push_image(client, f"fleet/scan{n}", image, "latest")
        for n in range(SCANNED_IMAGES):  # the backlog: every scan requested at once
            asked = client.post(f"/api/v1/repositories/fleet/scan{n}/artifacts/latest/scan")
            assert asked.status_code == 202, asked.text
        deadline = time.monotonic() + 120
        for n in range(SCANNED_IMAGES):
            url = f"/api/v1/repositories/fleet/scan{n}/artifacts/latest/vulnerabilities"
            while (state := client.get(url).json()["status"]["state"]) != "done":
                assert state in ("queued", "running"), state
                assert time.monotonic() < deadline, f"fleet/scan{n} was not scanned"
                time.sleep(0.2)

    scanned = {
        r.url: [ln for ln in r.log().splitlines() if "scanned fleet/scan" in ln] for r in (a, b)
    }
    assert all(scanned.values()), f"a replica scanned nothing: {scanned}"
    lines = [line for found in scanned.values() for line in found]
    assert len(lines) == SCANNED_IMAGES, lines  # no image scanned twice
