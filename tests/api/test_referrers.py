"""The referrers API: an OCI index of the manifests whose `subject` is a digest."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.testclient import TestClient

from tests.api.helpers import (
    EMPTY_DIGEST,
    EMPTY_JSON,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    assert_error,
    descriptor,
    odd_json,
    push_blob,
    push_image,
    put_manifest,
    sha256,
    sha512,
)

SBOM = "application/vnd.example.sbom.v1+json"
SIGNATURE = "application/vnd.example.signature.v1+json"
CONFIG_TYPE = "application/vnd.example.config.v1+json"


def push_referrer(
    client: TestClient,
    repo: str,
    subject: str,
    *,
    artifact_type: str | None = None,
    config_type: str = OCI_EMPTY,
    annotations: dict[str, str] | None = None,
    seed: str = "",
) -> dict[str, Any]:
    """Push an artifact manifest whose subject is `subject`; returns its expected descriptor."""
    payload = f"payload {seed} {artifact_type}".encode()
    config = EMPTY_JSON if config_type == OCI_EMPTY else f'{{"seed":"{seed}"}}'.encode()
    push_blob(client, repo, payload)
    push_blob(client, repo, config)
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config_type, config),
        "layers": [descriptor("application/octet-stream", payload)],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 123},
    }
    if artifact_type is not None:
        doc["artifactType"] = artifact_type
    if annotations:
        doc["annotations"] = annotations
    body = odd_json(doc)
    response = put_manifest(client, repo, sha256(body), body, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    expected: dict[str, Any] = {
        "mediaType": OCI_MANIFEST,
        "digest": sha256(body),
        "size": len(body),
        "artifactType": artifact_type or config_type,
    }
    if annotations:
        expected["annotations"] = annotations
    return expected


def listed(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == OCI_INDEX
    index = response.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    return sorted(index["manifests"], key=lambda d: d["digest"])


def by_digest(descriptors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(descriptors, key=lambda d: d["digest"])


def test_referrers_list_every_manifest_with_the_subject(client: TestClient) -> None:
    _, subject = push_image(client, "app", "v1")
    _, unrelated = push_image(client, "app", "v2", seed="other")
    sbom = push_referrer(client, "app", subject, artifact_type=SBOM, annotations={"k": "sbom"})
    signature = push_referrer(
        client, "app", subject, artifact_type=SIGNATURE, annotations={"k": "sig", "n": "1"}
    )
    from_config = push_referrer(client, "app", subject, config_type=CONFIG_TYPE, seed="c")
    push_referrer(client, "app", unrelated, artifact_type=SBOM, seed="u")
    push_referrer(client, "elsewhere", subject, artifact_type=SBOM, seed="e")
    index = {"mediaType": OCI_INDEX, "manifests": [], "schemaVersion": 2}
    index["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}
    index_body = odd_json(index)
    assert put_manifest(client, "app", "idx", index_body, OCI_INDEX).status_code == 201
    from_index = {"mediaType": OCI_INDEX, "digest": sha256(index_body), "size": len(index_body)}

    response = client.get(f"/v2/app/referrers/{subject}")
    assert listed(response) == by_digest([sbom, signature, from_config, from_index])
    assert "oci-filters-applied" not in response.headers


def test_referrers_filtered_by_artifact_type(client: TestClient) -> None:
    _, subject = push_image(client, "app", "v1")
    sbom = push_referrer(client, "app", subject, artifact_type=SBOM, seed="1")
    sbom2 = push_referrer(client, "app", subject, artifact_type=SBOM, seed="2")
    push_referrer(client, "app", subject, artifact_type=SIGNATURE)
    # A client encodes the query: '+' in a media type must arrive as '+', not as a space.
    response = client.get(f"/v2/app/referrers/{subject}", params={"artifactType": SBOM})
    assert listed(response) == by_digest([sbom, sbom2])
    assert response.headers["oci-filters-applied"] == "artifactType"
    none = client.get(f"/v2/app/referrers/{subject}?artifactType=application/x-none")
    assert listed(none) == []
    assert none.headers["oci-filters-applied"] == "artifactType"
    unfiltered = client.get(f"/v2/app/referrers/{subject}?artifactType=")
    assert len(listed(unfiltered)) == 3
    assert "oci-filters-applied" not in unfiltered.headers


def test_empty_artifact_type_falls_back_to_the_config_media_type(client: TestClient) -> None:
    _, subject = push_image(client, "app", "v1")
    expected = push_referrer(client, "app", subject, artifact_type="", config_type=CONFIG_TYPE)
    assert expected["artifactType"] == CONFIG_TYPE
    assert listed(client.get(f"/v2/app/referrers/{subject}")) == [expected]


def test_no_referrers_is_an_empty_index(client: TestClient) -> None:
    _, subject = push_image(client, "app", "v1")
    ghost = sha256(b"nothing refers to this")
    for url in [
        f"/v2/app/referrers/{subject}",
        f"/v2/app/referrers/{ghost}",
        f"/v2/nowhere/referrers/{ghost}",
        f"/v2/app/referrers/{sha512(b'x')}",
    ]:
        assert listed(client.get(url)) == []


def test_referrers_of_a_subject_that_does_not_exist(client: TestClient) -> None:
    ghost = sha256(b"pushed later, or never")
    referrer = push_referrer(client, "app", ghost, artifact_type=SBOM)
    assert listed(client.get(f"/v2/app/referrers/{ghost}")) == [referrer]


def test_deleted_referrers_are_no_longer_listed(client: TestClient) -> None:
    _, subject = push_image(client, "app", "v1")
    gone = push_referrer(client, "app", subject, artifact_type=SBOM, seed="1")
    kept = push_referrer(client, "app", subject, artifact_type=SBOM, seed="2")
    assert client.delete(f"/v2/app/manifests/{gone['digest']}").status_code == 202
    assert listed(client.get(f"/v2/app/referrers/{subject}")) == [kept]


def test_malformed_digest_is_400(client: TestClient) -> None:
    for bad in ["sha256:xyz", "nocolon", "md5:" + "0" * 32, "v1"]:
        assert_error(client.get(f"/v2/app/referrers/{bad}"), 400, "DIGEST_INVALID")


def test_referrer_subject_may_be_an_empty_config_artifact(client: TestClient) -> None:
    """oras attaches with an empty config and no layers; the referrer must still be listed."""
    _, subject = push_image(client, "app", "v1")
    push_blob(client, "app", EMPTY_JSON)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SIGNATURE,
        "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
        "layers": [{"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 10},
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    }
    body = odd_json(doc)
    assert put_manifest(client, "app", sha256(body), body, OCI_MANIFEST).status_code == 201
    [entry] = listed(client.get(f"/v2/app/referrers/{subject}"))
    assert entry["artifactType"] == SIGNATURE
    assert entry["annotations"] == doc["annotations"]
