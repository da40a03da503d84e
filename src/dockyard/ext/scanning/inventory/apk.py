"""apk (Alpine, Wolfi): `lib/apk/db/installed`.

The format (apk-tools' "installed database", https://wiki.alpinelinux.org/wiki/Apk_spec): one
paragraph per package, separated by blank lines, each line `<letter>:<value>`. We read `P`
(name), `V` (version), `A` (architecture), `o` (origin: the source package advisories name) and
`L` (license); the many `F:`/`R:` file lines are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dockyard.ext.scanning.inventory import osrelease
from dockyard.ext.scanning.inventory.findings import Member, MiB, os_purl
from dockyard.ext.scanning.packages import Distro, Ecosystem, Package

INSTALLED = "lib/apk/db/installed"
MAX_SIZE = 64 * MiB
_WANTED = frozenset("PVAoL")


def matches(path: str) -> bool:
    return path == INSTALLED


@dataclass(frozen=True, slots=True)
class ApkRecord:
    name: str
    version: str
    arch: str
    origin: str
    license: str


@dataclass(frozen=True, slots=True)
class ApkFinding:
    records: tuple[ApkRecord, ...]
    path: str
    layer: str

    def packages(self, distro: Distro | None) -> Iterable[Package]:
        wolfi = distro is not None and distro.id == "wolfi"
        namespace = "wolfi" if wolfi else "alpine"
        release = osrelease.release(distro)
        for record in self.records:
            distro_name = f"{namespace}-{release}" if release else ""
            purl = os_purl("apk", namespace, record.name, record.version, record.arch, distro_name)
            yield Package(
                name=record.name,
                version=record.version,
                ecosystem=Ecosystem.WOLFI if wolfi else Ecosystem.ALPINE,
                purl=purl,
                path=self.path,
                layer=self.layer,
                distro_release=release,
                source_name=record.origin or record.name,
                source_version=record.version,
                licenses=(record.license,) if record.license else (),
            )


def parse(member: Member, data: bytes) -> ApkFinding | None:
    text = data.decode("utf-8", "replace")
    records = tuple(_records(text))
    if not records:
        return None
    return ApkFinding(records, member.path, member.layer)


def _records(text: str) -> Iterator[ApkRecord]:
    fields: dict[str, str] = {}
    for line in [*text.splitlines(), ""]:
        if not line.strip():
            if fields.get("P") and fields.get("V"):
                yield ApkRecord(
                    name=fields["P"],
                    version=fields["V"],
                    arch=fields.get("A", ""),
                    origin=fields.get("o", ""),
                    license=fields.get("L", ""),
                )
            fields = {}
        elif line[1:2] == ":" and line[0] in _WANTED:
            fields[line[0]] = line[2:].strip()
