"""Version order per ecosystem and the OSV evaluation of affected ranges."""

from __future__ import annotations

import json
import zipfile
from itertools import pairwise
from pathlib import Path

import pytest

from dockyard.ext.scanning.osv import Affected, Event, Range, parse_advisory
from dockyard.ext.scanning.versions import compare, fixed_versions, is_affected, sort_keys

VULNDB = Path(__file__).parents[4] / ".." / "shared" / "vulndb"


def _real(zip_name: str, advisory_id: str) -> Affected:
    with zipfile.ZipFile(VULNDB / zip_name) as archive:
        return parse_advisory(json.loads(archive.read(f"{advisory_id}.json"))).affected[0]


def _affected(ecosystem: str, *events: tuple[str, str], kind: str = "ECOSYSTEM") -> Affected:
    return Affected(ecosystem, "pkg", ranges=(Range(kind, tuple(Event(*e) for e in events)),))


# Each row: versions in ascending order for the ecosystem.
ORDERED = [
    ("Debian", ["1.0~rc1", "1.0", "1.0-1~deb12u1", "1.0-1", "1.0-1+b1", "1:0.1"]),
    ("Debian:12", ["3.0.11-1~deb12u1", "3.0.11-1~deb12u2", "3.0.11-1", "3.0.13-1"]),
    ("Ubuntu", ["1.0.1f-1ubuntu2.27", "1.0.1f-1ubuntu2.27+esm7"]),
    ("Alpine", ["1.36.1_rc1-r0", "1.36.1-r0", "1.36.1-r1", "1.36.1_p1-r0", "1.36.10-r0"]),
    ("Alpine:v3.16", ["9.16.9-r0", "9.16.45-r0", "9.16.48-r0"]),
    ("PyPI", ["1.0.dev1", "1.0a1", "1.0b2", "1.0rc1", "1.0", "1.0.post1", "1.1", "1!0.1"]),
    ("Go", ["v0.0.0-20180816102801-aaf60122140d", "v0.0.0-20190125091013-d26f9f9a57f3", "v0.1.0"]),
    ("Go", ["v1.3.0", "v1.3.1-0.20190301021747-ccb9e902956d", "v1.3.1", "v2.0.0+incompatible"]),
    ("Go", ["go1.20rc1", "go1.20", "1.20.1", "1.21.0-0", "go1.21rc2", "go1.21.0", "v1.21.1"]),
    ("crates.io", ["0.0.0-0", "0.2.1-0", "0.2.1", "0.10.0", "1.0.0-alpha.1", "1.0.0"]),
    ("npm", ["1.0.0-beta", "1.0.0-beta.2", "1.0.0-rc.1", "1.0.0"]),
    ("Red Hat", ["1.0-1.el8", "1.0-2.el8", "1.1-1.el8", "1:0.9-1.el8"]),
    ("Maven", ["1.0-alpha-1", "1.0-SNAPSHOT", "1.0", "1.0.1", "1.1"]),
]


@pytest.mark.parametrize(("ecosystem", "versions"), ORDERED)
def test_each_ecosystem_orders_its_versions(ecosystem: str, versions: list[str]) -> None:
    for lower, higher in pairwise(versions):
        assert compare(ecosystem, lower, higher) == -1, (lower, higher)
        assert compare(ecosystem, higher, lower) == 1, (higher, lower)
    assert compare(ecosystem, versions[0], versions[0]) == 0


def test_equal_spellings_compare_equal() -> None:
    assert compare("PyPI", "2.10", "2.10.0") == 0
    assert compare("Go", "go1.20", "v1.20.0") == 0
    assert compare("Debian", "0:1.0-1", "1.0-1") == 0


@pytest.mark.parametrize("ecosystem", ["PyPI", "Go", "Debian", "Alpine", "Red Hat", "Maven", "?"])
@pytest.mark.parametrize("version", ["", "not a version", "1.0 beta", "v", "::", "-r0", "1..2"])
def test_odd_versions_never_raise(ecosystem: str, version: str) -> None:
    affected = _affected(ecosystem, ("introduced", "1.0"), ("fixed", "2.0"))
    assert isinstance(is_affected(ecosystem, version, affected), bool)
    assert isinstance(fixed_versions(ecosystem, version, affected), tuple)
    assert len(sort_keys(ecosystem, [version, "1.0"])) == 2


def test_an_odd_version_is_still_compared_by_its_numbers() -> None:
    # "2.10-custom" is not PEP 440; the fallback order still places it inside [2.0, 2.11).
    affected = _affected("PyPI", ("introduced", "2.0"), ("fixed", "2.11"))
    assert is_affected("PyPI", "2.10-custom+local build", affected)
    assert not is_affected("PyPI", "2.12-custom build", affected)


def test_introduced_zero_and_fixed() -> None:
    affected = _affected("PyPI", ("introduced", "0"), ("fixed", "2.10.1"))
    assert is_affected("PyPI", "0.1", affected)
    assert is_affected("PyPI", "2.10", affected)
    assert is_affected("PyPI", "2.10.1rc1", affected)  # a pre-release of the fix is before it
    assert not is_affected("PyPI", "2.10.1", affected)
    assert not is_affected("PyPI", "3.0", affected)


def test_last_affected_is_inclusive_and_fixed_is_not() -> None:
    last = _affected("Maven", ("introduced", "0"), ("last_affected", "2.1.214"))
    fixed = _affected("Maven", ("introduced", "0"), ("fixed", "2.1.214"))
    assert is_affected("Maven", "2.1.214", last)
    assert not is_affected("Maven", "2.1.214", fixed)
    assert not is_affected("Maven", "2.1.215", last)
    assert is_affected("Maven", "2.1.213", fixed)
    assert fixed_versions("Maven", "2.1.213", last) == ()


def test_an_empty_introduction_only_range_affects_everything_after() -> None:
    affected = _affected("Go", ("introduced", "1.2.0"), kind="SEMVER")
    assert not is_affected("Go", "v1.1.9", affected)
    assert is_affected("Go", "v1.2.0", affected)
    assert is_affected("Go", "v9.0.0", affected)


def test_events_are_evaluated_in_version_order_not_written_order() -> None:
    # PYSEC-2023-192 (urllib3, CVE-2023-43804) lists the 2.x range before the 1.x one.
    affected = _real("PyPI-all.zip", "PYSEC-2023-192")
    [written] = [r for r in affected.ranges if r.type == "ECOSYSTEM"]
    assert [e.version for e in written.events][:2] == ["2.0.0", "2.0.6"]
    assert is_affected("PyPI", "1.26.5", affected)
    assert not is_affected("PyPI", "1.26.17", affected)
    assert not is_affected("PyPI", "1.26.18", affected)
    assert is_affected("PyPI", "2.0.5", affected)
    assert not is_affected("PyPI", "2.0.6", affected)
    assert fixed_versions("PyPI", "1.26.5", affected) == ("1.26.17", "2.0.6")
    assert fixed_versions("PyPI", "2.0.0", affected) == ("2.0.6",)


def test_many_ranges_of_one_advisory() -> None:
    # RUSTSEC-2020-0071 (time): every 0.2.x patch release is its own range up to 0.2.23.
    affected = _real("crates.io-all.zip", "RUSTSEC-2020-0071")
    assert is_affected("crates.io", "0.1.45", affected)
    assert not is_affected("crates.io", "0.2.1", affected)  # a fixed release
    assert is_affected("crates.io", "0.2.7", affected)
    assert not is_affected("crates.io", "0.2.23", affected)
    assert not is_affected("crates.io", "0.3.0", affected)
    # Suggested upgrades: the nearest fix, and the fix on the newest line.
    assert fixed_versions("crates.io", "0.1.45", affected) == ("0.2.0", "0.2.23")
    assert fixed_versions("crates.io", "0.2.7", affected) == ("0.2.23",)


def test_the_explicit_versions_list_counts_too() -> None:
    # PYSEC-2023-61 (django) lists pre-releases such as 3.2a1 that its ranges do not cover.
    affected = _real("PyPI-all.zip", "PYSEC-2023-61")
    assert "3.2a1" in affected.versions
    assert is_affected("PyPI", "3.2a1", affected)
    listed = Affected("PyPI", "x", versions=("2.10",))
    assert is_affected("PyPI", "2.10.0", listed)  # PEP 440 says these are one version
    assert not is_affected("PyPI", "2.10.1", listed)


def test_go_pseudo_versions_against_real_fixes() -> None:
    # GO-2022-0197 is fixed at 4b62a64f59f7; GO-2020-0014 a few hours later, at d26f9f9a57f3.
    early = "v0.0.0-20190125002852-4b62a64f59f7"
    assert not is_affected("Go", early, _real("Go-all.zip", "GO-2022-0197"))
    assert is_affected("Go", early, _real("Go-all.zip", "GO-2020-0014"))
    # GO-2023-1737 (gin) is introduced at a pseudo-version between v1.3.0 and v1.3.1.
    gin = _real("Go-all.zip", "GO-2023-1737")
    assert not is_affected("Go", "v1.3.0", gin)
    assert is_affected("Go", "v1.4.0", gin)
    assert not is_affected("Go", "v1.9.1", gin)


def test_go_toolchain_versions_against_stdlib_ranges() -> None:
    affected = _real("Go-all.zip", "GO-2023-1840")  # fixed in 1.19.10 and 1.20.5
    assert is_affected("Go", "go1.20", affected)
    assert is_affected("Go", "go1.20rc3", affected)
    assert not is_affected("Go", "go1.20.5", affected)
    assert not is_affected("Go", "1.19.10", affected)
    assert is_affected("Go", "1.19.9", affected)
    later = _real("Go-all.zip", "GO-2023-2044")  # introduced in 1.21.0-0
    assert is_affected("Go", "go1.21rc2", later)
    assert not is_affected("Go", "go1.20.7", later)


def test_limit_events_cap_a_range() -> None:
    affected = _affected("npm", ("introduced", "1.0.0"), ("limit", "1.5.0"), kind="SEMVER")
    assert is_affected("npm", "1.4.9", affected)
    assert not is_affected("npm", "1.5.0", affected)
    unlimited = _affected("npm", ("introduced", "1.0.0"), ("limit", "*"), kind="SEMVER")
    assert is_affected("npm", "9.0.0", unlimited)


def test_git_ranges_are_ignored() -> None:
    commits = Affected(
        "PyPI",
        "x",
        ranges=(Range("GIT", (Event("introduced", "0"), Event("fixed", "abc123"))),),
    )
    assert not is_affected("PyPI", "1.0", commits)
    assert fixed_versions("PyPI", "1.0", commits) == ()


def test_distribution_fixes_with_epochs_and_tildes() -> None:
    bind9 = _affected("Debian:11", ("introduced", "0"), ("fixed", "1:9.16.50-1~deb11u5"))
    assert is_affected("Debian:11", "1:9.16.50-1~deb11u4", bind9)
    assert not is_affected("Debian:11", "1:9.16.50-1~deb11u5", bind9)
    assert not is_affected("Debian:11", "1:9.16.50-1", bind9)  # the unstable build is later
    assert is_affected("Debian:11", "9.18.0-1", bind9)  # no epoch sorts below any epoch
    bind = _affected("Alpine:v3.16", ("introduced", "0"), ("fixed", "9.16.48-r0"))
    assert is_affected("Alpine:v3.16", "9.16.48_rc1-r0", bind)
    assert is_affected("Alpine:v3.16", "9.16.47_p1-r3", bind)
    assert not is_affected("Alpine:v3.16", "9.16.48-r0", bind)
    assert fixed_versions("Alpine:v3.16", "9.16.45-r0", bind) == ("9.16.48-r0",)
