"""Builders and checks the HTTP contract tests share: what a registry client would do and see."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
from starlette.testclient import TestClient

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

EMPTY_JSON = b"{}"
CONFIG = b'{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
LAYER = b"layer bytes " * 100
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

# The codes of the spec's table, plus the ones Distribution also uses for cases the table lacks.
SPEC_CODES = {
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
}
DISTRIBUTION_CODES = {"RANGE_INVALID", "PAGINATION_NUMBER_INVALID"}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the spec's error body with this status and code; returns the error."""
    assert response.status_code == status, (response.status_code, response.text)
    if response.request.method == "HEAD":
        return {}
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("errors"), list), body
    assert body["errors"], body
    for error in body["errors"]:
        assert isinstance(error["code"], str) and isinstance(error["message"], str), error
    assert body["errors"][0]["code"] == code, body
    return body["errors"][0]


def push_blob(client: TestClient, repo: str, data: bytes, digest: str | None = None) -> str:
    """Monolithic POST ?digest= upload; returns the digest."""
    digest = digest or sha256(data)
    response = client.post(f"/v2/{repo}/blobs/uploads/?digest={digest}", content=data)
    assert response.status_code == 201, response.text
    return digest


def start_upload(client: TestClient, repo: str) -> str:
    """POST a new upload session; returns its Location."""
    response = client.post(f"/v2/{repo}/blobs/uploads/")
    assert response.status_code == 202, response.text
    return response.headers["location"]


def with_query(location: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{location}{'&' if '?' in location else '?'}{query}"


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def odd_json(doc: dict[str, Any]) -> bytes:
    """JSON a re-serializing registry would change: reversed keys, odd spacing, a newline."""
    reordered = dict(reversed(list(doc.items())))
    return (json.dumps(reordered, indent=3, separators=(" ,", " :  ")) + "\n").encode()


def image_manifest(
    config: bytes,
    layers: list[bytes],
    *,
    media_type: str | None = OCI_MANIFEST,
    config_type: str = OCI_CONFIG,
    layer_type: str = OCI_LAYER,
    **extra: Any,
) -> bytes:
    doc: dict[str, Any] = {"schemaVersion": 2}
    if media_type is not None:
        doc["mediaType"] = media_type
    doc["config"] = descriptor(config_type, config)
    doc["layers"] = [descriptor(layer_type, layer) for layer in layers]
    doc.update(extra)
    return odd_json(doc)


def index_manifest(
    manifests: list[tuple[str, bytes]], *, media_type: str | None = OCI_INDEX, **extra: Any
) -> bytes:
    doc: dict[str, Any] = {"schemaVersion": 2}
    if media_type is not None:
        doc["mediaType"] = media_type
    doc["manifests"] = [
        descriptor(mt, body, platform={"architecture": f"arch{i}", "os": "linux"})
        for i, (mt, body) in enumerate(manifests)
    ]
    doc.update(extra)
    return odd_json(doc)


def put_manifest(
    client: TestClient, repo: str, reference: str, body: bytes, content_type: str | None
) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return client.put(f"/v2/{repo}/manifests/{reference}", content=body, headers=headers)


def push_image(
    client: TestClient, repo: str, reference: str, seed: str = "x", **extra: Any
) -> tuple[bytes, str]:
    """Push a config, a layer and an OCI image manifest; returns (manifest bytes, digest)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer = f"layer of {seed}".encode() * 10
    push_blob(client, repo, config)
    push_blob(client, repo, layer)
    body = image_manifest(config, [layer], **extra)
    response = put_manifest(client, repo, reference, body, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    return body, sha256(body)


def stored_files(client: TestClient) -> list[str]:
    """Every object in storage, in-progress upload data included, read where the bytes live."""
    storage = client.app.state.registry.storage  # type: ignore[attr-defined]
    assert client.portal is not None, "use the client inside its `with` block"
    # Run on the app's event loop: the S3 client is bound to it.
    raw_keys = getattr(storage, "_raw_keys", None)  # S3: spooled upload bytes are "~" keys
    found: list[str] = []
    for prefix in ("blobs", "uploads"):
        if raw_keys is not None:
            found += client.portal.call(raw_keys, prefix + "/")
        else:
            found += client.portal.call(storage.list, prefix)
    return sorted(found)


def unrecorded_files(client: TestClient) -> list[str]:
    """Stored objects that are not the recorded location of any blob: upload leftovers."""
    store = client.app.state.registry.store  # type: ignore[attr-defined]

    async def recorded(path: str) -> bool:
        async with store.transaction(readonly=True) as tx:
            return bool(await tx.blobs.at_path(path))

    assert client.portal is not None
    return [p for p in stored_files(client) if not client.portal.call(recorded, p)]


def stored_content(client: TestClient, path: str) -> bytes:
    storage = client.app.state.registry.storage  # type: ignore[attr-defined]
    assert client.portal is not None
    return bytes(client.portal.call(storage.get, path))


def push_blobs(client: TestClient, repo: str) -> None:
    """The blobs the manifest tests reference: CONFIG, LAYER and the empty JSON object."""
    for blob in (CONFIG, LAYER, EMPTY_JSON):
        push_blob(client, repo, blob)


def push_children(client: TestClient, repo: str, child_type: str) -> list[tuple[str, bytes]]:
    """Two platform manifests pushed by digest; returns (media type, bytes) for an index."""
    push_blobs(client, repo)
    children = []
    for arch in ("amd64", "arm64"):
        config = json.dumps({"architecture": arch, "os": "linux"}).encode()
        push_blob(client, repo, config)
        body = image_manifest(config, [LAYER], media_type=child_type)
        assert put_manifest(client, repo, sha256(body), body, child_type).status_code == 201
        children.append((child_type, body))
    return children
