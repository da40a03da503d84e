"""Matching an inventory's packages against advisories (an in-memory lookup; the database
behind the real lookup is tested in test_vulndb.py)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from dockyard.ext.scanning.matcher import Finding, Key, match
from dockyard.ext.scanning.osv import Advisory, normalize_name, parse_advisory
from dockyard.ext.scanning.packages import Ecosystem, Package
from dockyard.ext.scanning.severity import Severity

pytestmark = pytest.mark.anyio

VULNDB = Path(__file__).parents[4] / ".." / "shared" / "vulndb"
DATA = Path(__file__).parents[3] / "osv_advisories" / "osv"


class MemoryLookup:
    """Advisories indexed the way the store indexes them; counts the batches asked for."""

    def __init__(self, advisories: Iterable[Advisory]) -> None:
        self.index: dict[Key, list[Advisory]] = {}
        self.batches: list[int] = []
        for advisory in advisories:
            for a in advisory.affected:
                key = (a.base_ecosystem, normalize_name(a.ecosystem, a.name))
                if advisory not in self.index.setdefault(key, []):
                    self.index[key].append(advisory)

    async def __call__(self, keys: Sequence[Key]) -> Mapping[Key, Sequence[Advisory]]:
        self.batches.append(len(keys))
        return {key: self.index[key] for key in keys if key in self.index}


def _from_zip(zip_name: str, *ids: str) -> list[Advisory]:
    with zipfile.ZipFile(VULNDB / zip_name) as archive:
        return [parse_advisory(json.loads(archive.read(f"{i}.json"))) for i in ids]


def _from_dir(name: str) -> list[Advisory]:
    return [parse_advisory(json.loads(p.read_text())) for p in sorted((DATA / name).glob("*.json"))]


def _package(name: str, version: str, ecosystem: Ecosystem, **extra: Any) -> Package:
    purl = f"pkg:generic/{name}@{version}"
    return Package(name, version, ecosystem, purl, extra.pop("path", "somewhere"), **extra)


def _ids(findings: Iterable[Finding]) -> set[str]:
    return {f.advisory_id for f in findings}


@pytest.fixture
def pypi() -> MemoryLookup:
    return MemoryLookup(
        _from_zip(
            "PyPI-all.zip",
            "PYSEC-2014-8",
            "PYSEC-2019-217",
            "PYSEC-2021-66",
            "PYSEC-2018-28",
            "PYSEC-2023-74",
            "PYSEC-2023-192",
            "PYSEC-2023-73",  # withdrawn (redis)
        )
    )


async def test_pypi_names_are_matched_in_their_normal_form(pypi: MemoryLookup) -> None:
    packages = [
        _package("Jinja2", "2.10", Ecosystem.PYPI),
        _package("requests", "2.19.0", Ecosystem.PYPI),
        _package("URLLIB3", "1.26.5", Ecosystem.PYPI),
    ]
    findings = await match(packages, pypi)
    by_package = {(f.package.name, f.advisory_id) for f in findings}
    assert by_package == {
        ("Jinja2", "PYSEC-2019-217"),
        ("Jinja2", "PYSEC-2021-66"),
        ("requests", "PYSEC-2018-28"),
        ("requests", "PYSEC-2023-74"),
        ("URLLIB3", "PYSEC-2023-192"),
    }
    urllib3 = next(f for f in findings if f.advisory_id == "PYSEC-2023-192")
    assert urllib3.fixed == ("1.26.17", "2.0.6")
    assert urllib3.aliases == ("CVE-2023-43804", "GHSA-v845-jxx5-vc9f")
    assert (urllib3.severity, urllib3.score) == (Severity.HIGH, 8.1)
    assert urllib3.package is packages[2] and urllib3.affected_name == "urllib3"
    assert findings[0] is urllib3  # the most severe first


async def test_fixed_versions_are_not_findings(pypi: MemoryLookup) -> None:
    packages = [
        _package("jinja2", "2.11.3", Ecosystem.PYPI),
        _package("requests", "2.31.0", Ecosystem.PYPI),
        _package("urllib3", "1.26.17", Ecosystem.PYPI),
    ]
    assert await match(packages, pypi) == []
    [only] = await match([_package("jinja2", "2.10.1", Ecosystem.PYPI)], pypi)
    assert (only.advisory_id, only.fixed) == ("PYSEC-2021-66", ("2.11.3",))


async def test_withdrawn_advisories_are_never_findings(pypi: MemoryLookup) -> None:
    assert await match([_package("redis", "4.5.0", Ecosystem.PYPI)], pypi) == []


async def test_packages_without_a_release_version_are_not_matched(pypi: MemoryLookup) -> None:
    packages = [_package("jinja2", "", Ecosystem.PYPI), _package("jinja2", "(devel)", Ecosystem.GO)]
    assert await match(packages, pypi) == [] and pypi.batches == []


async def test_one_lookup_per_batch() -> None:
    lookup = MemoryLookup([])
    packages = [_package(f"p{i}", "1.0", Ecosystem.NPM) for i in range(1200)]
    packages += packages[:10]  # the same package twice is looked up once
    assert await match(packages, lookup, batch_size=500) == []
    assert lookup.batches == [500, 500, 200]


async def test_debian_advisories_match_source_packages_of_their_release() -> None:
    lookup = MemoryLookup(_from_dir("debian"))
    libssl = _package(
        "libssl1.0.2",
        "1.0.2u-1~deb9u6+b1",  # a binNMU: the binary version is not the source version
        Ecosystem.DEBIAN,
        distro_release="9",
        source_name="openssl1.0",
        source_version="1.0.2u-1~deb9u6",
        path="var/lib/dpkg/status",
    )
    [finding] = await match([libssl], lookup)
    assert (finding.advisory_id, finding.affected_name) == ("DLA-2953-1", "openssl1.0")
    assert finding.fixed == ("1.0.2u-1~deb9u7",)
    assert finding.aliases == ("CVE-2022-0778",)
    assert finding.url == "https://www.debian.org/lts/security/2022/dla-2953"
    fixed = _package(
        "libssl1.0.2", "1.0.2u-1~deb9u7", Ecosystem.DEBIAN, distro_release="9",
        source_name="openssl1.0", source_version="1.0.2u-1~deb9u7",
    )  # fmt: skip
    assert await match([fixed], lookup) == []
    # The Debian 9 advisory says nothing about the same version on Debian 12.
    other_release = _package(
        "libssl1.0.2", "1.0.2u-1~deb9u6", Ecosystem.DEBIAN, distro_release="12",
        source_name="openssl1.0",
    )  # fmt: skip
    assert await match([other_release], lookup) == []


async def test_a_release_is_matched_by_its_number() -> None:
    lookup = MemoryLookup(_from_dir("debian"))
    openssl = [
        _package("openssl", "1.0.1t-1+deb8u3", Ecosystem.DEBIAN, distro_release=release)
        for release in ("8", "8.11", "9", "")
    ]
    findings = await match(openssl, lookup)
    # "" (release unknown) is checked against every release: a possible false alarm rather
    # than a missed vulnerability.
    assert sorted(f.package.distro_release for f in findings) == ["", "8", "8.11"]
    assert _ids(findings) == {"DSA-3673-1"}


async def test_epochs_decide_before_versions() -> None:
    lookup = MemoryLookup(_from_dir("debian"))

    def bind(version: str) -> Package:
        return _package(
            "libbind9-161", version, Ecosystem.DEBIAN, distro_release="11",
            source_name="bind9", source_version=version,
        )  # fmt: skip

    [finding] = await match([bind("1:9.16.50-1~deb11u4")], lookup)
    assert finding.advisory_id == "DLA-4529-1" and finding.fixed == ("1:9.16.50-1~deb11u5",)
    assert finding.severity is Severity.MEDIUM  # from the urgency
    assert await match([bind("1:9.16.50-1~deb11u5")], lookup) == []
    assert _ids(await match([bind("9.18.24-1")], lookup)) == {"DLA-4529-1"}  # epoch 0 < 1


async def test_alpine_advisories_match_origin_packages_of_their_release() -> None:
    lookup = MemoryLookup(_from_dir("alpine"))

    def apk(name: str, version: str, release: str, origin: str = "") -> Package:
        return _package(
            name, version, Ecosystem.ALPINE, distro_release=release,
            source_name=origin, source_version=version if origin else "",
        )  # fmt: skip

    findings = await match(
        [
            apk("bind-libs", "9.16.45-r0", "3.16.7", origin="bind"),
            apk("bind", "9.16.48-r0", "3.16"),  # fixed
            apk("bind", "9.16.45-r0", "3.18"),  # another release: its advisory is not here
            apk("libbz2", "1.0.6-r6", "3.18.4", origin="bzip2"),
            apk("bzip2", "1.0.8-r5", "3.18.4"),  # what 3.18 ships
            apk("xen", "4.10.1-r0", "3.10.9"),
        ],
        lookup,
    )
    assert {(f.package.name, f.advisory_id, f.fixed) for f in findings} == {
        ("bind-libs", "ALPINE-CVE-2023-4408", ("9.16.48-r0",)),
        ("libbz2", "ALPINE-CVE-2019-12900", ("1.0.6-r7",)),
        ("xen", "ALPINE-CVE-2018-8897", ("4.10.1-r1",)),
    }
    assert all(f.aliases == (f.advisory_id.removeprefix("ALPINE-"),) for f in findings)


async def test_one_finding_per_advisory_and_package() -> None:
    advisory = parse_advisory(
        {
            "id": "TEST-1",
            "modified": "2024-01-01T00:00:00Z",
            "affected": [
                {"package": {"ecosystem": "Debian:12", "name": "openssl"},
                 "ranges": [{"type": "ECOSYSTEM",
                             "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]}]},
                {"package": {"ecosystem": "Debian:12", "name": "openssl"},
                 "versions": ["3.0.9-1"]},
            ],
        }
    )  # fmt: skip
    # Found under the binary name and the source name, and by two entries: still one finding.
    package = _package(
        "openssl", "3.0.9-1", Ecosystem.DEBIAN, distro_release="12",
        source_name="openssl", source_version="3.0.9-1",
    )  # fmt: skip
    [finding] = await match([package, package], MemoryLookup([advisory]))
    assert finding.fixed == ("3.0.11-1~deb12u2",)


async def test_real_go_and_crates_advisories() -> None:
    lookup = MemoryLookup(
        _from_zip("Go-all.zip", "GO-2023-1840", "GO-2023-2044", "GO-2020-0014", "GO-2022-0197")
        + _from_zip("crates.io-all.zip", "RUSTSEC-2021-0003", "RUSTSEC-2018-0003")
    )
    findings = await match(
        [
            _package("stdlib", "go1.20", Ecosystem.GO, path="usr/local/bin/app"),
            _package("golang.org/x/net", "v0.0.0-20190125002852-4b62a64f59f7", Ecosystem.GO),
            _package("smallvec", "1.6.0", Ecosystem.CRATES_IO),
        ],
        lookup,
    )
    assert [(f.package.name, f.advisory_id) for f in findings] == [
        ("smallvec", "RUSTSEC-2021-0003"),  # CRITICAL, so first
        ("golang.org/x/net", "GO-2020-0014"),
        ("stdlib", "GO-2023-1840"),
    ]
    assert findings[0].score == 9.8 and findings[0].fixed == ("1.6.1",)
    assert findings[2].package.path == "usr/local/bin/app"
