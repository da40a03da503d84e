"""The base endpoint, unknown routes, wrong methods, and the spec's error body everywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.api.conftest import ClientFactory
from tests.api.helpers import (
    DISTRIBUTION_CODES,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    EMPTY_DIGEST,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    SPEC_CODES,
    assert_error,
    push_blob,
    push_image,
    sha256,
)

API_VERSION = "registry/2.0"


def test_base_endpoint_says_it_speaks_the_spec(client: TestClient) -> None:
    response = client.get("/v2/")
    assert response.status_code == 200
    assert response.headers["docker-distribution-api-version"] == API_VERSION


def test_every_response_carries_the_api_version_header(client: TestClient) -> None:
    failing = client.get("/v2/app/manifests/missing")
    assert failing.status_code == 404
    assert failing.headers["docker-distribution-api-version"] == API_VERSION


def test_unknown_endpoints_are_404_with_an_error_body(client: TestClient) -> None:
    # "/" is the dashboard (docs/dashboard.md), not an unknown endpoint.
    for url in ["/v2/nope", "/v2/app/unknown/thing", "/v3/", "/v2/app/blobs", "/nope", "/v2/app"]:
        response = client.get(url)
        error = assert_error(response, 404, response.json()["errors"][0]["code"])
        assert error["code"] in SPEC_CODES | {"NOT_FOUND"}, (url, error)


def test_wrong_methods_are_405_unsupported_with_allow(client: TestClient) -> None:
    digest = sha256(b"x")
    cases = [
        ("DELETE", "/v2/", {"GET", "HEAD"}),
        ("POST", "/v2/app/manifests/latest", {"GET", "HEAD", "PUT", "DELETE"}),
        ("PATCH", "/v2/app/manifests/latest", {"GET", "HEAD", "PUT", "DELETE"}),
        ("PUT", f"/v2/app/blobs/{digest}", {"GET", "HEAD", "DELETE"}),
        ("POST", f"/v2/app/blobs/{digest}", {"GET", "HEAD", "DELETE"}),
        ("GET", "/v2/app/blobs/uploads/", {"POST"}),
        ("POST", "/v2/app/blobs/uploads/" + "0" * 32, {"GET", "HEAD", "PATCH", "PUT", "DELETE"}),
        ("DELETE", "/v2/app/tags/list", {"GET", "HEAD"}),
        ("POST", "/v2/_catalog", {"GET", "HEAD"}),
        ("PUT", f"/v2/app/referrers/{digest}", {"GET", "HEAD"}),
    ]
    for method, url, allowed in cases:
        response = client.request(method, url)
        assert_error(response, 405, "UNSUPPORTED")
        allow = {m.strip() for m in response.headers["allow"].split(",")}
        assert allow == allowed, (method, url, allow)


def test_deleting_can_be_disabled(make_client: ClientFactory) -> None:
    with make_client(delete_enabled=False) as client:
        _, digest = push_image(client, "app", "v1")
        blob = push_blob(client, "app", b"some blob")
        for url in [
            f"/v2/app/manifests/{digest}",
            "/v2/app/manifests/v1",
            f"/v2/app/blobs/{blob}",
        ]:
            assert_error(client.delete(url), 405, "UNSUPPORTED")
        assert client.get("/v2/app/manifests/v1").status_code == 200
        assert client.get(f"/v2/app/blobs/{blob}").status_code == 200


def test_errors_use_only_known_codes(client: TestClient) -> None:
    responses = [
        client.get("/v2/app/blobs/sha256:xyz"),
        client.get("/v2/app/tags/list?n=-1"),
        client.get(f"/v2/app/blobs/{sha256(b'nothing')}"),
        client.put("/v2/app/manifests/v1", content=b"{", headers={"Content-Type": OCI_MANIFEST}),
        client.get("/v2/Bad/tags/list"),
        client.patch("/v2/app/blobs/uploads/" + "0" * 32, content=b"x"),
    ]
    for response in responses:
        assert 400 <= response.status_code < 500
        for error in response.json()["errors"]:
            assert error["code"] in SPEC_CODES | DISTRIBUTION_CODES, error


@pytest.fixture
def lax_client(make_client: ClientFactory) -> Iterator[TestClient]:
    """References are not checked, so more of what the fuzzer sends reaches the database."""
    with make_client(require_manifest_references=False) as client:
        yield client


_HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
_CONTENT_TYPES = st.sampled_from(
    [None, OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST, "application/json", "text/x"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=_HEALTH)
@given(body=st.binary(max_size=300), content_type=_CONTENT_TYPES)
def test_random_bytes_as_a_manifest_never_cause_a_server_error(
    client: TestClient, body: bytes, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.put("/v2/fuzz/manifests/latest", content=body, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["errors"]


# Strings a database or an encoder may choke on, then any code point (lone surrogates too:
# json.dumps escapes them, which is valid JSON).
_TEXT = st.one_of(
    st.sampled_from(["", "application/vnd.example+json", "a" * 255 + "/b", "a/b\x00", "\ud800"]),
    st.text(st.characters(exclude_categories=()), max_size=300),
)
_FIELD_VALUE = st.one_of(
    _TEXT,
    st.integers(min_value=-5, max_value=2**70),
    st.dictionaries(_TEXT, _TEXT, max_size=2),
    st.sampled_from([None, True, [], {}]),
)
_VALID_DESCRIPTOR = {"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2}
_DESCRIPTOR = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["mediaType", "artifactType"]), _TEXT),
        st.tuples(st.just("annotations"), st.dictionaries(_TEXT, _TEXT, max_size=2)),
        st.tuples(st.sampled_from(["digest", "size"]), _FIELD_VALUE),
    ),
    max_size=2,
).map(lambda changes: {**_VALID_DESCRIPTOR, **dict(changes)})
_BASES = st.sampled_from(
    [
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []},
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _VALID_DESCRIPTOR},
        {"schemaVersion": 2, "manifests": []},
    ]
)
_TOP_KEYS = ["schemaVersion", "mediaType", "config", "layers", "manifests", "subject"]
# A valid manifest with a field or two replaced by anything, descriptors included.
_MANIFEST_DOCS = st.builds(
    lambda base, changes: {**base, **dict(changes)},
    _BASES,
    st.lists(
        st.one_of(
            st.tuples(st.just("artifactType"), _TEXT),
            st.tuples(st.just("annotations"), st.dictionaries(_TEXT, _TEXT, max_size=2)),
            st.tuples(st.sampled_from(["subject", "config"]), _DESCRIPTOR),
            st.tuples(st.sampled_from(["manifests", "layers"]), st.lists(_DESCRIPTOR, max_size=2)),
            st.tuples(st.sampled_from([*_TOP_KEYS, "annotations"]), _FIELD_VALUE),
        ),
        max_size=2,
    ),
)


@settings(max_examples=80, deadline=None, suppress_health_check=_HEALTH)
@given(doc=_MANIFEST_DOCS, content_type=_CONTENT_TYPES)
def test_manifest_shaped_json_never_causes_a_server_error(
    lax_client: TestClient, doc: dict[str, Any], content_type: str | None
) -> None:
    client = lax_client
    body = json.dumps(doc).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.put("/v2/fuzz/manifests/latest", content=body, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code == 201:
        # What was accepted can be read back and listed without a server error too.
        digest = response.headers["docker-content-digest"]
        assert client.get(f"/v2/fuzz/manifests/{digest}").content == body
        subject = doc.get("subject") or {}
        if isinstance(subject, dict) and isinstance(subject.get("digest"), str):
            listed = client.get(f"/v2/fuzz/referrers/{subject['digest']}")
            assert listed.status_code == 200, listed.text
