"""Many clients pushing the same content at the same moment."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import ADMIN
from tests.e2e.conftest import MakeRegistry
from tests.e2e.images import OCI_MANIFEST, build_image, push_manifest, sha256

CLIENTS = 16
OCTET_STREAM = "application/octet-stream"


def _upload(client: httpx.Client, repository: str, data: bytes, style: int) -> httpx.Response:
    """One blob upload in one of three styles: monolithic, POST+PUT, or chunked PATCHes."""
    digest = sha256(data)
    if style == 0:
        return client.post(f"/v2/{repository}/blobs/uploads/?digest={digest}", content=data)
    start = client.post(f"/v2/{repository}/blobs/uploads/")
    assert start.status_code == 202, start.text
    location = start.headers["location"]
    if style == 1:
        return client.put(location, params={"digest": digest}, content=data)
    half = len(data) // 2
    for first, last in [(0, half - 1), (half, len(data) - 1)]:
        chunk = client.patch(
            location,
            content=data[first : last + 1],
            headers={
                "Content-Range": f"{first}-{last}",
                "Content-Type": "application/octet-stream",
            },
        )
        assert chunk.status_code == 202, chunk.text
        location = chunk.headers["location"]
    return client.put(location, params={"digest": digest})


@pytest.mark.parametrize("workers", [1, 2])
def test_sixteen_clients_push_the_same_blob_and_manifest(
    make_registry: MakeRegistry, workers: int
) -> None:
    registry = make_registry(workers=workers)
    layer = random.Random(11).randbytes(4 * 1024 * 1024)
    image = build_image([{"data.bin": layer}], arch="amd64")
    blob = image.layers[0]
    barrier = threading.Barrier(CLIENTS, timeout=30)
    repository = "e2e/contended"

    def push(i: int) -> tuple[int, int, str]:
        with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=60) as client:
            barrier.wait()
            uploaded = _upload(client, repository, blob, i % 3)
            config = _upload(client, repository, image.config, i % 3)
            assert config.status_code == 201, config.text
            barrier.wait()
            manifest = push_manifest(client, repository, "latest", image.manifest, OCI_MANIFEST)
            return uploaded.status_code, manifest.status_code, manifest.headers.get("location", "")

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(push, range(CLIENTS)))

    assert [r[0] for r in results] == [201] * CLIENTS
    assert [r[1] for r in results] == [201] * CLIENTS
    assert {r[2] for r in results} == {f"/v2/{repository}/manifests/{image.digest}"}

    # Exactly one stored copy of each blob, and nothing the sixteen uploads left behind.
    assert [blob.digest for blob in registry.stored_blobs()] == sorted(image.blobs)
    assert registry.upload_leftovers() == []

    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=60) as client:
        got = client.get(f"/v2/{repository}/blobs/{sha256(blob)}")
        assert got.status_code == 200
        assert got.content == blob
        manifest = client.get(f"/v2/{repository}/manifests/latest")
        assert manifest.content == image.manifest
        assert client.get(f"/v2/{repository}/tags/list").json()["tags"] == ["latest"]


@pytest.mark.parametrize("workers", [1, 2])
def test_sixteen_clients_push_different_tags_of_shared_layers(
    make_registry: MakeRegistry, workers: int
) -> None:
    registry = make_registry(workers=workers)
    base = {"etc/base.txt": b"shared base\n" * 1000}
    images = [build_image([base, {"app.txt": f"app {i}\n".encode()}]) for i in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS, timeout=30)

    def push(i: int) -> int:
        image = images[i]
        with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=60) as client:
            barrier.wait()
            for data in image.blobs.values():
                assert _upload(client, "e2e/fanout", data, i % 3).status_code == 201
            return push_manifest(client, "e2e/fanout", f"t{i:02d}", image.manifest, OCI_MANIFEST)

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = [r.status_code for r in pool.map(push, range(CLIENTS))]
    assert statuses == [201] * CLIENTS

    distinct = {d for image in images for d in image.blobs}
    assert [blob.digest for blob in registry.stored_blobs()] == sorted(distinct)
    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=60) as client:
        tags = client.get("/v2/e2e/fanout/tags/list").json()["tags"]
        assert tags == [f"t{i:02d}" for i in range(CLIENTS)]
        for i, image in enumerate(images):
            assert client.get(f"/v2/e2e/fanout/manifests/t{i:02d}").content == image.manifest
