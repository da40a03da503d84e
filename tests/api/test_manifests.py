"""Manifests: every kind round-trips byte for byte, by tag and by digest; tags and deletes."""

from __future__ import annotations

import httpx
import pytest
from starlette.testclient import TestClient

from tests.api.helpers import (
    CONFIG,
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    EMPTY_DIGEST,
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
    push_image,
    put_manifest,
    sha256,
    sha512,
)

SBOM_TYPE = "application/vnd.example.sbom.v1+json"


def artifact_manifest(**extra: object) -> bytes:
    return odd_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SBOM_TYPE,
            "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
            "layers": [descriptor("application/spdx+json", LAYER)],
            "annotations": {"org.example.kind": "sbom"},
            **extra,
        }
    )


# kind -> (manifest bytes, Content-Type of the PUT, Content-Type it is served with)
IMAGE_KINDS = {
    "oci-image": (image_manifest(CONFIG, [LAYER]), OCI_MANIFEST, OCI_MANIFEST),
    "docker-v2": (
        image_manifest(
            CONFIG,
            [LAYER],
            media_type=DOCKER_MANIFEST,
            config_type=DOCKER_CONFIG,
            layer_type=DOCKER_LAYER,
        ),
        DOCKER_MANIFEST,
        DOCKER_MANIFEST,
    ),
    "artifact": (artifact_manifest(), OCI_MANIFEST, OCI_MANIFEST),
    "no-media-type": (image_manifest(CONFIG, [LAYER], media_type=None), OCI_MANIFEST, OCI_MANIFEST),
    "no-media-type-docker": (
        image_manifest(CONFIG, [LAYER], media_type=None, config_type=DOCKER_CONFIG),
        DOCKER_MANIFEST,
        DOCKER_MANIFEST,
    ),
}


def assert_served(response: httpx.Response, body: bytes, media_type: str) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert response.headers["docker-content-digest"] == sha256(body)
    assert response.headers["content-length"] == str(len(body))
    if response.request.method == "GET":
        assert response.content == body
    else:
        assert response.content == b""


@pytest.mark.parametrize("kind", IMAGE_KINDS)
def test_image_manifests_round_trip_unchanged(client: TestClient, kind: str) -> None:
    body, content_type, served_as = IMAGE_KINDS[kind]
    push_blobs(client, "team/app")
    response = put_manifest(client, "team/app", "v1", body, content_type)
    assert response.status_code == 201, response.text
    digest = sha256(body)
    assert response.headers["location"] == f"/v2/team/app/manifests/{digest}"
    assert response.headers["docker-content-digest"] == digest
    for reference in ("v1", digest):
        url = f"/v2/team/app/manifests/{reference}"
        assert_served(client.get(url), body, served_as)
        assert_served(client.head(url), body, served_as)


@pytest.mark.parametrize(
    ("index_type", "child_type", "declared"),
    [
        (OCI_INDEX, OCI_MANIFEST, True),
        (DOCKER_LIST, DOCKER_MANIFEST, True),
        (OCI_INDEX, OCI_MANIFEST, False),
    ],
)
def test_indexes_round_trip_unchanged(
    client: TestClient, index_type: str, child_type: str, declared: bool
) -> None:
    children = push_children(client, "app", child_type)
    body = index_manifest(children, media_type=index_type if declared else None)
    response = put_manifest(client, "app", "multi", body, index_type)
    assert response.status_code == 201, response.text
    for reference in ("multi", sha256(body)):
        assert_served(client.get(f"/v2/app/manifests/{reference}"), body, index_type)
        assert_served(client.head(f"/v2/app/manifests/{reference}"), body, index_type)
    # The children stay reachable by digest.
    assert_served(
        client.get(f"/v2/app/manifests/{sha256(children[0][1])}"), children[0][1], child_type
    )


def test_generic_content_type_falls_back_to_the_declared_media_type(client: TestClient) -> None:
    push_blobs(client, "app")
    body = image_manifest(CONFIG, [LAYER])
    for content_type in (None, "application/json", "application/octet-stream"):
        assert put_manifest(client, "app", "v1", body, content_type).status_code == 201
        assert client.get("/v2/app/manifests/v1").headers["content-type"] == OCI_MANIFEST


def test_put_by_digest(client: TestClient) -> None:
    push_blobs(client, "app")
    body = image_manifest(CONFIG, [LAYER])
    response = put_manifest(client, "app", sha256(body), body, OCI_MANIFEST)
    assert response.status_code == 201
    assert response.headers["docker-content-digest"] == sha256(body)
    assert client.get("/v2/app/tags/list").json()["tags"] == []
    other = image_manifest(CONFIG, [])
    mismatch = put_manifest(client, "app", sha256(body), other, OCI_MANIFEST)
    assert_error(mismatch, 400, "DIGEST_INVALID")
    assert client.get(f"/v2/app/manifests/{sha256(body)}").content == body
    for bad in ("sha256:totallywrong", "md5:" + "0" * 32, "sha256:" + "0" * 63):
        assert_error(put_manifest(client, "app", bad, body, OCI_MANIFEST), 400, "DIGEST_INVALID")


def test_put_and_get_by_sha512_digest(client: TestClient) -> None:
    push_blob(client, "app", CONFIG, sha512(CONFIG))
    push_blob(client, "app", LAYER, sha512(LAYER))
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {**descriptor(OCI_EMPTY, CONFIG), "digest": sha512(CONFIG)},
        "layers": [{**descriptor(DOCKER_LAYER, LAYER), "digest": sha512(LAYER)}],
    }
    body = odd_json(doc)
    response = put_manifest(client, "app", sha512(body), body, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    assert response.headers["docker-content-digest"] == sha512(body)
    assert response.headers["location"] == f"/v2/app/manifests/{sha512(body)}"
    got = client.get(f"/v2/app/manifests/{sha512(body)}")
    assert got.content == body
    assert got.headers["docker-content-digest"] == sha512(body)


def test_longest_tag_and_odd_valid_tags(client: TestClient) -> None:
    tags = ["a" * 128, "_x", "1.0.0-rc.1", "UPPER_case"]
    for tag in tags:
        push_image(client, "app", tag)
        assert client.get(f"/v2/app/manifests/{tag}").status_code == 200
    assert client.get("/v2/app/tags/list").json()["tags"] == sorted(tags)


def test_accept_negotiation(client: TestClient) -> None:
    children = push_children(client, "app", OCI_MANIFEST)
    body = index_manifest(children)
    assert put_manifest(client, "app", "multi", body, OCI_INDEX).status_code == 201
    image_only = f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"
    for method in ("GET", "HEAD"):
        response = client.request(method, "/v2/app/manifests/multi", headers={"Accept": image_only})
        assert_error(response, 404, "MANIFEST_UNKNOWN")
    accepted = [
        {"Accept": "*/*"},
        {},
        {"Accept": f"{OCI_MANIFEST};q=0.9, {OCI_INDEX};q=0.5"},
        {"Accept": "application/*"},
    ]
    for headers in accepted:
        assert_served(client.get("/v2/app/manifests/multi", headers=headers), body, OCI_INDEX)
    several = client.get(
        "/v2/app/manifests/multi", headers=[("Accept", OCI_MANIFEST), ("Accept", OCI_INDEX)]
    )
    assert_served(several, body, OCI_INDEX)


def test_subject_is_echoed_in_oci_subject(client: TestClient) -> None:
    _, subject = push_image(client, "app", "v1")
    push_blobs(client, "app")
    with_subject = artifact_manifest(
        subject={"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}
    )
    response = put_manifest(client, "app", sha256(with_subject), with_subject, OCI_MANIFEST)
    assert response.status_code == 201
    assert response.headers["oci-subject"] == subject
    plain = put_manifest(client, "app", "sbom", artifact_manifest(), OCI_MANIFEST)
    assert plain.status_code == 201
    assert "oci-subject" not in plain.headers


def test_subject_need_not_exist(client: TestClient) -> None:
    push_blobs(client, "app")
    ghost = sha256(b"a manifest pushed later")
    body = artifact_manifest(subject={"mediaType": OCI_MANIFEST, "digest": ghost, "size": 23})
    response = put_manifest(client, "app", sha256(body), body, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    assert response.headers["oci-subject"] == ghost


def test_delete_by_tag_removes_only_the_tag(client: TestClient) -> None:
    body, digest = push_image(client, "app", "v1")
    assert put_manifest(client, "app", "v2", body, OCI_MANIFEST).status_code == 201
    assert client.delete("/v2/app/manifests/v1").status_code == 202
    assert_error(client.get("/v2/app/manifests/v1"), 404, "MANIFEST_UNKNOWN")
    assert client.get("/v2/app/manifests/v2").content == body
    assert client.get(f"/v2/app/manifests/{digest}").content == body
    assert client.get("/v2/app/tags/list").json()["tags"] == ["v2"]
    assert_error(client.delete("/v2/app/manifests/v1"), 404, "MANIFEST_UNKNOWN")


def test_delete_by_digest_removes_the_manifest_and_its_tags(client: TestClient) -> None:
    body, digest = push_image(client, "app", "v1")
    assert put_manifest(client, "app", "v2", body, OCI_MANIFEST).status_code == 201
    _, other = push_image(client, "app", "other", seed="y")
    assert client.delete(f"/v2/app/manifests/{digest}").status_code == 202
    for reference in (digest, "v1", "v2"):
        assert_error(client.get(f"/v2/app/manifests/{reference}"), 404, "MANIFEST_UNKNOWN")
        assert client.head(f"/v2/app/manifests/{reference}").status_code == 404
    assert client.get("/v2/app/tags/list").json()["tags"] == ["other"]
    assert client.get(f"/v2/app/manifests/{other}").status_code == 200
    assert_error(client.delete(f"/v2/app/manifests/{digest}"), 404, "MANIFEST_UNKNOWN")
    assert_error(client.delete(f"/v2/nowhere/manifests/{digest}"), 404, "MANIFEST_UNKNOWN")


def test_pushing_the_same_manifest_twice_and_moving_a_tag(client: TestClient) -> None:
    body, digest = push_image(client, "app", "v1")
    again = put_manifest(client, "app", "v1", body, OCI_MANIFEST)
    assert again.status_code == 201
    assert again.headers["docker-content-digest"] == digest
    by_digest = put_manifest(client, "app", digest, body, OCI_MANIFEST)
    assert by_digest.status_code == 201
    other_body, _ = push_image(client, "app", "v1", seed="y")
    assert client.get("/v2/app/manifests/v1").content == other_body
    assert client.get(f"/v2/app/manifests/{digest}").content == body
    assert client.get("/v2/app/tags/list").json()["tags"] == ["v1"]


def test_unknown_manifests_are_404_manifest_unknown(client: TestClient) -> None:
    _, digest = push_image(client, "team/a", "v1")
    for url in [
        "/v2/team/a/manifests/v2",
        f"/v2/team/a/manifests/{sha256(b'nothing')}",
        "/v2/team/b/manifests/v1",
        f"/v2/team/b/manifests/{digest}",
    ]:
        assert_error(client.get(url), 404, "MANIFEST_UNKNOWN")
        head = client.head(url)
        assert head.status_code == 404
        assert head.content == b""
