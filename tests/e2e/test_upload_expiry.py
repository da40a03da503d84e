"""The upload sweeper against a running server: abandoned uploads go, nothing wrong is published."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ADMIN
from tests.e2e.conftest import MakeRegistry
from tests.e2e.images import sha256

FAST_SWEEP = {
    "DOCKYARD_REGISTRY__UPLOAD_EXPIRY_SECONDS": "1",
    "DOCKYARD_REGISTRY__UPLOAD_SWEEP_INTERVAL_SECONDS": "1",
}
CHUNK = b"u" * 65536


def _slow(chunks: int, delay: float) -> Iterator[bytes]:
    for _ in range(chunks):
        time.sleep(delay)
        yield CHUNK


def test_abandoned_upload_is_swept(make_registry: MakeRegistry) -> None:
    registry = make_registry(env=FAST_SWEEP)
    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=30) as client:
        start = client.post("/v2/e2e/abandoned/blobs/uploads/")
        location = start.headers["location"]
        assert client.patch(location, content=CHUNK).status_code == 202
        assert registry.upload_leftovers() != []

        deadline = time.monotonic() + 15
        while client.get(location).status_code != 404 and time.monotonic() < deadline:
            time.sleep(0.2)
        status = client.get(location)
        assert status.status_code == 404
        assert status.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert registry.upload_leftovers() == []


@pytest.mark.parametrize("style", ["monolithic", "put-with-body"])
def test_upload_outliving_its_expiry_is_never_published_wrong(
    make_registry: MakeRegistry, style: str
) -> None:
    """An upload swept while its bytes still arrive must not turn into a blob with other bytes.

    It used to: the finishing step re-created the swept file empty, moved that into place and
    answered 201, so the registry served (and HEAD vouched for) a blob with no content.
    """
    registry = make_registry(env=FAST_SWEEP)
    chunks = 40  # 4 s of upload against a 1 s expiry swept every second
    data = CHUNK * chunks
    digest = sha256(data)
    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=60) as client:
        if style == "monolithic":
            done = client.post(
                f"/v2/e2e/slow/blobs/uploads/?digest={digest}", content=_slow(chunks, 0.1)
            )
        else:
            location = client.post("/v2/e2e/slow/blobs/uploads/").headers["location"]
            done = client.put(location, params={"digest": digest}, content=_slow(chunks, 0.1))

        assert "discarded 1 abandoned upload" in registry.log(), "the sweep did not run in time"
        blob = client.get(f"/v2/e2e/slow/blobs/{digest}")
        if done.status_code == 201:
            assert blob.status_code == 200
            assert blob.content == data
        else:
            assert done.status_code == 404, done.text
            assert done.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
            assert blob.status_code == 404
            assert client.head(f"/v2/e2e/slow/blobs/{digest}").status_code == 404

        # The client starts over, as the error tells it to, and that works.
        again = client.post(f"/v2/e2e/slow/blobs/uploads/?digest={digest}", content=data)
        assert again.status_code == 201
        assert client.get(f"/v2/e2e/slow/blobs/{digest}").content == data
