"""Repository names: the spec's grammar on every route, and no way out of the storage root."""

from __future__ import annotations

import os

from starlette.testclient import TestClient

from dockyard.settings import Settings
from tests.api.helpers import OCI_MANIFEST, assert_error, image_manifest, sha256, start_upload

# Names as they appear in a URL ('..' percent-encoded: a client would collapse a literal one).
INVALID_NAMES = [
    "Upper",
    "team/App",
    "a/%2E%2E/b",
    "%2E%2E",
    "%2E%2E/%2E%2E/etc",
    "/leading",
    "a//b",
    "trailing/",
    "-dash",
    "a___b",
    "a.",
    "a" * 256,
    "a/" * 127 + "aa",  # 256 characters
    "sp%20ace",
]
VALID_NAMES = ["a" * 255, "a/b/c/d", "a.b", "a_b", "a__b", "a-b", "a--b", "0"]


def routes(name: str) -> list[tuple[str, str]]:
    digest = sha256(b"x")
    upload = f"/v2/{name}/blobs/uploads/{'0' * 32}"
    return [
        ("GET", f"/v2/{name}/tags/list"),
        ("GET", f"/v2/{name}/manifests/latest"),
        ("HEAD", f"/v2/{name}/manifests/latest"),
        ("PUT", f"/v2/{name}/manifests/latest"),
        ("DELETE", f"/v2/{name}/manifests/{digest}"),
        ("GET", f"/v2/{name}/blobs/{digest}"),
        ("HEAD", f"/v2/{name}/blobs/{digest}"),
        ("DELETE", f"/v2/{name}/blobs/{digest}"),
        ("POST", f"/v2/{name}/blobs/uploads/"),
        ("POST", f"/v2/{name}/blobs/uploads/?digest={digest}"),
        ("POST", f"/v2/{name}/blobs/uploads/?mount={digest}&from=app"),
        ("GET", upload),
        ("PATCH", upload),
        ("PUT", f"{upload}?digest={digest}"),
        ("DELETE", upload),
        ("GET", f"/v2/{name}/referrers/{digest}"),
    ]


def test_invalid_names_are_400_name_invalid_on_every_route(client: TestClient) -> None:
    for name in INVALID_NAMES:
        for method, url in routes(name):
            response = client.request(method, url, content=b"x" if method != "GET" else None)
            assert response.status_code == 400, (method, url, response.status_code, response.text)
            assert_error(response, 400, "NAME_INVALID")


def test_valid_names_reach_the_registry(client: TestClient) -> None:
    for name in VALID_NAMES:
        assert_error(client.get(f"/v2/{name}/tags/list"), 404, "NAME_UNKNOWN")
        location = start_upload(client, name)
        assert client.put(f"{location}?digest={sha256(b'x')}", content=b"x").status_code == 201
        assert client.get(f"/v2/{name}/blobs/{sha256(b'x')}").content == b"x"


def snapshot(client: TestClient, settings: Settings) -> list[tuple[str, int]]:
    """Every file the registry owns (metadata database aside), with its size."""
    storage = client.app.state.registry.storage  # type: ignore[attr-defined]
    if settings.storage.driver == "memory":
        return sorted((path, len(data)) for path, data in storage.objects.items())
    found = []
    for directory, _, files in os.walk(settings.data_dir):
        for file in files:
            if not file.startswith("dockyard.db"):
                path = os.path.join(directory, file)
                found.append((path, os.path.getsize(path)))
    return sorted(found)


def test_path_traversal_never_touches_storage(client: TestClient, settings: Settings) -> None:
    body = image_manifest(b"{}", [])
    before = snapshot(client, settings)
    escape = "%2E%2E/%2E%2E/%2E%2E/tmp"
    attempts = [
        ("PUT", f"/v2/{escape}/manifests/latest", body),
        ("POST", f"/v2/{escape}/blobs/uploads/?digest={sha256(body)}", body),
        ("POST", f"/v2/{escape}/blobs/uploads/", b""),
        ("GET", "/v2/app/blobs/sha256:%2E%2E%2F%2E%2E%2Fdockyard.db", b""),
        ("GET", f"/v2/app/blobs/sha256:{'0' * 62}%2E%2E", b""),
        ("PATCH", "/v2/app/blobs/uploads/%2E%2E", b"data"),
        ("PUT", f"/v2/app/blobs/uploads/%2E%2E%2F%2E%2E%2Fx?digest={sha256(b'data')}", b"data"),
        ("PUT", "/v2/app/manifests/%2E%2E", body),
        ("GET", "/v2/app/referrers/sha256:%2E%2E%2Fetc", b""),
        ("GET", "/v2/%2E%2E%2F%2E%2E/tags/list", b""),
    ]
    for method, url, content in attempts:
        response = client.request(
            method, url, content=content, headers={"Content-Type": OCI_MANIFEST}
        )
        assert 400 <= response.status_code < 500, (method, url, response.status_code)
        assert response.json()["errors"], (method, url)
    assert snapshot(client, settings) == before
    assert client.get("/v2/_catalog").json() == {"repositories": []}
