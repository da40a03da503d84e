"""Which ecosystem a package from another scanner's Harbor report belongs to.

Harbor's report names a package and a version, never its ecosystem, and `Package` needs one.
In order of trust: a package URL among the item's vendor attributes; the advisory id's prefix
(PYSEC-, GO-, RUSTSEC-, DSA-, USN-, ALPINE-, RHSA-, …); the version's shape, which tells the
distributions apart (Alpine's `-r0`, rpm's `.el9`, Ubuntu's `ubuntu`). What is left (a CVE id on
a plain version) is counted as Debian: Harbor adapters declare themselves OS package scanners
(`scanner-type: os-package-vulnerability`) and Debian is the most common base of images. Such a
guess never reaches the package URL, which stays `pkg:generic/…` unless the report gave one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from packageurl import PackageURL

from dockyard.ext.scanning.packages import Ecosystem

FALLBACK = Ecosystem.DEBIAN

_ID_PREFIXES: tuple[tuple[str, Ecosystem], ...] = (
    ("PYSEC-", Ecosystem.PYPI),
    ("GO-", Ecosystem.GO),
    ("RUSTSEC-", Ecosystem.CRATES_IO),
    ("DSA-", Ecosystem.DEBIAN),
    ("DLA-", Ecosystem.DEBIAN),
    ("DTSA-", Ecosystem.DEBIAN),
    ("DEBIAN-", Ecosystem.DEBIAN),
    ("USN-", Ecosystem.UBUNTU),
    ("UBUNTU-", Ecosystem.UBUNTU),
    ("ALPINE-", Ecosystem.ALPINE),
    ("CGA-", Ecosystem.WOLFI),  # Chainguard's advisories for Wolfi
    ("RHSA-", Ecosystem.RPM),
    ("RHBA-", Ecosystem.RPM),
    ("RHEA-", Ecosystem.RPM),
    ("ALSA-", Ecosystem.RPM),
    ("RLSA-", Ecosystem.RPM),
    ("ELSA-", Ecosystem.RPM),
)
_ALPINE_VERSION = re.compile(r"-r\d+$")
_RPM_VERSION = re.compile(r"\.(?:el|fc|amzn|mga|module\+el|ph|cm)\d", re.IGNORECASE)

_PURL_TYPES: dict[str, Ecosystem] = {
    "pypi": Ecosystem.PYPI,
    "npm": Ecosystem.NPM,
    "golang": Ecosystem.GO,
    "maven": Ecosystem.MAVEN,
    "cargo": Ecosystem.CRATES_IO,
    "rpm": Ecosystem.RPM,
}
_PURL_NAMESPACES: dict[tuple[str, str], Ecosystem] = {
    ("deb", "debian"): Ecosystem.DEBIAN,
    ("deb", "ubuntu"): Ecosystem.UBUNTU,
    ("apk", "alpine"): Ecosystem.ALPINE,
    ("apk", "wolfi"): Ecosystem.WOLFI,
    ("apk", "chainguard"): Ecosystem.WOLFI,
}


def parse_ecosystem(text: str) -> Ecosystem | None:
    try:
        return Ecosystem(text)
    except ValueError:
        return None


def guess_ecosystem(advisory_id: str, version: str, attributes: object) -> Ecosystem:
    purl = _vendor_purl(attributes)
    if purl is not None:
        found = _from_purl(purl)
        if found is not None:
            return found
    upper = advisory_id.upper()
    for prefix, ecosystem in _ID_PREFIXES:
        if upper.startswith(prefix):
            return ecosystem
    if _ALPINE_VERSION.search(version):
        return Ecosystem.ALPINE
    if _RPM_VERSION.search(version):
        return Ecosystem.RPM
    if "ubuntu" in version:
        return Ecosystem.UBUNTU
    return FALLBACK


def package_purl(name: str, version: str, attributes: object) -> str:
    """The report's own package URL when it has one, else `pkg:generic/<name>@<version>`: the
    purl type for a package whose kind is not known."""
    purl = _vendor_purl(attributes)
    if purl is not None:
        return purl.to_string()
    return PackageURL(type="generic", name=name, version=version or None).to_string()


def _vendor_purl(attributes: object) -> PackageURL | None:
    """The first vendor attribute that parses as a package URL (adapters name the key
    differently: `purl`, `pkg_purl`, `PkgIdentifier.PURL`)."""
    if not isinstance(attributes, Mapping):
        return None
    for value in _strings(attributes):
        if value.startswith("pkg:"):
            try:
                return PackageURL.from_string(value)
            except ValueError:
                continue
    return None


def _strings(attributes: Mapping[object, object], depth: int = 0) -> list[str]:
    found: list[str] = []
    for value in attributes.values():
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, Mapping) and depth < 2:
            found.extend(_strings(value, depth + 1))
    return found


def _from_purl(purl: PackageURL) -> Ecosystem | None:
    kind, namespace = purl.type.lower(), (purl.namespace or "").lower()
    return _PURL_TYPES.get(kind) or _PURL_NAMESPACES.get((kind, namespace))
