"""SIGKILL in the middle of pushes: whatever was acknowledged survives, nothing visible is wrong."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import ADMIN
from tests.e2e.conftest import DockyardServer, MakeRegistry
from tests.e2e.images import OCI_MANIFEST, Image, build_image, sha256

ROUNDS = 3
PUSHERS = 3
SHARED_BASE = {"etc/base.txt": b"a base layer every image shares\n" * 2000}


@dataclass(frozen=True)
class Acknowledged:
    repository: str
    tag: str
    image: Image


def _image(rng: random.Random, n: int) -> Image:
    layers = [SHARED_BASE, {f"app/{n}.bin": rng.randbytes(rng.randrange(1, 200_000))}]
    if rng.random() < 0.5:
        layers.append({f"extra/{n}.txt": f"extra {n}\n".encode() * rng.randrange(1, 5000)})
    return build_image(layers, arch=rng.choice(["amd64", "arm64"]), n=str(n))


def _upload(client: httpx.Client, repository: str, data: bytes, rng: random.Random) -> None:
    digest = sha256(data)
    if rng.random() < 0.5:
        response = client.post(f"/v2/{repository}/blobs/uploads/?digest={digest}", content=data)
    else:
        start = client.post(f"/v2/{repository}/blobs/uploads/")
        start.raise_for_status()
        location = start.headers["location"]
        half = len(data) // 2
        if half:
            chunk = client.patch(
                location, content=data[:half], headers={"Content-Range": f"0-{half - 1}"}
            )
            chunk.raise_for_status()
            location = chunk.headers["location"]
        response = client.put(location, params={"digest": digest}, content=data[half:])
    response.raise_for_status()


class Pushers:
    """Threads pushing distinct images until the server goes away; records every 201."""

    def __init__(self, server: DockyardServer, round_no: int) -> None:
        self.server = server
        self.round_no = round_no
        self.acknowledged: list[Acknowledged] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(PUSHERS)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), "a pusher thread did not stop"

    def _run(self, worker: int) -> None:
        rng = random.Random(f"{self.round_no}-{worker}")
        repository = f"crash/r{self.round_no}-w{worker}"
        with httpx.Client(base_url=self.server.url, auth=ADMIN, timeout=30) as client:
            for n in range(10_000):
                if self._stop.is_set():
                    return
                image = _image(rng, self.round_no * 100_000 + worker * 10_000 + n)
                tag = f"n{n}"
                try:
                    for data in image.blobs.values():
                        _upload(client, repository, data, rng)
                    response = client.put(
                        f"/v2/{repository}/manifests/{tag}",
                        content=image.manifest,
                        headers={"Content-Type": OCI_MANIFEST},
                    )
                except httpx.TransportError:
                    return  # the server is gone: what it acknowledged is what counts
                except httpx.HTTPStatusError as exc:
                    with self._lock:
                        self.errors.append(f"{exc.request.method} {exc.request.url}: {exc}")
                    return
                if response.status_code == 201:
                    with self._lock:
                        self.acknowledged.append(Acknowledged(repository, tag, image))
                elif response.status_code >= 400:
                    with self._lock:
                        self.errors.append(f"manifest push: {response.status_code} {response.text}")
                    return


def _verify(server: DockyardServer, acknowledged: list[Acknowledged]) -> None:
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

        blobs, manifests = server.backend.visible()
        for repository, digest in blobs:
            blob = client.get(f"/v2/{repository}/blobs/{digest}")
            assert blob.status_code == 200, f"{repository}@{digest} is linked but unreadable"
            assert sha256(blob.content) == digest, f"{repository}@{digest} has wrong content"
        for repository, digest in manifests:
            manifest = client.get(f"/v2/{repository}/manifests/{digest}")
            assert manifest.status_code == 200
            assert sha256(manifest.content) == digest


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_acknowledged_pushes_survive_sigkill(make_registry: MakeRegistry, workers: int) -> None:
    registry = make_registry(workers=workers)
    rng = random.Random()
    acknowledged: list[Acknowledged] = []
    for round_no in range(ROUNDS):
        pushers = Pushers(registry, round_no)
        pushers.start()
        # Kill 1-3 s into the pushes, but never before one was acknowledged: on a busy machine
        # (or the slower scale-out shape) the first push can take longer than that.
        deadline = time.monotonic() + rng.uniform(1.0, 3.0)
        give_up = time.monotonic() + 60
        while not pushers.errors and time.monotonic() < give_up:
            if time.monotonic() >= deadline and pushers.acknowledged:
                break
            time.sleep(0.05)
        registry.kill()
        pushers.stop()
        assert not pushers.errors, pushers.errors
        assert pushers.acknowledged, "no push completed before the kill; nothing was tested"
        acknowledged += pushers.acknowledged

        registry.backend.check_integrity()
        registry.start()
        _verify(registry, acknowledged)
        registry.backend.check_integrity()

    # What the kills left half-done is garbage the upload sweep clears away.
    registry.stop()
    registry.extra_env.update(
        {
            "DOCKYARD_REGISTRY__UPLOAD_EXPIRY_SECONDS": "1",
            "DOCKYARD_REGISTRY__UPLOAD_SWEEP_INTERVAL_SECONDS": "1",
        }
    )
    registry.start()
    deadline = time.monotonic() + 20
    while registry.upload_leftovers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert registry.upload_leftovers() == []
    _verify(registry, acknowledged)
