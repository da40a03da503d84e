"""Pulling, ranging and deleting blobs; blobs are content-addressed but scoped to a repository."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.settings import Settings
from tests.api.helpers import assert_error, push_blob, sha256, stored_content, stored_files
from tests.conftest import admin_client

DATA = bytes(range(256)) * 40  # 10240 bytes


def test_head_and_get_describe_the_blob(client: TestClient) -> None:
    digest = push_blob(client, "team/app", DATA)
    head = client.head(f"/v2/team/app/blobs/{digest}")
    assert head.status_code == 200
    assert head.content == b""
    get = client.get(f"/v2/team/app/blobs/{digest}")
    assert get.status_code == 200
    assert get.content == DATA
    for response in (head, get):
        assert response.headers["content-length"] == str(len(DATA))
        assert response.headers["docker-content-digest"] == digest
        assert response.headers["content-type"] == "application/octet-stream"


def test_empty_blob(client: TestClient) -> None:
    digest = push_blob(client, "app", b"")
    response = client.get(f"/v2/app/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"


RANGES = [
    ("bytes=0-99", 0, 99),
    ("bytes=100-", 100, len(DATA) - 1),
    ("bytes=-256", len(DATA) - 256, len(DATA) - 1),
    ("bytes=7-7", 7, 7),
    ("bytes=10000-99999", 10000, len(DATA) - 1),
    ("bytes=-999999", 0, len(DATA) - 1),
]


def test_range_returns_206_with_content_range(client: TestClient) -> None:
    digest = push_blob(client, "app", DATA)
    for header, first, last in RANGES:
        response = client.get(f"/v2/app/blobs/{digest}", headers={"Range": header})
        assert response.status_code == 206, (header, response.text)
        assert response.headers["content-range"] == f"bytes {first}-{last}/{len(DATA)}"
        assert response.headers["content-length"] == str(last - first + 1)
        assert response.content == DATA[first : last + 1]
        assert response.headers["docker-content-digest"] == digest


def test_range_across_storage_chunks(client: TestClient) -> None:
    big = os.urandom(3 * 1024 * 1024 + 17)
    digest = push_blob(client, "app", big)
    first, last = 1024 * 1024 - 5, 2 * 1024 * 1024 + 5
    response = client.get(f"/v2/app/blobs/{digest}", headers={"Range": f"bytes={first}-{last}"})
    assert response.status_code == 206
    assert response.content == big[first : last + 1]
    assert client.get(f"/v2/app/blobs/{digest}").content == big


def test_unsatisfiable_range_is_416_with_the_size(client: TestClient) -> None:
    digest = push_blob(client, "app", DATA)
    size = len(DATA)
    for header in [f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"]:
        response = client.get(f"/v2/app/blobs/{digest}", headers={"Range": header})
        assert_error(response, 416, "RANGE_INVALID")
        assert response.headers["content-range"] == f"bytes */{size}"


def test_ranges_it_does_not_serve_get_the_whole_blob(client: TestClient) -> None:
    """RFC 9110: a foreign unit or a multi-range request may be answered with the whole body."""
    digest = push_blob(client, "app", DATA)
    for header in ["items=0-5", "bytes=0-1,5-6", "bytes=abc", "bytes=-"]:
        response = client.get(f"/v2/app/blobs/{digest}", headers={"Range": header})
        assert response.status_code == 200, (header, response.status_code)
        assert response.content == DATA
        assert response.headers["content-type"] == "application/octet-stream"


def test_unknown_blob_is_404_blob_unknown(client: TestClient) -> None:
    push_blob(client, "app", b"something else")
    digest = sha256(b"never pushed")
    assert_error(client.get(f"/v2/app/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    head = client.head(f"/v2/app/blobs/{digest}")
    assert head.status_code == 404
    assert head.content == b""
    assert_error(client.get(f"/v2/nowhere/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_delete_blob_then_it_is_unknown(client: TestClient) -> None:
    digest = push_blob(client, "app", DATA)
    response = client.delete(f"/v2/app/blobs/{digest}")
    assert response.status_code == 202
    assert_error(client.get(f"/v2/app/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert client.head(f"/v2/app/blobs/{digest}").status_code == 404
    assert_error(client.delete(f"/v2/app/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    # Pushing the same bytes again brings it back.
    push_blob(client, "app", DATA)
    assert client.get(f"/v2/app/blobs/{digest}").content == DATA


def test_a_blob_is_visible_only_in_the_repository_it_was_pushed_to(client: TestClient) -> None:
    digest = push_blob(client, "team/a", DATA)
    assert client.head(f"/v2/team/a/blobs/{digest}").status_code == 200
    assert_error(client.get(f"/v2/team/b/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert client.head(f"/v2/team/b/blobs/{digest}").status_code == 404
    assert_error(client.delete(f"/v2/team/b/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_same_bytes_in_two_repositories_are_stored_once(client: TestClient) -> None:
    digest = push_blob(client, "team/a", DATA)
    push_blob(client, "team/b", DATA)
    blobs = stored_files(client)
    assert len(blobs) == 1, blobs
    assert stored_content(client, blobs[0]) == DATA
    # Deleting it from one repository leaves the other one's copy readable.
    assert client.delete(f"/v2/team/a/blobs/{digest}").status_code == 202
    assert client.get(f"/v2/team/b/blobs/{digest}").content == DATA
    assert_error(client.get(f"/v2/team/a/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_malformed_digest_is_400_digest_invalid(client: TestClient) -> None:
    for method in ("GET", "HEAD", "DELETE"):
        for bad in ["sha256:xyz", "md5:" + "0" * 32, "nocolon", "sha256:" + "A" * 64]:
            response = client.request(method, f"/v2/app/blobs/{bad}")
            assert_error(response, 400, "DIGEST_INVALID")


def test_blob_whose_content_vanished_from_storage_is_unknown_not_a_crash(
    tmp_path: Path,
) -> None:
    """A blob recorded in metadata but missing on disk (deleted by hand) is a clean 404."""
    data = b"soon gone"
    digest = sha256(data)
    with admin_client(create_app(Settings(data_dir=tmp_path))) as client:
        assert client.post(f"/v2/r/blobs/uploads/?digest={digest}", content=data).status_code == 201
        for path in (tmp_path / "storage" / "blobs").rglob("data"):
            path.unlink()
        for headers in ({}, {"Range": "bytes=0-3"}):
            response = client.get(f"/v2/r/blobs/{digest}", headers=headers)
            assert response.status_code == 404
            assert response.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
