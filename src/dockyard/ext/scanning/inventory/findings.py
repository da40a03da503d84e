"""What detectors see (a `Member` of a layer) and what they leave behind (a `Finding`).

A finding is kept per path in the merged filesystem view until every layer has been read. OS
package records only become `Package`s at the end, because their ecosystem, purl and release come
from `etc/os-release`, which any layer (even a later one) may provide.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from packageurl import PackageURL

from dockyard.ext.scanning.packages import Distro, Package

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Member:
    """One regular file of a layer, as the detectors see it."""

    path: str  # normalised: relative to the image root, no "./" or leading "/"
    layer: str  # digest of the layer
    size: int
    mode: int


class Finding(Protocol):
    """What one file contributed to the image."""

    def packages(self, distro: Distro | None) -> Iterable[Package]: ...


@dataclass(frozen=True, slots=True)
class Found:
    """Packages that do not depend on the distribution (language packages, binaries)."""

    items: tuple[Package, ...]

    def packages(self, distro: Distro | None) -> Iterable[Package]:
        return self.items


@dataclass(frozen=True, slots=True)
class OsRelease:
    """`etc/os-release`: names the distribution, contributes no packages itself."""

    distro: Distro

    def packages(self, distro: Distro | None) -> Iterable[Package]:
        return ()


class Readable(Protocol):
    """A binary stream read front to back (a tar member, a decompressed layer)."""

    def read(self, size: int = -1, /) -> bytes: ...


class DetectorError(ValueError):
    """A file a detector wanted turned out unreadable; reported as a problem of its layer."""


def os_purl(
    kind: str,
    namespace: str | None,
    name: str,
    version: str,
    arch: str,
    distro: str,
    **extra: str,
) -> str:
    """The purl of an OS package (deb, apk, rpm): arch and distro (e.g. `debian-12`) as
    qualifiers when known, plus any `extra` (rpm's epoch)."""
    qualifiers = {"arch": arch} if arch else {}
    qualifiers.update(extra)
    if distro:
        qualifiers["distro"] = distro
    return str(
        PackageURL(
            type=kind, namespace=namespace, name=name, version=version, qualifiers=qualifiers
        ).to_string()
    )
