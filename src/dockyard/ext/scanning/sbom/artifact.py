"""An SBOM stored next to its image as an OCI 1.1 artifact: a manifest whose `subject` is the
image, so the referrers API lists it under the image (as `oras attach` and Trivy store them)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dockyard.ext.scanning.sbom.image import rfc3339_utc
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.oci.manifest import Descriptor

CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
SPDX_JSON = "application/spdx+json"
CREATED_ANNOTATION = "org.opencontainers.image.created"

# The image-spec's empty descriptor: an artifact with no config points at the blob `{}`.
EMPTY_CONFIG_BYTES = b"{}"
EMPTY_CONFIG: dict[str, Any] = {
    "mediaType": mt.OCI_EMPTY,
    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    "size": 2,
}


def blob_descriptor(data: bytes, media_type: str) -> dict[str, Any]:
    """The descriptor of a blob about to be pushed (the SBOM document itself)."""
    return {"mediaType": media_type, "digest": str(Digest.of(data)), "size": len(data)}


def sbom_artifact_manifest(
    subject_descriptor: Descriptor | Mapping[str, Any],
    sbom_bytes_descriptor: Descriptor | Mapping[str, Any],
    artifact_type: str,
    annotations: Mapping[str, str] | None = None,
    *,
    created: datetime | None = None,
) -> dict[str, Any]:
    """The OCI image manifest that attaches the SBOM blob to the image `subject_descriptor`.

    Push `EMPTY_CONFIG_BYTES` and the SBOM blob first; the manifest references both.
    """
    stamp = rfc3339_utc(created or datetime.now(UTC))
    return {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": dict(EMPTY_CONFIG),
        "layers": [_plain(sbom_bytes_descriptor)],
        "subject": _plain(subject_descriptor),
        # The creation time lets clients pick the newest SBOM among several for one image.
        "annotations": {CREATED_ANNOTATION: stamp, **(annotations or {})},
    }


def _plain(descriptor: Descriptor | Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(descriptor, Descriptor):
        return dict(descriptor)
    found: dict[str, Any] = {
        "mediaType": descriptor.media_type,
        "digest": descriptor.digest,
        "size": descriptor.size,
    }
    if descriptor.artifact_type:
        found["artifactType"] = descriptor.artifact_type
    if descriptor.annotations:
        found["annotations"] = dict(descriptor.annotations)
    return found
