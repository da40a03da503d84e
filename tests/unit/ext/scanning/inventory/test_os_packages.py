"""OS package databases in real layers: dpkg (this machine's own), apk, rpm (sqlite)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from dockyard.ext.scanning.inventory import inventory_image, osrelease
from dockyard.ext.scanning.inventory.findings import DetectorError, Member
from dockyard.ext.scanning.inventory.rpmheader import parse_header
from dockyard.ext.scanning.packages import Distro, Ecosystem, Inventory, Package
from tests.conftest import service_missing
from tests.unit.ext.scanning.inventory import rpmdb
from tests.unit.ext.scanning.inventory.layers import (
    DEBIAN_OS_RELEASE,
    ZSTD,
    File,
    Link,
    gz,
    layer,
    tar,
    zst,
)

pytestmark = pytest.mark.anyio

DPKG_STATUS = Path("/var/lib/dpkg/status")


def by_name(inventory: Inventory, ecosystem: Ecosystem) -> dict[str, Package]:
    return {p.name: p for p in inventory.packages if p.ecosystem == ecosystem}


def dpkg_version(name: str) -> str:
    if shutil.which("dpkg-query") is None:
        service_missing("dpkg-query")
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True, check=True
    )
    return result.stdout


async def test_this_machines_dpkg_database() -> None:
    if not DPKG_STATUS.exists():
        service_missing("a dpkg database on this machine")
    os_release = Path("/usr/lib/os-release").read_bytes()
    blob = tar(
        [
            File("usr/lib/os-release", os_release),
            Link("etc/os-release", "../usr/lib/os-release"),
            File("var/lib/dpkg/status", DPKG_STATUS.read_bytes()),
        ]
    )
    inventory = await inventory_image([layer(gz(blob))])

    debs = by_name(inventory, Ecosystem.DEBIAN)
    assert inventory.distro is not None and inventory.distro.id == "debian"
    release = inventory.distro.version_id
    for name in ("libc6", "bash"):
        assert debs[name].version == dpkg_version(name)
        assert debs[name].distro_release == release
        assert debs[name].path == "var/lib/dpkg/status"
    libc6 = debs["libc6"]
    assert libc6.source_name == "glibc"
    assert libc6.purl.startswith("pkg:deb/debian/libc6@")
    assert f"distro=debian-{release}" in libc6.purl
    assert "arch=" in libc6.purl
    assert inventory.problems == ()


STATUS = b"""\
Package: libssl3
Status: install ok installed
Architecture: arm64
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.11-1~deb12u2+b1

Package: removed-tool
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: held
Status: hold ok installed
Architecture: all
Version: 2:1.2-3
"""


async def test_dpkg_entries_source_and_status() -> None:
    inventory = await inventory_image(
        [layer(gz(tar([DEBIAN_OS_RELEASE, File("var/lib/dpkg/status", STATUS)])))]
    )
    debs = by_name(inventory, Ecosystem.DEBIAN)
    assert set(debs) == {"libssl3", "held"}
    ssl = debs["libssl3"]
    assert (ssl.source_name, ssl.source_version) == ("openssl", "3.0.11-1~deb12u2")
    assert ssl.purl == ("pkg:deb/debian/libssl3@3.0.11-1~deb12u2%2Bb1?arch=arm64&distro=debian-12")
    assert (debs["held"].source_name, debs["held"].source_version) == ("held", "2:1.2-3")


async def test_distroless_status_d_on_ubuntu() -> None:
    ubuntu = File("etc/os-release", b'ID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu"\n')
    base = b"Package: base-files\nStatus: install ok installed\nVersion: 12ubuntu4\n"
    tzdata = b"Package: tzdata\nStatus: install ok installed\nVersion: 2024a-0ubuntu0.22.04\n"
    blob = tar(
        [
            ubuntu,
            File("var/lib/dpkg/status.d/base-files", base),
            File("var/lib/dpkg/status.d/tzdata", tzdata),
            File("var/lib/dpkg/status.d/tzdata.md5sums", b"abc  usr/share/zoneinfo/UTC\n"),
        ]
    )
    inventory = await inventory_image([layer(zst(blob), ZSTD)])
    debs = by_name(inventory, Ecosystem.UBUNTU)
    assert set(debs) == {"base-files", "tzdata"}
    assert debs["tzdata"].purl == "pkg:deb/ubuntu/tzdata@2024a-0ubuntu0.22.04?distro=ubuntu-22.04"
    assert debs["tzdata"].path == "var/lib/dpkg/status.d/tzdata"
    assert inventory.distro == Distro("ubuntu", "22.04", "Ubuntu")


APK_INSTALLED = b"""\
C:Q1Ef+example0000000000000000000=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407278
I:667648
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Ter\xc3\xa4s <timo.teras@iki.fi>
t:1700000000
c:2f1f3d5ab5f0e36c9a3d2b0f8e5c7e0a1a2b3c4d
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1abc=

C:Q1Ef+example0000000000000000001=
P:libcrypto3
V:3.1.4-r5
A:x86_64
L:Apache-2.0
o:openssl
F:usr/lib
R:libcrypto.so.3
"""


async def test_alpine_installed_database() -> None:
    blob = tar(
        [
            File("etc/os-release", b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n'),
            File("lib/apk/db/installed", APK_INSTALLED),
        ]
    )
    inventory = await inventory_image([layer(gz(blob))])
    apks = by_name(inventory, Ecosystem.ALPINE)
    assert set(apks) == {"musl", "libcrypto3"}
    crypto = apks["libcrypto3"]
    assert (crypto.version, crypto.source_name, crypto.licenses) == (
        "3.1.4-r5",
        "openssl",
        ("Apache-2.0",),
    )
    assert crypto.distro_release == "3.19"
    assert crypto.purl == "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19"


async def test_wolfi_uses_its_own_ecosystem() -> None:
    blob = tar(
        [
            File("etc/os-release", b"ID=wolfi\nVERSION_ID=20230201\n"),
            File("lib/apk/db/installed", b"P:glibc\nV:2.39-r1\nA:x86_64\no:glibc\n"),
        ]
    )
    inventory = await inventory_image([layer(gz(blob))])
    (glibc,) = inventory.packages
    assert (glibc.ecosystem, glibc.distro_release) == (Ecosystem.WOLFI, "")
    assert glibc.purl == "pkg:apk/wolfi/glibc@2.39-r1?arch=x86_64"


async def test_rpm_sqlite_database(tmp_path: Path) -> None:
    db = rpmdb.rpmdb(
        tmp_path / "rpmdb.sqlite",
        [
            rpmdb.package(
                "bash", "5.1.8", "6.el9", arch="x86_64",
                sourcerpm="bash-5.1.8-6.el9.src.rpm", license="GPLv3+",
            ),
            rpmdb.package(
                "openssl-libs", "3.0.7", "24.el9", epoch=1, arch="x86_64",
                sourcerpm="openssl-3.0.7-24.el9.src.rpm", license="ASL 2.0",
            ),
            rpmdb.package("gpg-pubkey", "fd431d51", "4ae0493b"),
        ],
    )  # fmt: skip
    os_release = b'ID="rhel"\nVERSION_ID="9.3"\nPRETTY_NAME="Red Hat Enterprise Linux 9.3"\n'
    blob = tar([File("etc/os-release", os_release), File("var/lib/rpm/rpmdb.sqlite", db)])
    inventory = await inventory_image([layer(gz(blob))])

    rpms = by_name(inventory, Ecosystem.RPM)
    assert set(rpms) == {"bash", "openssl-libs"}
    bash, ssl = rpms["bash"], rpms["openssl-libs"]
    assert (bash.version, bash.source_name, bash.source_version) == (
        "5.1.8-6.el9",
        "bash",
        "5.1.8-6.el9",
    )
    assert bash.licenses == ("GPLv3+",)
    assert bash.purl == "pkg:rpm/redhat/bash@5.1.8-6.el9?arch=x86_64&distro=rhel-9.3"
    assert (ssl.version, ssl.source_name, ssl.source_version) == (
        "1:3.0.7-24.el9",
        "openssl",
        "1:3.0.7-24.el9",
    )
    assert (
        ssl.purl == "pkg:rpm/redhat/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rhel-9.3&epoch=1"
    )
    assert bash.distro_release == "9.3"


async def test_an_unreadable_database_is_a_problem_not_a_crash() -> None:
    blob = tar(
        [
            File("var/lib/rpm/rpmdb.sqlite", b"not sqlite at all" * 100),
            File("lib/apk/db/installed", b"P:zlib\nV:1.3-r0\n"),
        ]
    )
    source = layer(gz(blob))
    inventory = await inventory_image([source])
    assert [p.name for p in inventory.packages] == ["zlib"]
    (problem,) = inventory.problems
    assert problem.layer == source.digest
    assert "var/lib/rpm/rpmdb.sqlite" in problem.reason


def test_rpm_header_parser_checks_its_bounds() -> None:
    blob = rpmdb.header_blob(rpmdb.package("zlib", "1.2.11", "40.el9"))
    assert parse_header(blob)[rpmdb.NAME] == "zlib"
    with pytest.raises(DetectorError):
        parse_header(blob[: len(blob) // 2])
    with pytest.raises(DetectorError):
        parse_header(b"\xff\xff\xff\xff\0\0\0\0")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'ID=alpine\nVERSION_ID=3.19.1\n', Distro("alpine", "3.19.1")),
        (b"# comment\nID='debian'\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian 12 (x)\"\n",
         Distro("debian", "12", "Debian 12 (x)")),
        (b'NAME="no id"\n', None),
    ],
)  # fmt: skip
def test_os_release_fields(text: bytes, expected: Distro | None) -> None:
    finding = osrelease.parse(Member("etc/os-release", "sha256:l", len(text), 0o644), text)
    assert (finding.distro if finding else None) == expected


@pytest.mark.parametrize(
    ("distro", "release"),
    [
        (Distro("alpine", "3.19.1"), "3.19"),
        (Distro("alpine", "3.20_alpha20240329"), "3.20"),
        (Distro("debian", "12"), "12"),
        (Distro("ubuntu", "22.04"), "22.04"),
        (Distro("wolfi", "20230201"), ""),
        (None, ""),
    ],
)
def test_advisory_release(distro: Distro | None, release: str) -> None:
    assert osrelease.release(distro) == release
