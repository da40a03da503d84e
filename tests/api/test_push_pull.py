"""A whole image pushed and pulled over the HTTP API, in every deployment shape."""

from __future__ import annotations

import hashlib
import json

from starlette.testclient import TestClient


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_push_chunked_layer_and_manifest_then_pull(client: TestClient) -> None:
    layer = b"layer-bytes" * 1000
    config = b'{"architecture":"amd64","os":"linux"}'
    start = client.post("/v2/team/app/blobs/uploads/")
    assert start.status_code == 202
    location = start.headers["location"]
    first = client.patch(location, content=layer[:5000], headers={"Content-Range": "0-4999"})
    assert first.status_code == 202
    assert first.headers["range"] == "0-4999"
    done = client.put(f"{location}?digest={sha256(layer)}", content=layer[5000:])
    assert done.status_code == 201, done.text
    assert done.headers["docker-content-digest"] == sha256(layer)
    assert (
        client.post(
            f"/v2/team/app/blobs/uploads/?digest={sha256(config)}", content=config
        ).status_code
        == 201
    )

    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    put = client.put(
        "/v2/team/app/manifests/v1",
        content=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert put.status_code == 201, put.text
    assert put.headers["docker-content-digest"] == sha256(manifest)

    got = client.get("/v2/team/app/manifests/v1")
    assert got.content == manifest
    assert got.headers["content-type"] == "application/vnd.oci.image.manifest.v1+json"
    blob = client.get(f"/v2/team/app/blobs/{sha256(layer)}")
    assert blob.content == layer
    assert client.get("/v2/team/app/tags/list").json() == {"name": "team/app", "tags": ["v1"]}
    assert client.get("/v2/_catalog").json() == {"repositories": ["team/app"]}
