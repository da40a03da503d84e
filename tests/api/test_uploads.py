"""Blob uploads: monolithic, POST-then-PUT, chunked, streamed, cancelled, failed, mounted."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.settings import Settings
from tests.api.helpers import (
    assert_error,
    push_blob,
    sha256,
    sha512,
    start_upload,
    stored_files,
    unrecorded_files,
    with_query,
)
from tests.conftest import admin_client

DATA = os.urandom(30_000)
BAD_DIGESTS = ["sha256:xyz", "md5:" + "0" * 32, "nocolon", "sha256:" + "0" * 63, "sha256:"]


def assert_upload_headers(response: httpx.Response, repo: str, size: int) -> str:
    """The headers every upload step returns; gives back the upload's Location."""
    location = response.headers["location"]
    upload_id = response.headers["docker-upload-uuid"]
    assert location.startswith(f"/v2/{repo}/blobs/uploads/")
    assert location.split("?")[0].endswith(upload_id)
    assert response.headers["range"] == f"0-{max(size - 1, 0)}"
    return location


def assert_no_upload_files(client: TestClient) -> None:
    assert unrecorded_files(client) == []


def test_monolithic_post_with_digest(client: TestClient) -> None:
    digest = sha256(DATA)
    response = client.post(f"/v2/team/app/blobs/uploads/?digest={digest}", content=DATA)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v2/team/app/blobs/{digest}"
    assert response.headers["docker-content-digest"] == digest
    assert client.get(response.headers["location"]).content == DATA
    assert_no_upload_files(client)


def test_post_then_put(client: TestClient) -> None:
    for start_url in ["/v2/app/blobs/uploads/", "/v2/app/blobs/uploads"]:
        started = client.post(start_url)
        assert started.status_code == 202
        location = assert_upload_headers(started, "app", 0)
        done = client.put(with_query(location, digest=sha256(DATA)), content=DATA)
        assert done.status_code == 201, done.text
        assert done.headers["location"] == f"/v2/app/blobs/{sha256(DATA)}"
        assert done.headers["docker-content-digest"] == sha256(DATA)
        assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert client.get(f"/v2/app/blobs/{sha256(DATA)}").content == DATA
    assert_no_upload_files(client)


def test_chunked_upload_reports_progress_on_every_step(client: TestClient) -> None:
    location = start_upload(client, "app")
    upload_id = location.rsplit("/", 1)[1]
    for first, last in [(0, 9_999), (10_000, 19_999), (20_000, 24_999)]:
        response = client.patch(
            location,
            content=DATA[first : last + 1],
            headers={
                "Content-Range": f"{first}-{last}",
                "Content-Type": "application/octet-stream",
            },
        )
        assert response.status_code == 202, response.text
        location = assert_upload_headers(response, "app", last + 1)
        assert response.headers["docker-upload-uuid"] == upload_id
        status = client.get(location)
        assert status.status_code == 204
        assert assert_upload_headers(status, "app", last + 1) == location
    done = client.put(
        with_query(location, digest=sha256(DATA)),
        content=DATA[25_000:],
        headers={"Content-Range": f"25000-{len(DATA) - 1}"},
    )
    assert done.status_code == 201, done.text
    assert client.get(f"/v2/app/blobs/{sha256(DATA)}").content == DATA
    assert_no_upload_files(client)


def test_streamed_patch_without_content_range(client: TestClient) -> None:
    location = start_upload(client, "app")
    first = client.patch(location, content=DATA[:12_345])
    assert first.status_code == 202
    location = assert_upload_headers(first, "app", 12_345)
    second = client.patch(location, content=iter([DATA[12_345:20_000], DATA[20_000:]]))
    assert second.status_code == 202
    location = assert_upload_headers(second, "app", len(DATA))
    done = client.put(with_query(location, digest=sha256(DATA)))
    assert done.status_code == 201, done.text
    assert client.get(f"/v2/app/blobs/{sha256(DATA)}").content == DATA


def test_out_of_order_chunk_is_416_and_the_upload_continues(client: TestClient) -> None:
    location = start_upload(client, "app")
    client.patch(location, content=DATA[:100], headers={"Content-Range": "0-99"})
    wrong_put = client.put(
        with_query(location, digest=sha256(DATA)),
        content=DATA[300:],
        headers={"Content-Range": "300-29999"},
    )
    assert_error(wrong_put, 416, "RANGE_INVALID")
    for bad_range, body in [
        ("200-299", DATA[200:300]),
        ("0-99", DATA[:100]),
        ("50-149", DATA[50:150]),
    ]:
        response = client.patch(location, content=body, headers={"Content-Range": bad_range})
        assert_error(response, 416, "RANGE_INVALID")
        assert_upload_headers(response, "app", 100)
    assert client.get(location).headers["range"] == "0-99"
    rest = client.patch(
        location, content=DATA[100:], headers={"Content-Range": f"100-{len(DATA) - 1}"}
    )
    assert rest.status_code == 202
    done = client.put(with_query(rest.headers["location"], digest=sha256(DATA)))
    assert done.status_code == 201, done.text
    assert client.get(f"/v2/app/blobs/{sha256(DATA)}").content == DATA


def test_malformed_content_range_is_416_and_the_upload_continues(client: TestClient) -> None:
    location = start_upload(client, "app")
    for bad in ["garbage", "10-5", "bytes=0-9", "-9"]:
        response = client.patch(location, content=DATA[:10], headers={"Content-Range": bad})
        assert_error(response, 416, "RANGE_INVALID")
    assert client.get(location).headers["range"] == "0-0"
    done = client.put(with_query(location, digest=sha256(DATA)), content=DATA)
    assert done.status_code == 201


def test_upload_continued_on_another_replica(tmp_path: Path) -> None:
    """Two registry processes on one data directory: chunks alternate between them."""
    settings = Settings(data_dir=tmp_path)
    with (
        admin_client(create_app(settings)) as one,
        admin_client(create_app(settings)) as two,
    ):
        location = start_upload(one, "app")
        location = two.patch(location, content=DATA[:7_000]).headers["location"]
        location = one.patch(location, content=DATA[7_000:20_000]).headers["location"]
        done = two.put(with_query(location, digest=sha256(DATA)), content=DATA[20_000:])
        assert done.status_code == 201, done.text
        assert one.get(f"/v2/app/blobs/{sha256(DATA)}").content == DATA


def test_cancel_upload(client: TestClient) -> None:
    location = start_upload(client, "app")
    client.patch(location, content=DATA[:500])
    assert stored_files(client) != []
    response = client.delete(location)
    assert response.status_code == 204
    assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.patch(location, content=b"more"), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.put(with_query(location, digest=sha256(b""))), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.delete(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_no_upload_files(client)


def test_wrong_digest_on_put_discards_the_upload(client: TestClient) -> None:
    location = start_upload(client, "app")
    client.patch(location, content=DATA[:1000])
    wrong = sha256(b"something else")
    response = client.put(with_query(location, digest=wrong), content=DATA[1000:])
    assert_error(response, 400, "DIGEST_INVALID")
    assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    for digest in (wrong, sha256(DATA)):
        assert client.head(f"/v2/app/blobs/{digest}").status_code == 404
    assert_no_upload_files(client)
    assert stored_files(client) == []


def test_wrong_digest_on_monolithic_post_stores_nothing(client: TestClient) -> None:
    wrong = sha256(b"something else")
    response = client.post(f"/v2/app/blobs/uploads/?digest={wrong}", content=DATA)
    assert_error(response, 400, "DIGEST_INVALID")
    for digest in (wrong, sha256(DATA)):
        assert client.head(f"/v2/app/blobs/{digest}").status_code == 404
    assert_no_upload_files(client)
    assert stored_files(client) == []


def test_malformed_or_missing_digest_is_400_digest_invalid(client: TestClient) -> None:
    location = start_upload(client, "app")
    for bad in BAD_DIGESTS:
        assert_error(
            client.put(with_query(location, digest=bad), content=DATA), 400, "DIGEST_INVALID"
        )
        response = client.post(f"/v2/app/blobs/uploads/?digest={bad}", content=DATA)
        assert_error(response, 400, "DIGEST_INVALID")
    assert_error(client.put(location, content=DATA), 400, "DIGEST_INVALID")
    assert stored_files(client) == []


def test_sha512_blobs_work_end_to_end(client: TestClient) -> None:
    digest = push_blob(client, "app", DATA, sha512(DATA))
    assert client.get(f"/v2/app/blobs/{digest}").content == DATA
    head = client.head(f"/v2/app/blobs/{digest}")
    assert head.headers["docker-content-digest"] == digest
    other = DATA[::-1]
    location = start_upload(client, "app")
    location = client.patch(location, content=other[:9000], headers={"Content-Range": "0-8999"})
    done = client.put(
        with_query(location.headers["location"], digest=sha512(other)), content=other[9000:]
    )
    assert done.status_code == 201, done.text
    assert done.headers["docker-content-digest"] == sha512(other)
    assert client.get(f"/v2/app/blobs/{sha512(other)}").content == other
    wrong = client.post(f"/v2/app/blobs/uploads/?digest={sha512(b'x')}", content=DATA)
    assert_error(wrong, 400, "DIGEST_INVALID")


def test_cross_repository_mount(client: TestClient) -> None:
    digest = push_blob(client, "team/source", DATA)
    response = client.post(f"/v2/team/target/blobs/uploads/?mount={digest}&from=team/source")
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v2/team/target/blobs/{digest}"
    assert response.headers["docker-content-digest"] == digest
    assert client.get(f"/v2/team/target/blobs/{digest}").content == DATA
    assert len(stored_files(client)) == 1


def test_mount_that_cannot_happen_starts_an_upload(client: TestClient) -> None:
    push_blob(client, "team/empty", b"unrelated")
    for i, source in enumerate(["team/empty", "team/nonexistent", None]):
        data = DATA + bytes([i])
        query = f"mount={sha256(data)}" + (f"&from={source}" if source else "")
        response = client.post(f"/v2/team/target/blobs/uploads/?{query}")
        assert response.status_code == 202, response.text
        location = assert_upload_headers(response, "team/target", 0)
        assert (
            client.put(with_query(location, digest=sha256(data)), content=data).status_code == 201
        )
        assert client.get(f"/v2/team/target/blobs/{sha256(data)}").content == data


def test_mount_from_an_invalid_name_is_400_name_invalid(client: TestClient) -> None:
    digest = push_blob(client, "team/source", DATA)
    for source in ["Team/Source", "team//source", "../source"]:
        response = client.post(f"/v2/team/target/blobs/uploads/?mount={digest}&from={source}")
        assert_error(response, 400, "NAME_INVALID")
    assert client.head(f"/v2/team/target/blobs/{digest}").status_code == 404


def test_content_length_mismatch_is_size_invalid(client: TestClient) -> None:
    location = start_upload(client, "app")
    # Content-Range says 10 bytes, the chunk (and its Content-Length) has 5.
    response = client.patch(location, content=DATA[:5], headers={"Content-Range": "0-9"})
    assert_error(response, 400, "SIZE_INVALID")
    # A body shorter than its Content-Length.
    location = start_upload(client, "app")
    short = client.patch(location, content=DATA[:5], headers={"Content-Length": "10"})
    assert_error(short, 400, "SIZE_INVALID")
    post = client.post(
        f"/v2/app/blobs/uploads/?digest={sha256(DATA[:5])}",
        content=DATA[:5],
        headers={"Content-Length": "10"},
    )
    assert_error(post, 400, "SIZE_INVALID")
    assert client.head(f"/v2/app/blobs/{sha256(DATA[:5])}").status_code == 404
    location = start_upload(client, "app")
    for bad in ["x", "-1", "1e3", " "]:
        response = client.patch(location, content=b"x", headers={"Content-Length": bad})
        assert_error(response, 400, "SIZE_INVALID")


def test_unknown_or_malformed_upload_id_is_blob_upload_unknown(client: TestClient) -> None:
    real = start_upload(client, "team/a")
    ids = ["0" * 32, "not-an-upload", "%2E%2E", "A" * 32, "0" * 33]
    locations = [f"/v2/team/a/blobs/uploads/{upload_id}" for upload_id in ids]
    locations.append(real.replace("/team/a/", "/team/b/"))  # another repository's upload
    for location in locations:
        assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
        assert_error(client.patch(location, content=b"x"), 404, "BLOB_UPLOAD_UNKNOWN")
        response = client.put(with_query(location, digest=sha256(b"x")), content=b"x")
        assert_error(response, 404, "BLOB_UPLOAD_UNKNOWN")
        assert_error(client.delete(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert client.get(real).status_code == 204


def test_a_cancelled_upload_does_not_create_a_repository(client: TestClient) -> None:
    location = client.post("/v2/ghost/blobs/uploads/").headers["location"]
    assert client.delete(location).status_code == 204
    assert "ghost" not in client.get("/v2/_catalog").json()["repositories"]
    assert client.get("/v2/ghost/tags/list").status_code == 404
