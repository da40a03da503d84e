"""Manifest parsing: what a manifest references, its type, subject and artifact type."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.oci import mediatypes as mt
from dockyard.oci.manifest import Descriptor, InvalidManifest, ParsedManifest, parse_manifest

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha512:" + "3" * 128
CONFIG = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D1, "size": 7}
LAYER = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": D2, "size": 9}
SUBJECT = {"mediaType": mt.OCI_MANIFEST, "digest": D3, "size": 11}


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def image(**changes: Any) -> dict[str, Any]:
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": CONFIG, "layers": [LAYER]}
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not ...}


def index(**changes: Any) -> dict[str, Any]:
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [SUBJECT]}
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not ...}


def test_oci_image_manifest() -> None:
    parsed = parse_manifest(encode(image(annotations={"a": "b"})), mt.OCI_MANIFEST)
    assert parsed == ParsedManifest(
        media_type=mt.OCI_MANIFEST,
        artifact_type=CONFIG["mediaType"],  # no artifactType: the config's media type
        subject=None,
        blobs=[Descriptor(CONFIG["mediaType"], D1, 7), Descriptor(LAYER["mediaType"], D2, 9)],
        manifests=[],
        annotations={"a": "b"},
    )
    assert not parsed.is_index


def test_artifact_manifest_with_subject() -> None:
    config = {"mediaType": mt.OCI_EMPTY, "digest": D1, "size": 2}
    doc = image(artifactType="application/vnd.example+json", config=config, subject=SUBJECT)
    parsed = parse_manifest(encode(doc), mt.OCI_MANIFEST)
    assert parsed.artifact_type == "application/vnd.example+json"
    assert parsed.subject == Descriptor(mt.OCI_MANIFEST, D3, 11)


def test_empty_artifact_type_means_the_config_media_type() -> None:
    parsed = parse_manifest(encode(image(artifactType="")), mt.OCI_MANIFEST)
    assert parsed.artifact_type == CONFIG["mediaType"]


def test_docker_manifest_has_no_artifact_type() -> None:
    parsed = parse_manifest(encode(image(mediaType=mt.DOCKER_MANIFEST)), mt.DOCKER_MANIFEST)
    assert parsed.media_type == mt.DOCKER_MANIFEST
    assert parsed.artifact_type is None


@pytest.mark.parametrize("media_type", [mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST])
def test_indexes(media_type: str) -> None:
    entry = {**SUBJECT, "platform": {"os": "linux"}, "annotations": {"x": "y"}}
    parsed = parse_manifest(encode(index(mediaType=media_type, manifests=[entry])), media_type)
    assert parsed.is_index
    assert parsed.media_type == media_type
    assert parsed.blobs == []
    assert parsed.manifests == [Descriptor(mt.OCI_MANIFEST, D3, 11, None, {"x": "y"})]
    assert parsed.artifact_type is None


def test_index_artifact_type_and_subject() -> None:
    doc = index(artifactType="application/vnd.example+json", subject=SUBJECT, manifests=[])
    parsed = parse_manifest(encode(doc), mt.OCI_INDEX)
    assert parsed.artifact_type == "application/vnd.example+json"
    assert parsed.subject is not None and parsed.subject.digest == D3


@pytest.mark.parametrize(
    ("doc", "content_type", "expected"),
    [
        (image(mediaType=...), mt.OCI_MANIFEST, mt.OCI_MANIFEST),
        (image(mediaType=...), mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST),
        (image(mediaType=...), None, mt.OCI_MANIFEST),
        (image(mediaType=...), "application/json", mt.OCI_MANIFEST),
        (index(mediaType=...), None, mt.OCI_INDEX),
        (index(mediaType=...), mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST_LIST),
        (image(), "application/octet-stream", mt.OCI_MANIFEST),
        (image(), f"{mt.OCI_MANIFEST}; charset=utf-8", mt.OCI_MANIFEST),
        (image(), mt.OCI_MANIFEST.upper(), mt.OCI_MANIFEST),
    ],
)
def test_media_type_from_body_or_content_type(
    doc: dict[str, Any], content_type: str | None, expected: str
) -> None:
    assert parse_manifest(encode(doc), content_type).media_type == expected


@pytest.mark.parametrize(
    "content_type",
    [mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED, f"{mt.DOCKER_SCHEMA1_SIGNED}; x=y", None],
)
def test_schema1_is_unsupported(content_type: str | None) -> None:
    body = encode({"schemaVersion": 1, "name": "a", "tag": "b", "fsLayers": []})
    with pytest.raises(InvalidManifest, match="schema 1 is not supported"):
        parse_manifest(body, content_type)


INVALID: dict[str, tuple[bytes, str | None]] = {
    "not json": (b"{nope", mt.OCI_MANIFEST),
    "not utf-8": (b'{"a": "\xff"}', None),
    "too deep": (b"[" * 50_000 + b"]" * 50_000, None),
    "array": (b"[1]", None),
    "number": (b"2", None),
    "schema version 3": (encode(image(schemaVersion=3)), None),
    "schema version string": (encode(image(schemaVersion="2")), None),
    "schema version true": (encode(image(schemaVersion=True)), None),
    "no schema version": (encode(image(schemaVersion=...)), None),
    "unknown media type": (encode(image(mediaType="application/x-nope")), None),
    "media type not a string": (encode(image(mediaType=5)), None),
    "content type disagrees": (encode(image()), mt.OCI_INDEX),
    "unknown content type": (encode(image(mediaType=...)), "text/plain"),
    "no config": (encode(image(config=...)), None),
    "config is a list": (encode(image(config=[CONFIG])), None),
    "config without digest": (encode(image(config={"mediaType": mt.OCI_EMPTY, "size": 2})), None),
    "config digest malformed": (encode(image(config={**CONFIG, "digest": "sha256:1"})), None),
    "config size negative": (encode(image(config={**CONFIG, "size": -1})), None),
    "config size float": (encode(image(config={**CONFIG, "size": 1.5})), None),
    "config size bool": (encode(image(config={**CONFIG, "size": True})), None),
    "config media type empty": (encode(image(config={**CONFIG, "mediaType": ""})), None),
    "config media type odd": (encode(image(config={**CONFIG, "mediaType": "a b/c"})), None),
    "config media type newline": (encode(image(config={**CONFIG, "mediaType": "a/b\n"})), None),
    "layers not a list": (encode(image(layers=LAYER)), None),
    "layer null": (encode(image(layers=[None])), None),
    "index manifests missing": (encode(index(manifests=...)), None),
    "index manifests object": (encode(index(manifests=SUBJECT)), None),
    "artifact type not a media type": (encode(image(artifactType="sbom")), None),
    "artifact type too long": (encode(image(artifactType="a/" + "b" * 200)), None),
    "artifact type with nul": (encode(image(artifactType="a/b\x00")), None),
    "artifact type a list": (encode(image(artifactType=["a/b"])), None),
    "annotations a list": (encode(image(annotations=["a"])), None),
    "annotation value a number": (encode(image(annotations={"a": 1})), None),
    "annotation lone surrogate": (encode(image(annotations={"\udc00": "x"})), None),
    "subject null": (encode(image(subject=None)), None),
    "subject digest bad": (encode(image(subject={**SUBJECT, "digest": "x"})), None),
    "image with manifests": (encode(image(manifests=[])), None),
    "index with config": (encode(index(config=CONFIG)), None),
    "index with layers": (encode(index(layers=[])), None),
    "undeclared index with layers": (encode(index(mediaType=..., layers=[LAYER])), None),
    "descriptor artifact type bad": (
        encode(index(manifests=[{**SUBJECT, "artifactType": 1}])),
        None,
    ),
}


@pytest.mark.parametrize("case", INVALID)
def test_invalid_manifests(case: str) -> None:
    body, content_type = INVALID[case]
    with pytest.raises(InvalidManifest):
        parse_manifest(body, content_type)


def test_layers_may_be_empty_or_absent() -> None:
    assert len(parse_manifest(encode(image(layers=[])), None).blobs) == 1
    assert len(parse_manifest(encode(image(layers=...)), None).blobs) == 1


@given(st.binary(max_size=400), st.sampled_from([None, mt.OCI_MANIFEST, mt.OCI_INDEX, "x/y"]))
def test_any_bytes_parse_or_raise_invalid_manifest(body: bytes, content_type: str | None) -> None:
    with contextlib.suppress(InvalidManifest):
        parse_manifest(body, content_type)
