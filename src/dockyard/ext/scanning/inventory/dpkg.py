"""dpkg: `var/lib/dpkg/status` and distroless' one-file-per-package `var/lib/dpkg/status.d/*`.

Both are deb822 paragraphs (deb-control(5)); a package counts when the third word of its `Status`
is `installed` (`install ok installed`, and `hold`/`deinstall ok installed`, which are still on
disk). Debian and Ubuntu advisories are filed under the source package, so `Source:` is kept; it
reads `name` or `name (version)` when the source version differs from the binary's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from debian.deb822 import Deb822

from dockyard.ext.scanning.inventory import osrelease
from dockyard.ext.scanning.inventory.findings import Member, MiB, os_purl
from dockyard.ext.scanning.packages import Distro, Ecosystem, Package

STATUS = "var/lib/dpkg/status"
STATUS_DIR = "var/lib/dpkg/status.d/"
MAX_SIZE = 64 * MiB
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?$")


def matches(path: str) -> bool:
    if path == STATUS:
        return True
    if not path.startswith(STATUS_DIR):
        return False
    name = path[len(STATUS_DIR) :]
    return "/" not in name and not name.endswith(".md5sums")


@dataclass(frozen=True, slots=True)
class DebRecord:
    name: str
    version: str
    arch: str
    source_name: str
    source_version: str


@dataclass(frozen=True, slots=True)
class DpkgFinding:
    records: tuple[DebRecord, ...]
    path: str
    layer: str

    def packages(self, distro: Distro | None) -> Iterable[Package]:
        ubuntu = distro is not None and distro.id == "ubuntu"
        namespace = "ubuntu" if ubuntu else "debian"
        release = osrelease.release(distro)
        for record in self.records:
            distro_name = f"{namespace}-{release}" if release else ""
            purl = os_purl("deb", namespace, record.name, record.version, record.arch, distro_name)
            yield Package(
                name=record.name,
                version=record.version,
                ecosystem=Ecosystem.UBUNTU if ubuntu else Ecosystem.DEBIAN,
                purl=purl,
                path=self.path,
                layer=self.layer,
                distro_release=release,
                source_name=record.source_name,
                source_version=record.source_version,
            )


def parse(member: Member, data: bytes) -> DpkgFinding | None:
    text = data.decode("utf-8", "replace")
    records = tuple(filter(None, map(_record, Deb822.iter_paragraphs(text, use_apt_pkg=False))))
    if not records:
        return None
    return DpkgFinding(records, member.path, member.layer)


def _record(paragraph: Deb822) -> DebRecord | None:
    name = paragraph.get("Package", "").strip()
    version = paragraph.get("Version", "").strip()
    status = paragraph.get("Status", "").split()
    if not name or not version or (status and status[-1:] != ["installed"]):
        return None
    source_name, source_version = name, version
    found = _SOURCE.match(paragraph.get("Source", "").strip())
    if found:
        source_name = found.group("name")
        source_version = found.group("version") or version
    return DebRecord(
        name=name,
        version=version,
        arch=paragraph.get("Architecture", "").strip(),
        source_name=source_name,
        source_version=source_version,
    )
