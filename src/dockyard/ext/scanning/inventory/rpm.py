"""RPM: the sqlite package database (`rpmdb.sqlite`, rpm ≥ 4.16: RHEL/UBI 9, Fedora 33+, Rocky,
Alma, Amazon Linux 2023, openSUSE).

The database has a `Packages` table (`hnum`, `blob`) with one header blob per installed package;
`rpmheader` reads the blob. sqlite needs a real file, so the dispatcher spools the member first.
The older Berkeley DB (`Packages`) and NDB (`Packages.db`) databases are not read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from dockyard.ext.scanning.inventory import rpmheader as h
from dockyard.ext.scanning.inventory.findings import DetectorError, Member, MiB, os_purl
from dockyard.ext.scanning.packages import Distro, Ecosystem, Package

PATHS = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
MAX_SIZE = 512 * MiB
_NAMESPACES = {"rhel": "redhat"}  # purl's namespace for Red Hat Enterprise Linux


def matches(path: str) -> bool:
    return path in PATHS


@dataclass(frozen=True, slots=True)
class RpmRecord:
    name: str
    version: str  # "[epoch:]version-release", the form rpm compares
    purl_version: str  # "version-release"; the epoch is a purl qualifier
    epoch: int | None
    arch: str
    source_name: str
    source_version: str
    license: str


@dataclass(frozen=True, slots=True)
class RpmFinding:
    records: tuple[RpmRecord, ...]
    path: str
    layer: str

    def packages(self, distro: Distro | None) -> Iterable[Package]:
        namespace = _NAMESPACES.get(distro.id, distro.id) if distro else None
        release = distro.version_id if distro else ""
        for record in self.records:
            epoch = {"epoch": str(record.epoch)} if record.epoch else {}
            distro_name = f"{distro.id}-{release}" if distro and release else ""
            purl = os_purl(
                "rpm",
                namespace,
                record.name,
                record.purl_version,
                record.arch,
                distro_name,
                **epoch,
            )
            yield Package(
                name=record.name,
                version=record.version,
                ecosystem=Ecosystem.RPM,
                purl=purl,
                path=self.path,
                layer=self.layer,
                distro_release=release,
                source_name=record.source_name,
                source_version=record.source_version,
                licenses=(record.license,) if record.license else (),
            )


def parse(member: Member, file: Path) -> RpmFinding | None:
    # immutable=1: the copy is a read-only snapshot, no locks, no -wal/-shm files beside it.
    uri = f"{file.as_uri()}?immutable=1"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as db:
            blobs = [row[0] for row in db.execute("SELECT blob FROM Packages ORDER BY hnum")]
    except sqlite3.Error as exc:
        raise DetectorError(f"not an rpm sqlite database: {exc}") from exc
    records = tuple(
        record for blob in blobs if (record := _record(h.parse_header(bytes(blob)))) is not None
    )
    return RpmFinding(records, member.path, member.layer) if records else None


def _record(tags: dict[int, str | int]) -> RpmRecord | None:
    name, version, release = (str(tags.get(tag, "")) for tag in (h.NAME, h.VERSION, h.RELEASE))
    # gpg-pubkey entries are imported signing keys that rpm files as packages.
    if not name or not version or name == "gpg-pubkey":
        return None
    epoch = tags.get(h.EPOCH)
    epoch = epoch if isinstance(epoch, int) else None
    full = f"{version}-{release}" if release else version
    prefix = f"{epoch}:" if epoch else ""
    source_name, source_version = _source(str(tags.get(h.SOURCERPM, "")))
    return RpmRecord(
        name=name,
        version=prefix + full,
        purl_version=full,
        epoch=epoch,
        arch=str(tags.get(h.ARCH, "")),
        source_name=source_name or name,
        source_version=prefix + (source_version or full),
        license=str(tags.get(h.LICENSE, "")),
    )


def _source(sourcerpm: str) -> tuple[str, str]:
    """`bash-5.1.8-6.el9.src.rpm` → ("bash", "5.1.8-6.el9")."""
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if sourcerpm.endswith(suffix):
            parts = sourcerpm[: -len(suffix)].rsplit("-", 2)
            if len(parts) == 3:
                return parts[0], f"{parts[1]}-{parts[2]}"
    return "", ""
