"""Manifests the registry must refuse, and the limits and references it checks on push."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from tests.api.conftest import ClientFactory
from tests.api.helpers import (
    CONFIG,
    DOCKER_MANIFEST,
    LAYER,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    assert_error,
    descriptor,
    image_manifest,
    index_manifest,
    odd_json,
    push_blob,
    push_blobs,
    push_children,
    put_manifest,
    sha256,
)


def test_schema1_is_refused_as_unsupported(client: TestClient) -> None:
    schema1 = odd_json(
        {
            "schemaVersion": 1,
            "name": "app",
            "tag": "v1",
            "architecture": "amd64",
            "fsLayers": [{"blobSum": sha256(LAYER)}],
            "history": [{"v1Compatibility": "{}"}],
        }
    )
    for content_type in (
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/json",
        None,
    ):
        response = put_manifest(client, "app", "v1", schema1, content_type)
        error = assert_error(response, 400, "MANIFEST_INVALID")
        assert "schema 1" in error["message"] and "not supported" in error["message"]


def _invalid_manifests() -> dict[str, tuple[bytes, str | None]]:
    cfg = descriptor("application/vnd.oci.image.config.v1+json", CONFIG)
    good = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": []}

    def variant(
        content_type: str | None = OCI_MANIFEST, **changes: object
    ) -> tuple[bytes, str | None]:
        doc = {**good, **changes}
        return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode(), content_type

    return {
        "truncated": (b'{"schemaVersion": 2, "config"', OCI_MANIFEST),
        "empty": (b"", OCI_MANIFEST),
        "array": (b"[]", OCI_MANIFEST),
        "string": (b'"manifest"', OCI_MANIFEST),
        "null": (b"null", OCI_MANIFEST),
        "not-utf8": (b'{"schemaVersion": 2, "x": "\xff\xfe"}', OCI_MANIFEST),
        "deeply-nested": (b"[" * 100_000 + b"]" * 100_000, OCI_MANIFEST),
        "no-config": variant(config=...),
        "config-not-object": variant(config="sha256:abc"),
        "config-no-digest": variant(config={"mediaType": OCI_EMPTY, "size": 2}),
        "config-bad-digest": variant(config={**cfg, "digest": "sha256:xyz"}),
        "config-negative-size": variant(config={**cfg, "size": -1}),
        "config-string-size": variant(config={**cfg, "size": "2"}),
        "config-no-media-type": variant(config={"digest": cfg["digest"], "size": 2}),
        "config-bad-media-type": variant(config={**cfg, "mediaType": "not a media type"}),
        "layers-not-list": variant(layers={"0": cfg}),
        "layer-not-object": variant(layers=[42]),
        "schema-version-3": variant(schemaVersion=3),
        "schema-version-missing": variant(schemaVersion=...),
        "schema-version-true": variant(schemaVersion=True),
        "unknown-media-type": variant(mediaType="application/vnd.example+json"),
        "content-type-mismatch": variant(content_type=DOCKER_MANIFEST),
        "unknown-content-type": variant(content_type="text/plain", mediaType=...),
        "index-without-manifests": variant(content_type=OCI_INDEX, mediaType=OCI_INDEX),
        "index-manifests-not-list": variant(OCI_INDEX, mediaType=OCI_INDEX, manifests="x"),
        "artifact-type-not-media-type": variant(artifactType="sbom"),
        "artifact-type-too-long": variant(artifactType="a/" + "b" * 300),
        "artifact-type-number": variant(artifactType=7),
        "annotations-not-strings": variant(annotations={"a": 1}),
        "annotations-lone-surrogate": variant(annotations={"a": "\ud800"}),
        "subject-not-descriptor": variant(subject="sha256:" + "0" * 64),
        "image-and-index": variant(manifests=[]),  # CVE-2021-41190: ambiguous documents
        "index-and-image": variant(OCI_INDEX, mediaType=OCI_INDEX, manifests=[]),
    }


INVALID = _invalid_manifests()


def test_invalid_manifests_are_manifest_invalid(client: TestClient) -> None:
    push_blobs(client, "app")
    for name, (body, content_type) in INVALID.items():
        response = put_manifest(client, "app", "v1", body, content_type)
        assert response.status_code == 400, (name, response.status_code, response.text)
        assert_error(response, 400, "MANIFEST_INVALID")
    assert_error(client.get("/v2/app/manifests/v1"), 404, "MANIFEST_UNKNOWN")


def test_manifest_over_4_mib_is_413_size_invalid(client: TestClient) -> None:
    push_blobs(client, "app")
    body = image_manifest(CONFIG, [LAYER])
    limit = 4 * 1024 * 1024
    exact = body[:-1] + b" " * (limit - len(body)) + b"\n"
    assert len(exact) == limit
    assert put_manifest(client, "app", "exact", exact, OCI_MANIFEST).status_code == 201
    over = exact + b" "
    assert_error(put_manifest(client, "app", "over", over, OCI_MANIFEST), 413, "SIZE_INVALID")
    streamed = client.put(
        "/v2/app/manifests/streamed",
        content=iter([over[: limit // 2], over[limit // 2 :]]),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert_error(streamed, 413, "SIZE_INVALID")
    assert_error(client.get("/v2/app/manifests/over"), 404, "MANIFEST_UNKNOWN")


def test_manifest_size_limit_is_configurable(make_client: ClientFactory) -> None:
    with make_client(max_manifest_bytes=1000) as client:
        push_blobs(client, "app")
        body = image_manifest(CONFIG, [LAYER])
        fits = body[:-1] + b" " * (1000 - len(body)) + b"\n"
        assert put_manifest(client, "app", "fits", fits, OCI_MANIFEST).status_code == 201
        response = put_manifest(client, "app", "over", fits + b" ", OCI_MANIFEST)
        assert_error(response, 413, "SIZE_INVALID")


def test_manifest_referencing_a_missing_blob_is_manifest_blob_unknown(client: TestClient) -> None:
    push_blob(client, "app", CONFIG)
    push_blob(client, "other", LAYER)  # pushed, but to another repository
    missing_layer = image_manifest(CONFIG, [LAYER])
    error = assert_error(
        put_manifest(client, "app", "v1", missing_layer, OCI_MANIFEST), 404, "MANIFEST_BLOB_UNKNOWN"
    )
    assert sha256(LAYER) in error["message"]
    missing_config = image_manifest(b'{"other": "config"}', [])
    assert_error(
        put_manifest(client, "app", "v1", missing_config, OCI_MANIFEST),
        404,
        "MANIFEST_BLOB_UNKNOWN",
    )
    assert_error(client.get("/v2/app/manifests/v1"), 404, "MANIFEST_UNKNOWN")


def test_foreign_layers_need_not_be_pushed(client: TestClient) -> None:
    push_blob(client, "app", CONFIG)
    foreign = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    body = image_manifest(CONFIG, [b"windows base layer"], layer_type=foreign)
    assert put_manifest(client, "app", "v1", body, OCI_MANIFEST).status_code == 201


def test_index_referencing_an_unknown_manifest_is_manifest_blob_unknown(client: TestClient) -> None:
    children = push_children(client, "other", OCI_MANIFEST)
    body = index_manifest(children)
    assert_error(
        put_manifest(client, "app", "multi", body, OCI_INDEX), 404, "MANIFEST_BLOB_UNKNOWN"
    )
    assert put_manifest(client, "other", "multi", body, OCI_INDEX).status_code == 201


def test_references_can_be_left_unchecked(make_client: ClientFactory) -> None:
    with make_client(require_manifest_references=False) as client:
        image = image_manifest(CONFIG, [LAYER])
        assert put_manifest(client, "app", "v1", image, OCI_MANIFEST).status_code == 201
        index = index_manifest([(OCI_MANIFEST, b"{}"), (OCI_MANIFEST, image)])
        assert put_manifest(client, "app", "multi", index, OCI_INDEX).status_code == 201
        assert client.get("/v2/app/manifests/multi").content == index


def test_invalid_tag_is_400(client: TestClient) -> None:
    push_blobs(client, "app")
    body = image_manifest(CONFIG, [LAYER])
    for tag in ["-bad", ".bad", "bad+tag", "a" * 129, "bad%20tag", "v1%0A"]:
        response = put_manifest(client, "app", tag, body, OCI_MANIFEST)
        assert_error(response, 400, "MANIFEST_INVALID")
    assert client.get("/v2/app/tags/list").json()["tags"] == []
