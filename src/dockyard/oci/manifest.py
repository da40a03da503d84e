"""Parse and validate manifest bytes without re-serializing them.

The digest of the bytes as sent is a manifest's identity, so this module only reads the JSON to
learn what the manifest references; the caller stores the original bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, InvalidDigest


class InvalidManifest(ValueError):
    """Manifest bytes that cannot be accepted; the message says why."""


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    artifact_type: str | None
    subject: Descriptor | None
    blobs: list[Descriptor] = field(default_factory=list)
    manifests: list[Descriptor] = field(default_factory=list)
    annotations: dict[str, str] | None = None

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES


_GENERIC_CONTENT_TYPES = {"", "application/octet-stream", "application/json"}
# RFC 6838 type/subtype, as the image-spec's descriptor schema has it (at most 255 characters).
_MEDIA_TYPE_RE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
)


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    content_type = (content_type or "").split(";")[0].strip().lower()
    if content_type in (mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED):
        raise _schema1()
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidManifest(f"manifest is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidManifest("manifest JSON is nested too deeply") from None
    if not isinstance(doc, dict):
        raise InvalidManifest("manifest must be a JSON object")
    schema_version = doc.get("schemaVersion")
    if isinstance(schema_version, bool):
        raise InvalidManifest(f"schemaVersion must be 2, got {schema_version!r}")
    if schema_version == 1:
        raise _schema1()
    if schema_version != 2:
        raise InvalidManifest(f"schemaVersion must be 2, got {schema_version!r}")
    media_type = _media_type(doc, content_type)
    annotations = _annotations(doc.get("annotations"), "annotations")
    subject = _descriptor(doc["subject"], "subject") if "subject" in doc else None
    artifact_type = _artifact_type(doc.get("artifactType"), "artifactType")
    if media_type in mt.INDEXES:
        _refuse_fields(doc, media_type, ("config", "layers"))
        manifests = _descriptor_list(doc.get("manifests"), "manifests")
        return ParsedManifest(media_type, artifact_type, subject, [], manifests, annotations)
    _refuse_fields(doc, media_type, ("manifests",))
    if "config" not in doc:
        raise InvalidManifest("an image manifest needs a config descriptor")
    config = _descriptor(doc["config"], "config")
    layers = _descriptor_list(doc.get("layers", []), "layers")
    if artifact_type is None and media_type == mt.OCI_MANIFEST:
        artifact_type = config.media_type
    return ParsedManifest(media_type, artifact_type, subject, [config, *layers], [], annotations)


def _refuse_fields(doc: dict[str, Any], media_type: str, fields: tuple[str, ...]) -> None:
    """A document with both an index's and a manifest's fields reads differently to different
    clients (CVE-2021-41190), so what the registry checked might not be what gets pulled."""
    present = [f for f in fields if f in doc]
    if present:
        raise InvalidManifest(f"a {media_type} must not have {' or '.join(present)}")


def _schema1() -> InvalidManifest:
    return InvalidManifest(
        "Docker image manifest schema 1 is not supported: it is deprecated and unsigned; "
        "push with a client that writes schema 2 or OCI manifests"
    )


def _media_type(doc: dict[str, Any], content_type: str) -> str:
    declared = _optional_str(doc, "mediaType")
    if declared is not None:
        if declared not in mt.MANIFESTS:
            raise InvalidManifest(
                f"manifest mediaType {declared!r} is not a supported manifest type"
            )
        if content_type not in _GENERIC_CONTENT_TYPES and content_type != declared:
            raise InvalidManifest(
                f"Content-Type {content_type!r} does not match the manifest's "
                f"mediaType {declared!r}"
            )
        return declared
    if content_type in mt.MANIFESTS:
        return content_type
    if content_type not in _GENERIC_CONTENT_TYPES:
        raise InvalidManifest(f"Content-Type {content_type!r} is not a supported manifest type")
    # No mediaType anywhere (umoci writes such manifests): infer from the shape, as the
    # image-spec's own guidance for consumers does.
    return mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST


def _optional_str(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidManifest(f"{key} must be a string")
    return value


def _artifact_type(value: Any, where: str) -> str | None:
    """A media type (RFC 6838), or None when missing or empty, as the spec treats both."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _MEDIA_TYPE_RE.fullmatch(value):
        raise InvalidManifest(f"{where} must be a media type such as application/vnd.example")
    return value


def _annotations(value: Any, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        _is_text(k) and _is_text(v) for k, v in value.items()
    ):
        raise InvalidManifest(f"{where} must be an object of strings")
    return value


def _is_text(value: Any) -> bool:
    """A string of Unicode characters (JSON's \\ud800 escapes can smuggle in lone surrogates)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _descriptor_list(value: Any, where: str) -> list[Descriptor]:
    if not isinstance(value, list):
        raise InvalidManifest(f"{where} must be a list of descriptors")
    return [_descriptor(item, f"{where}[{i}]") for i, item in enumerate(value)]


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise InvalidManifest(f"{where} must be a descriptor object")
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not _MEDIA_TYPE_RE.fullmatch(media_type):
        raise InvalidManifest(f"{where}.mediaType must be a media type such as {mt.OCI_EMPTY}")
    digest = value.get("digest")
    if not isinstance(digest, str):
        raise InvalidManifest(f"{where}.digest must be a string")
    try:
        Digest.parse(digest)
    except InvalidDigest as exc:
        raise InvalidManifest(f"{where}.digest: {exc}") from None
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidManifest(f"{where}.size must be a non-negative integer")
    artifact_type = _artifact_type(value.get("artifactType"), f"{where}.artifactType")
    annotations = _annotations(value.get("annotations"), f"{where}.annotations")
    return Descriptor(media_type, digest, size, artifact_type, annotations)
