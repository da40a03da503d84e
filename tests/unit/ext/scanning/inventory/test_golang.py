"""Go build info: the streaming scanner over chunk boundaries, decoys and module replacements.

The blobs here follow Go's layout (src/debug/buildinfo/buildinfo.go): 32-byte header aligned to
16, then uvarint-prefixed version and modinfo strings, modinfo framed by 16 sentinel bytes."""

from __future__ import annotations

import pytest

from dockyard.ext.scanning.inventory import golang
from dockyard.ext.scanning.inventory.findings import Member
from dockyard.ext.scanning.inventory.golang import BuildInfoScanner, Module

START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
END = bytes.fromhex("f932433186182072008242104116d8f2")
MODINFO = (
    "path\texample.com/cmd/tool\n"
    "mod\texample.com\t(devel)\t\n"
    "dep\tgolang.org/x/net\tv0.17.0\th1:abc=\n"
    "dep\tgithub.com/old/lib\tv1.0.0\th1:def=\n"
    "=>\tgithub.com/new/lib\tv1.2.0\th1:ghi=\n"
    "dep\tgithub.com/local/lib\tv0.1.0\n"
    "=>\t../lib\t\t\n"
    "build\t-compiler=gc\n"
)


def uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def buildinfo(version: str = "go1.21.3", modinfo: str = MODINFO, flags: int = 2) -> bytes:
    header = golang.MAGIC + bytes([8, flags]) + b"\0" * 16
    framed = START + modinfo.encode() + END
    return header + uvarint(len(version)) + version.encode() + uvarint(len(framed)) + framed


def binary(prefix_size: int, blob: bytes, decoy: bytes = b"") -> bytes:
    body = b"\x7fELF" + b"\x01" * (prefix_size - 4) + decoy
    body += b"\0" * (-len(body) % 16)
    return body + blob + b"\x02" * 1000


def scan(data: bytes, chunk: int) -> golang.BuildInfo | None:
    scanner = BuildInfoScanner()
    for at in range(0, len(data), chunk):
        scanner.feed(data[at : at + chunk])
    return scanner.result


@pytest.mark.parametrize("chunk", [1, 7, 16, 31, 64, 4096])
def test_found_across_any_chunk_boundary(chunk: int) -> None:
    info = scan(binary(1000, buildinfo()), chunk)
    assert info is not None
    assert info.go_version == "go1.21.3"
    assert info.path == "example.com/cmd/tool"
    assert info.main == Module("example.com", "(devel)")
    assert info.deps == (
        Module("golang.org/x/net", "v0.17.0"),
        Module("github.com/new/lib", "v1.2.0"),  # replaced by a published module
        Module("github.com/local/lib", ""),  # replaced by a local directory: no version
    )


def test_decoys_are_skipped() -> None:
    # The magic as plain data (a tool that reads build info carries it as a string), unaligned
    # or followed by nonsense, comes before the real header.
    decoy = b"xx" + golang.MAGIC + b"\x08\x02" + b"\0" * 16 + b"\x05hello"
    decoy += b"\0" * (-len(decoy) % 16) + golang.MAGIC + b"\x03\x00" + b"\0" * 40
    info = scan(binary(100, buildinfo(), decoy), 64)
    assert info is not None and info.go_version == "go1.21.3"


def test_pre_go_118_binaries_are_not_read() -> None:
    assert scan(binary(100, buildinfo(flags=0)), 4096) is None


def test_packages_use_osv_versions_and_go_purls() -> None:
    info = scan(binary(100, buildinfo(version="go1.22.0 X:boringcrypto")), 4096)
    assert info is not None
    found = golang.packages(info, Member("usr/bin/tool", "sha256:l", 1, 0o755)).items
    by_name = {p.name: p for p in found}
    assert by_name["stdlib"].version == "1.22.0"
    assert by_name["stdlib"].purl == "pkg:golang/stdlib@1.22.0"
    assert by_name["example.com"].version == ""
    assert by_name["example.com"].purl == "pkg:golang/example.com"
    assert by_name["golang.org/x/net"].version == "0.17.0"
    assert by_name["golang.org/x/net"].purl == "pkg:golang/golang.org/x/net@v0.17.0"
    assert by_name["github.com/local/lib"].purl == "pkg:golang/github.com/local/lib"
