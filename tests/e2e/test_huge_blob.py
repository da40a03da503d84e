"""A 6 GiB blob through two scale-out replicas: 512 MiB PATCHes alternating between them, pulled
back and hashed as it streams; neither worker's memory grows with the blob."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ADMIN
from tests.e2e.fleet import MakeFleet
from tests.e2e.rss import MAX_GROWTH, RssSampler, rss

MiB = 1024 * 1024

BIG = 6 * 1024**3
PATCH = 512 * MiB
BLOCK = MiB
_BASE = hashlib.shake_256(b"dockyard e2e six gib").digest(BLOCK)


def _block(i: int) -> bytes:
    """Deterministic, incompressible-enough data: a fixed random block stamped with its index."""
    return i.to_bytes(8, "big") + _BASE[8:]


def _blocks(first: int, count: int, hasher: hashlib._Hash) -> Iterator[bytes]:
    for i in range(first, first + count):
        block = _block(i)
        hasher.update(block)
        yield block


def _upload_in_patches(
    clients: list[httpx.Client], repository: str, blocks: int, per_patch: int
) -> str:
    """Upload `blocks` generated blocks in PATCHes of `per_patch` blocks, alternating replicas
    (POST on the first, final PUT on the second); returns the digest."""
    sent = hashlib.sha256()
    start = clients[0].post(f"/v2/{repository}/blobs/uploads/")
    assert start.status_code == 202, start.text
    location = start.headers["location"]
    for n, first_block in enumerate(range(0, blocks, per_patch)):
        count = min(per_patch, blocks - first_block)
        first, last = first_block * BLOCK, (first_block + count) * BLOCK - 1
        chunk = clients[n % 2].patch(
            location,
            content=_blocks(first_block, count, sent),
            headers={
                "Content-Range": f"{first}-{last}",
                "Content-Length": str(last - first + 1),
                "Content-Type": "application/octet-stream",
            },
        )
        assert chunk.status_code == 202, chunk.text
        assert chunk.headers["range"] == f"0-{last}"
        location = chunk.headers["location"]
    digest = "sha256:" + sent.hexdigest()
    done = clients[1].put(location, params={"digest": digest})
    assert done.status_code == 201, done.text
    assert done.headers["docker-content-digest"] == digest
    return digest


def _download(client: httpx.Client, repository: str, digest: str, size: int) -> None:
    """Stream the blob back, hashing as it comes."""
    received, hasher = 0, hashlib.sha256()
    with client.stream("GET", f"/v2/{repository}/blobs/{digest}") as response:
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == size
        for data in response.iter_bytes(BLOCK):
            hasher.update(data)
            received += len(data)
    assert received == size
    assert "sha256:" + hasher.hexdigest() == digest


@pytest.mark.slow
def test_six_gib_blob_in_512_mib_chunks_across_replicas(make_fleet: MakeFleet) -> None:
    fleet = make_fleet(part_size_mib=16)  # the default part size: 32 parts a PATCH
    workers = [worker for replica in fleet.replicas for worker in replica.workers()]
    clients = [httpx.Client(base_url=r.url, auth=ADMIN, timeout=300) for r in fleet.replicas]
    repository = "fleet/huge"
    try:
        for _ in range(3):  # warm up: imports, connection pools, buffers, allocator arenas
            warm = _upload_in_patches(clients, "fleet/warmup", 128, 64)  # a PATCH per replica
            _download(clients[0], "fleet/warmup", warm, 128 * BLOCK)
        baselines = [rss(worker) for worker in workers]
        with contextlib.ExitStack() as stack:
            samplers = [stack.enter_context(RssSampler(worker)) for worker in workers]
            digest = _upload_in_patches(clients, repository, BIG // BLOCK, PATCH // BLOCK)
            _download(clients[0], repository, digest, BIG)
        for sampler, baseline in zip(samplers, baselines, strict=True):
            assert sampler.samples > 10
            growth = sampler.peak - baseline
            print(f"worker {sampler.pid}: RSS {baseline >> 20} MiB, peak {sampler.peak >> 20} MiB")
            assert growth < MAX_GROWTH, (
                f"worker {sampler.pid} RSS grew by {growth / MiB:.0f} MiB "
                f"(baseline {baseline / MiB:.0f} MiB, peak {sampler.peak / MiB:.0f} MiB)"
            )

        # Where the first PATCH meets the second, from the replica that took the second.
        seam = clients[1].get(
            f"/v2/{repository}/blobs/{digest}",
            headers={"Range": f"bytes={PATCH - BLOCK}-{PATCH + BLOCK - 1}"},
        )
        assert seam.status_code == 206
        assert seam.content == _block(PATCH // BLOCK - 1) + _block(PATCH // BLOCK)

        assert clients[0].delete(f"/v2/{repository}/blobs/{digest}").status_code == 202
        assert clients[1].get(f"/v2/{repository}/blobs/{digest}").status_code == 404
    finally:
        for client in clients:
            client.close()
        fleet.backend.remove_objects()
    assert fleet.backend.keys() == []
    assert fleet.backend.multipart_uploads() == []
