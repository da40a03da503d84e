"""The image an SBOM describes, and what both SBOM formats say about packages in the same way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from packageurl import PackageURL

from dockyard.ext.scanning.packages import Package
from dockyard.oci.digest import Digest


@dataclass(frozen=True, slots=True)
class SbomImage:
    repository: str  # "team/app"
    digest: str  # the manifest digest: the image's identity
    tag: str | None = None
    created: datetime | None = None  # when the image was built (its config's `created`)
    # Where clients pull from ("registry.example.com:5000"); without it the image's purl cannot
    # say where the image lives and leaves `repository_url` out.
    registry: str = ""

    def __post_init__(self) -> None:
        Digest.parse(self.digest)  # an SBOM for "an image" that is not one helps nobody

    @property
    def display_name(self) -> str:
        tagged = f"{self.repository}:{self.tag}" if self.tag else self.repository
        return f"{tagged}@{self.digest}"


def image_purl(image: SbomImage) -> str:
    """`pkg:oci/<name>@<digest>?repository_url=<registry>/<repository>&tag=<tag>`, per the purl
    spec's oci type: the name is the last path segment, the digest is the version."""
    qualifiers = {}
    if image.registry:
        qualifiers["repository_url"] = f"{image.registry}/{image.repository}"
    if image.tag:
        qualifiers["tag"] = image.tag
    name = image.repository.rsplit("/", 1)[-1].lower()
    return PackageURL(
        type="oci", name=name, version=image.digest, qualifiers=qualifiers
    ).to_string()


def canonical_purl(text: str) -> str | None:
    """The purl in packageurl-python's canonical form, or None when it does not parse; both SBOM
    formats print the same string for the same package."""
    try:
        return PackageURL.from_string(text).to_string()
    except ValueError:
        return None


def as_utc(moment: datetime) -> datetime:
    """A time without a zone is taken to be UTC: neither format can write one without."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def rfc3339_utc(moment: datetime) -> str:
    """UTC to the second with a Z: the one form SPDX accepts, and what OCI annotations use."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def found_at(package: Package) -> str:
    """Where the inventory found a package, in words."""
    text = f"found at /{package.path.lstrip('/')}" if package.path else "found in the image"
    if package.layer:
        text += f" in layer {package.layer}"
    if package.source_name:
        source = f"{package.source_name} {package.source_version}".strip()
        text += f"; source package {source}"
    return text
