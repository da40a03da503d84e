"""OSV advisories parsed into typed records, compacted for storage, and rated."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from dockyard.ext.scanning.osv import (
    DETAILS_LIMIT,
    OsvFormatError,
    SeverityScore,
    compact,
    normalize_name,
    parse_advisory,
    release_number,
    split_ecosystem,
)
from dockyard.ext.scanning.severity import Severity, cvss_score, rate, rate_scores

VULNDB = Path(__file__).parents[4] / ".." / "shared" / "vulndb"
DATA = Path(__file__).parents[3] / "osv_advisories" / "osv"


def _real(zip_name: str, advisory_id: str) -> dict[str, Any]:
    with zipfile.ZipFile(VULNDB / zip_name) as archive:
        return json.loads(archive.read(f"{advisory_id}.json"))


def test_a_go_advisory() -> None:
    advisory = parse_advisory(_real("Go-all.zip", "GO-2023-1840"))
    assert advisory.id == "GO-2023-1840"
    assert advisory.aliases == ("CVE-2023-29403",)
    assert advisory.summary == "Unsafe behavior in setuid/setgid binaries in runtime"
    assert advisory.url == "https://pkg.go.dev/vuln/GO-2023-1840"
    [stdlib] = advisory.affected
    assert (stdlib.ecosystem, stdlib.base_ecosystem, stdlib.release) == ("Go", "Go", "")
    assert stdlib.name == "stdlib"
    [semver] = stdlib.ranges
    assert semver.type == "SEMVER"
    assert [(e.kind, e.version) for e in semver.events] == [
        ("introduced", "0"),
        ("fixed", "1.19.10"),
        ("introduced", "1.20.0-0"),
        ("fixed", "1.20.5"),
    ]
    assert advisory.severity == () and rate(advisory) == (Severity.UNKNOWN, None)


def test_a_rustsec_advisory_with_a_cvss_v4_vector() -> None:
    advisory = parse_advisory(_real("crates.io-all.zip", "RUSTSEC-2024-0445"))
    assert advisory.severity == (
        SeverityScore("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:P/PR:L/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N"),
    )
    assert advisory.affected[0].purl == "pkg:cargo/cap-primitives"
    assert advisory.url == "https://rustsec.org/advisories/RUSTSEC-2024-0445.html"
    assert rate(advisory) == (Severity.LOW, 2.3)


def test_a_pypi_advisory_without_summary_uses_its_first_line() -> None:
    advisory = parse_advisory(_real("PyPI-all.zip", "PYSEC-2019-217"))
    assert advisory.summary == ""
    assert advisory.title.startswith("In Pallets Jinja before 2.10.1, str.format_map")
    assert advisory.aliases == ("CVE-2019-10906", "GHSA-462w-v97r-4m45")


def test_release_suffixes_are_kept_apart() -> None:
    assert split_ecosystem("Debian:12") == ("Debian", "12")
    assert split_ecosystem("Alpine:v3.19") == ("Alpine", "v3.19")
    assert split_ecosystem("Ubuntu:Pro:22.04:LTS") == ("Ubuntu", "Pro:22.04:LTS")
    assert split_ecosystem("PyPI") == ("PyPI", "")
    assert release_number("v3.19") == "3.19"
    assert release_number("Pro:22.04:LTS") == "22.04"
    assert release_number("enterprise_linux:9::appstream") == "9"
    assert release_number("sid") == ""
    advisory = parse_advisory(json.loads((DATA / "debian" / "DLA-4529-1.json").read_text()))
    [bind9] = advisory.affected
    assert (bind9.base_ecosystem, bind9.release, bind9.severity_label) == ("Debian", "11", "medium")


def test_alpine_records_name_their_cve_as_upstream() -> None:
    advisory = parse_advisory(
        json.loads((DATA / "alpine" / "ALPINE-CVE-2023-4408.json").read_text())
    )
    assert advisory.aliases == () and advisory.upstream == ("CVE-2023-4408",)
    assert advisory.identifiers == ("CVE-2023-4408",)
    assert advisory.affected[0].versions[0] == "9.10.0_p2-r0"


def test_pypi_names_are_normalised_as_pep_503_says() -> None:
    assert normalize_name("PyPI", "Jinja2") == "jinja2"
    assert normalize_name("PyPI", "zope.interface") == "zope-interface"
    assert normalize_name("PyPI", "Foo__Bar-.baz") == "foo-bar-baz"
    assert normalize_name("Go", "github.com/Foo/Bar") == "github.com/Foo/Bar"
    assert normalize_name("Debian:12", "libssl3") == "libssl3"


def test_details_are_truncated() -> None:
    advisory = parse_advisory(
        {"id": "X-1", "modified": "2024-01-01T00:00:00Z", "details": "a" * 5000}
    )
    assert len(advisory.details) == DETAILS_LIMIT and advisory.details.endswith("…")


@pytest.mark.parametrize(
    "document",
    [{}, {"id": 5, "modified": "x"}, {"id": "X-1"}, [], "text", {"modified": "2024-01-01"}],
)
def test_what_is_not_an_advisory_is_refused(document: Any) -> None:
    with pytest.raises(OsvFormatError):
        parse_advisory(document)


def test_malformed_parts_are_skipped_not_fatal() -> None:
    advisory = parse_advisory(
        {
            "id": "X-1",
            "modified": "2024-01-01T00:00:00Z",
            "aliases": ["CVE-1", 7, None],
            "severity": "HIGH",
            "affected": [
                "junk",
                {"package": "junk"},
                {
                    "package": {"ecosystem": "npm", "name": "left-pad"},
                    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"x": 1}, 3]}],
                    "versions": ["1.0.0", 2],
                },
            ],
        }
    )
    assert advisory.aliases == ("CVE-1",) and advisory.severity == ()
    [entry] = advisory.affected
    assert entry.versions == ("1.0.0",)
    assert [(e.kind, e.version) for e in entry.ranges[0].events] == [("introduced", "0")]


def test_a_compact_advisory_parses_back_to_the_same_record() -> None:
    with zipfile.ZipFile(VULNDB / "crates.io-all.zip") as archive:
        for name in archive.namelist():
            advisory = parse_advisory(json.loads(archive.read(name)))
            assert parse_advisory(compact(advisory)) == advisory, name


def test_compacting_drops_git_ranges_and_references() -> None:
    original = _real("PyPI-all.zip", "PYSEC-2023-192")
    parsed = parse_advisory(original)
    assert {r.type for r in parsed.affected[0].ranges} == {"ECOSYSTEM", "GIT"}
    body = compact(parsed)
    assert "references" not in body and "references" in original
    assert [r["type"] for r in body["affected"][0]["ranges"]] == ["ECOSYSTEM"]
    assert body["affected"][0]["versions"] == original["affected"][0]["versions"]
    [ecosystem] = parse_advisory(body).affected[0].ranges
    assert ecosystem == next(r for r in parsed.affected[0].ranges if r.type == "ECOSYSTEM")
    assert len(json.dumps(body)) < len(json.dumps(original))


# --- severity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (10.0, "CRITICAL"),
        (9.0, "CRITICAL"),
        (8.9, "HIGH"),
        (7.0, "HIGH"),
        (6.9, "MEDIUM"),
        (4.0, "MEDIUM"),
        (3.9, "LOW"),
        (0.1, "LOW"),
        (0.0, "NONE"),
    ],
)
def test_cvss_scores_map_to_the_qualitative_scale(score: float, severity: str) -> None:
    assert Severity.from_score(score) is Severity[severity]


def test_severities_are_ordered() -> None:
    assert Severity.CRITICAL > Severity.HIGH > Severity.MEDIUM > Severity.LOW > Severity.NONE
    assert Severity.NONE > Severity.UNKNOWN
    assert max([Severity.LOW, Severity.CRITICAL, Severity.UNKNOWN]) is Severity.CRITICAL
    assert Severity.parse("high") is Severity.HIGH and Severity.parse("?") is Severity.UNKNOWN


def test_vectors_are_scored_by_the_cvss_library() -> None:
    v3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    assert cvss_score("CVSS_V3", v3) == 9.8
    assert cvss_score("CVSS_V3", "CVSS:3.1/AV:N/garbage") is None
    assert cvss_score("CVSS_V2", "AV:N/AC:L/Au:N/C:N/I:N/A:P") == 5.0
    assert cvss_score("Ubuntu", "high") is None
    # The newest CVSS version rates an advisory that carries two.
    both = [
        SeverityScore("CVSS_V3", v3),
        SeverityScore("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:P/PR:L/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N"),
    ]
    assert rate_scores(both) == (Severity.LOW, 2.3)
    assert rate_scores([SeverityScore("CVSS_V3", "bad"), SeverityScore("CVSS_V2", "bad")]) == (
        Severity.UNKNOWN,
        None,
    )


def test_without_a_vector_the_database_word_decides() -> None:
    def advisory(**fields: Any) -> Any:
        return parse_advisory({"id": "X", "modified": "2024-01-01T00:00:00Z", **fields})

    ghsa = advisory(database_specific={"severity": "MODERATE"})
    assert rate(ghsa) == (Severity.MEDIUM, None)
    ubuntu = advisory(severity=[{"type": "Ubuntu", "score": "negligible"}])
    assert rate(ubuntu) == (Severity.LOW, None)
    debian = advisory(
        affected=[
            {
                "package": {"ecosystem": "Debian:12", "name": "x"},
                "ecosystem_specific": {"urgency": "not yet assigned"},
            }
        ]
    )
    assert rate(debian) == (Severity.UNKNOWN, None)
    vector_wins = advisory(
        database_specific={"severity": "LOW"},
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    )
    assert rate(vector_wins) == (Severity.CRITICAL, 9.8)


def test_a_package_rating_wins_over_the_advisory_rating() -> None:
    advisory = parse_advisory(
        {
            "id": "X",
            "modified": "2024-01-01T00:00:00Z",
            "affected": [
                {
                    "package": {"ecosystem": "npm", "name": "a"},
                    "severity": [
                        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
                    ],
                },
                {
                    "package": {"ecosystem": "npm", "name": "b"},
                    "database_specific": {"severity": "LOW"},
                },
            ],
        }
    )
    assert rate(advisory, advisory.affected[0]) == (Severity.CRITICAL, 9.8)
    assert rate(advisory, advisory.affected[1]) == (Severity.LOW, None)
    assert rate(advisory) == (Severity.CRITICAL, 9.8)  # the highest over its packages
