"""What the pull rules apply to: every manifest but signatures, attestations and SBOMs, and
for an index, the images it lists."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dockyard.ext.scanning.signatures.discovery import (
    COSIGN_SIMPLESIGNING,
    DSSE_ENVELOPE,
    IN_TOTO,
    NOTATION_SIGNATURE_ARTIFACT,
    SBOM_ARTIFACTS,
    SIGSTORE_BUNDLE_PREFIX,
)
from dockyard.oci import mediatypes as mt

# Layers that carry signatures, attestations or SBOMs rather than a filesystem.
ATTACHMENT_LAYERS = frozenset(
    {
        COSIGN_SIMPLESIGNING,
        DSSE_ENVELOPE,
        IN_TOTO,
        mt.OCI_EMPTY,
        "application/jose+json",  # Notation (JWS)
        "application/cose",  # Notation (COSE)
        *SBOM_ARTIFACTS,
    }
)


# --- what the rules apply to --------------------------------------------------------------------


def _document(payload: bytes) -> Mapping[str, Any] | None:
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def exemption(media_type: str, payload: bytes) -> str | None:
    """Why no rule applies to this manifest, or None: signatures, attestations and SBOMs
    (an image manifest whose layers all carry such content; a runtime cannot run them) are
    what clients fetch to verify an image, so a policy must never keep them from it."""
    if media_type in mt.INDEXES:
        return None
    doc = _document(payload)
    if doc is None:
        return None
    layers = doc.get("layers")
    if not isinstance(layers, list):
        return None
    types = [layer.get("mediaType") if isinstance(layer, dict) else None for layer in layers]
    if not types and doc.get("subject") is None:
        return None
    if all(_attachment_layer(t) for t in types):
        return "a signature, attestation or SBOM: its layers are not a filesystem"
    return None


def _attachment_layer(media_type: object) -> bool:
    if not isinstance(media_type, str):
        return False
    media_type = media_type.split(";")[0].strip().lower()
    return (
        media_type in ATTACHMENT_LAYERS
        or media_type.startswith(SIGSTORE_BUNDLE_PREFIX)
        or media_type.startswith("application/vnd.in-toto")
        or media_type == NOTATION_SIGNATURE_ARTIFACT
    )


def index_images(payload: bytes) -> list[str]:
    """The image manifests an index lists, without BuildKit's attestation manifests (which
    carry provenance, not a platform): what its scan is the union of."""
    doc = _document(payload)
    listed = doc.get("manifests") if doc is not None else None
    if not isinstance(listed, list):
        return []
    found: list[str] = []
    for entry in listed:
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            continue
        annotations = entry.get("annotations")
        if isinstance(annotations, dict) and (
            annotations.get("vnd.docker.reference.type") == "attestation-manifest"
        ):
            continue
        platform = entry.get("platform")
        if isinstance(platform, dict) and platform.get("os") == "unknown":
            continue
        if entry["digest"] not in found:
            found.append(entry["digest"])
    return found
