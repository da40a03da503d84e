"""Java: `META-INF/maven/<group>/<artifact>/pom.properties` inside `*.jar`, `*.war` and `*.ear`
archives, and inside the archives those carry one level down (Spring Boot's `BOOT-INF/lib/`,
`WEB-INF/lib/`, an EAR's modules).

Archives are zip files, which need random access: the dispatcher spools the member to a temporary
file, and a nested archive is copied to its own temporary file (capped) before it is opened.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from packageurl import PackageURL

from dockyard.ext.scanning.inventory.findings import DetectorError, Found, Member, MiB
from dockyard.ext.scanning.packages import Ecosystem, Package

MAX_SIZE = 512 * MiB
NESTED_MAX_SIZE = 64 * MiB
_POM_MAX_SIZE = 64 * 1024  # a few lines; a forged size must not inflate into memory
_ARCHIVE = re.compile(r"\.(?:jar|war|ear)$", re.IGNORECASE)
_POM = re.compile(r"^META-INF/maven/[^/]+/[^/]+/pom\.properties$")
_PROPERTY = re.compile(r"([^=:\s]+)\s*[=:]\s*(.*)$")


def matches(path: str) -> bool:
    return _ARCHIVE.search(path) is not None


def parse(member: Member, file: Path) -> Found | None:
    try:
        with zipfile.ZipFile(file) as archive:
            packages = tuple(_archive_packages(archive, member, member.path))
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise DetectorError(f"not a readable zip archive: {exc}") from exc
    return Found(packages) if packages else None


def _archive_packages(archive: zipfile.ZipFile, member: Member, where: str) -> Iterator[Package]:
    for info in archive.infolist():
        if _POM.match(info.filename) and info.file_size <= _POM_MAX_SIZE:
            package = _package(archive.read(info), member, where)
            if package is not None:
                yield package
        elif where == member.path and _ARCHIVE.search(info.filename) and not info.is_dir():
            yield from _nested(archive, info, member, f"{where}!/{info.filename}")


def _nested(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, member: Member, where: str
) -> Iterator[Package]:
    if info.file_size > NESTED_MAX_SIZE:
        return
    with tempfile.TemporaryFile() as copy:
        try:
            with archive.open(info) as source:
                shutil.copyfileobj(source, copy, MiB)
            copy.seek(0)
            with zipfile.ZipFile(copy) as nested:
                found = list(_archive_packages(nested, member, where))
        except (zipfile.BadZipFile, zlib.error, EOFError):
            return  # a broken library inside a working application: skip just that library
    yield from found


def _package(data: bytes, member: Member, where: str) -> Package | None:
    props = _properties(data)
    group, artifact, version = (props.get(key, "") for key in ("groupId", "artifactId", "version"))
    if not group or not artifact or not version:
        return None
    purl = PackageURL(type="maven", namespace=group, name=artifact, version=version)
    return Package(
        name=f"{group}:{artifact}",  # OSV's Maven package name
        version=version,
        ecosystem=Ecosystem.MAVEN,
        purl=purl.to_string(),
        path=where,
        layer=member.layer,
    )


def _properties(data: bytes) -> dict[str, str]:
    """Java .properties, enough for what Maven writes: `key=value` (or `key: value`), `#`/`!`
    comments. Escapes and continuation lines do not occur in pom.properties."""
    props: dict[str, str] = {}
    for line in data.decode("latin-1").splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        found = _PROPERTY.match(line)
        if found:
            props[found.group(1)] = found.group(2).strip()
    return props
