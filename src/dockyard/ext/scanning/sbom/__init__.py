"""SBOMs of an image's inventory: CycloneDX 1.6 and SPDX 2.3 JSON, and the OCI artifact that
attaches one to its image as a referrer."""

from dockyard.ext.scanning.sbom.artifact import (
    CYCLONEDX_JSON,
    EMPTY_CONFIG,
    EMPTY_CONFIG_BYTES,
    SPDX_JSON,
    blob_descriptor,
    sbom_artifact_manifest,
)
from dockyard.ext.scanning.sbom.cdx import cyclonedx_json
from dockyard.ext.scanning.sbom.image import SbomImage, image_purl
from dockyard.ext.scanning.sbom.spdx import spdx_json

__all__ = [
    "CYCLONEDX_JSON",
    "EMPTY_CONFIG",
    "EMPTY_CONFIG_BYTES",
    "SPDX_JSON",
    "SbomImage",
    "blob_descriptor",
    "cyclonedx_json",
    "image_purl",
    "sbom_artifact_manifest",
    "spdx_json",
]
