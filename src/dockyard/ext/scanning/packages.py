"""What an inventory finds in an image: packages, each with its OSV ecosystem and purl.

The shared vocabulary of the inventory (which produces packages), the matcher (which looks them
up in OSV advisories) and the SBOM writers (which list them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Ecosystem(StrEnum):
    """OSV ecosystem names, exactly as advisories spell them in `affected[].package.ecosystem`."""

    DEBIAN = "Debian"
    UBUNTU = "Ubuntu"
    ALPINE = "Alpine"
    WOLFI = "Wolfi"
    RPM = "Red Hat"  # rpm-based distributions; the distro decides the advisory source
    PYPI = "PyPI"
    NPM = "npm"
    GO = "Go"
    MAVEN = "Maven"
    CRATES_IO = "crates.io"


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    version: str
    ecosystem: Ecosystem
    purl: str  # package URL (https://github.com/package-url/purl-spec)
    path: str  # where in the image it was found, e.g. "var/lib/dpkg/status", "usr/bin/weed"
    layer: str = ""  # digest of the layer that provided it
    # The distribution release for OS packages ("12" for Debian bookworm, "3.19" for Alpine),
    # because distro advisories are per release: OSV ecosystem "Debian:12", "Alpine:v3.19".
    distro_release: str = ""
    # Source package for dpkg/apk/rpm binaries (advisories name the source package).
    source_name: str = ""
    source_version: str = ""
    licenses: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Distro:
    """From `etc/os-release`: `ID` and `VERSION_ID`."""

    id: str
    version_id: str
    pretty_name: str = ""


@dataclass(frozen=True, slots=True)
class LayerProblem:
    """A layer the inventory could not read whole (e.g. a tar that ends early): reported, not
    fatal, so the rest of the image is still inventoried."""

    layer: str
    reason: str


@dataclass(frozen=True, slots=True)
class Inventory:
    packages: tuple[Package, ...]
    distro: Distro | None = None
    problems: tuple[LayerProblem, ...] = ()
