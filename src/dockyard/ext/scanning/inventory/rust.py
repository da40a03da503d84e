"""Rust binaries built with `cargo auditable`: the `.dep-v0` ELF section holds zlib-compressed
JSON, `{"packages": [{"name", "version", "source", "kind", "dependencies", "root"}, ...]}`
(https://github.com/rust-secure-code/cargo-auditable, format in its `auditable-serde` crate).

Section headers sit at the end of an ELF file, so the section cannot be located while streaming:
the dispatcher spools candidate executables to a temporary file and this module reads it with
pyelftools. Only crates from a registry are reported (crates.io is what OSV covers); the root
crate, path and git dependencies have no advisories, and build-only dependencies do not end up in
the binary.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from packageurl import PackageURL

from dockyard.ext.scanning.inventory.findings import DetectorError, Found, Member, MiB
from dockyard.ext.scanning.packages import Ecosystem, Package

SECTION = ".dep-v0"
MAX_SIZE = 512 * MiB
_MAX_JSON = 16 * MiB
_REGISTRY_SOURCES = frozenset({"crates.io", "registry"})


def parse(member: Member, file: Path) -> Found | None:
    compressed = _section(file)
    if compressed is None:
        return None
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(compressed, _MAX_JSON)
        document = json.loads(text)
    except (zlib.error, ValueError) as exc:
        raise DetectorError(f"unreadable {SECTION} section: {exc}") from exc
    if inflater.unconsumed_tail:
        raise DetectorError(f"{SECTION} section inflates beyond {_MAX_JSON} bytes")
    listed = document.get("packages") if isinstance(document, dict) else None
    if not isinstance(listed, list):
        raise DetectorError(f"{SECTION} section has no package list")
    packages = tuple(p for entry in listed if (p := _package(entry, member)) is not None)
    return Found(packages) if packages else None


def _section(file: Path) -> bytes | None:
    with file.open("rb") as handle:
        try:
            section = ELFFile(handle).get_section_by_name(SECTION)
        except ELFError:
            return None  # not an ELF file pyelftools can read: nothing to report
        if section is None:
            return None
        if section["sh_size"] > _MAX_JSON:
            raise DetectorError(f"{SECTION} section is larger than {_MAX_JSON} bytes")
        return bytes(section.data())


def _package(entry: object, member: Member) -> Package | None:
    if not isinstance(entry, dict):
        return None
    name, version, source = entry.get("name"), entry.get("version"), entry.get("source")
    if not isinstance(name, str) or not isinstance(version, str):
        return None
    if source not in _REGISTRY_SOURCES or entry.get("kind") == "build":
        return None
    return Package(
        name=name,
        version=version,
        ecosystem=Ecosystem.CRATES_IO,
        purl=PackageURL(type="cargo", name=name, version=version).to_string(),
        path=member.path,
        layer=member.layer,
    )
