"""Harbor's scanner adapter API checked against the spec (pluggable-scanner-spec OpenAPI v1.2):
the wire format and the report conversion, both ways."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from dockyard.ext.scanning.adapter.ecosystems import guess_ecosystem, package_purl
from dockyard.ext.scanning.adapter.report import harbor_id, parse_report, render_report
from dockyard.ext.scanning.adapter.wire import (
    DB_UPDATED_AT,
    SBOM_REPORT,
    TO_HARBOR,
    VULN_REPORT_1_0,
    VULN_REPORT_1_1,
    WireError,
    from_harbor_severity,
    parse_metadata,
    parse_scan_request,
)
from dockyard.ext.scanning.packages import Distro, Ecosystem, LayerProblem
from dockyard.ext.scanning.scanner import IMAGE_MANIFESTS, ScannerInfo
from dockyard.ext.scanning.severity import Severity
from dockyard.oci import mediatypes as mt
from tests.unit.ext.scanning.adapter_parts import (
    CREDENTIALS,
    REGISTRY,
    SPEC_SEVERITIES,
    make_finding,
    make_report,
)

pytestmark = pytest.mark.anyio


# --- the wire ----------------------------------------------------------------------------------


def test_every_severity_has_a_harbor_name_from_the_spec_enum() -> None:
    assert set(TO_HARBOR) == set(Severity)
    assert set(TO_HARBOR.values()) == SPEC_SEVERITIES
    for severity, word in TO_HARBOR.items():
        if severity is not Severity.NONE:  # Negligible reads back as LOW, as Ubuntu's does
            assert from_harbor_severity(word) is severity
    assert from_harbor_severity("Negligible") is Severity.LOW
    assert from_harbor_severity("whatever") is from_harbor_severity(None) is Severity.UNKNOWN


def test_the_spec_example_scan_request_is_read() -> None:
    body = {
        "registry": {"url": "https://core.harbor.domain/", "authorization": CREDENTIALS},
        "artifact": {
            "repository": "library/mongo",
            "digest": "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b",
            "tag": "3.14-xenial",
            "mime_type": mt.DOCKER_MANIFEST,
        },
        "enabled_capabilities": [
            {"type": "vulnerability"},
            {"type": "sbom", "parameters": {"sbom_media_types": ["application/spdx+json"]}},
        ],
    }
    request = parse_scan_request(body)
    assert request.registry_url == "https://core.harbor.domain"
    assert request.authorization == CREDENTIALS
    assert (request.repository, request.tag, request.mime_type) == (
        "library/mongo",
        "3.14-xenial",
        mt.DOCKER_MANIFEST,
    )
    assert request.sbom_media_types == ("application/spdx+json",)
    assert CREDENTIALS not in repr(request)
    trivy = {
        **body,
        "scan": {
            "type": "sbom",
            "parameters": {"sbom_media_type": "application/vnd.cyclonedx+json"},
        },
    }
    del trivy["enabled_capabilities"]
    assert parse_scan_request(trivy).sbom_media_types == ("application/vnd.cyclonedx+json",)


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        (lambda b: [], 400, "JSON object"),
        (lambda b: {**b, "artifact": "x"}, 400, "registry and artifact"),
        (lambda b: {**b, "registry": {"url": 5}}, 400, "registry.url must be a string"),
        (lambda b: {**b, "registry": {}}, 422, "missing registry.url"),
        (lambda b: {**b, "registry": {"url": "ftp://x"}}, 422, "http(s)"),
        (lambda b: {**b, "registry": {"url": "https://u:p@x"}}, 422, "credentials"),
        (lambda b: {**b, "artifact": {"repository": "a"}}, 422, "missing artifact.digest"),
        (
            lambda b: {**b, "artifact": {"repository": "A/../b", "digest": "sha256:" + "0" * 64}},
            422,
            "invalid",
        ),
        (lambda b: {**b, "artifact": {"repository": "a", "digest": "md5:00"}}, 422, "digest"),
        (lambda b: {**b, "enabled_capabilities": [{"type": "malware"}]}, 422, "unknown type"),
        (
            lambda b: {
                **b,
                "enabled_capabilities": [
                    {"type": "sbom", "parameters": {"sbom_media_types": ["text/plain"]}}
                ],
            },
            422,
            "SBOM media type",
        ),
    ],
)
def test_bad_scan_requests_get_the_spec_statuses(
    change: Callable[[dict[str, Any]], Any], status: int, message: str
) -> None:
    body = {
        "registry": {"url": REGISTRY},
        "artifact": {"repository": "a", "digest": "sha256:" + "0" * 64},
    }
    with pytest.raises(WireError) as raised:
        parse_scan_request(change(body))
    assert raised.value.status == status
    assert message in raised.value.message


def test_metadata_of_other_adapters_is_read() -> None:
    trivy = {  # harbor-scanner-trivy's answer, shortened
        "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.50.1"},
        "capabilities": [
            {
                "type": "vulnerability",
                "consumes_mime_types": sorted(IMAGE_MANIFESTS),
                "produces_mime_types": [VULN_REPORT_1_1],
            },
            {
                "type": "sbom",
                "consumes_mime_types": sorted(IMAGE_MANIFESTS),
                "produces_mime_types": [SBOM_REPORT],
            },
        ],
        "properties": {DB_UPDATED_AT: "2024-05-01T00:00:00Z"},
    }
    metadata = parse_metadata(trivy)
    assert metadata.scanner == ScannerInfo("Trivy", "Aqua Security", "0.50.1")
    assert metadata.consumes() == IMAGE_MANIFESTS
    assert metadata.produces() == (VULN_REPORT_1_1,)
    clair = {
        "scanner": {"name": "Clair"},
        "capabilities": [  # v1.0: no capability type
            {"consumes_mime_types": [mt.OCI_MANIFEST], "produces_mime_types": [VULN_REPORT_1_0]}
        ],
    }
    assert parse_metadata(clair).produces() == (VULN_REPORT_1_0,)
    with pytest.raises(WireError):
        parse_metadata({"scanner": {}})


# --- reports -----------------------------------------------------------------------------------


def test_a_report_is_written_as_the_spec_says_and_read_back_whole() -> None:
    findings = (
        make_finding("DSA-1", Severity.CRITICAL, score=9.8),
        make_finding("PYSEC-2", Severity.NONE, aliases=("GHSA-x",), fixed=()),
        make_finding("GO-3", Severity.HIGH, fixed=("1.2", "1.3")),
    )
    problem = LayerProblem("sha256:" + "3" * 64, "layer archive unreadable")
    report = make_report(*findings, problems=(problem,))
    artifact = {"repository": "team/app", "digest": report.digest, "mime_type": mt.OCI_MANIFEST}
    doc = json.loads(json.dumps(render_report(report, artifact)))
    assert doc["artifact"] == artifact
    assert doc["scanner"] == {"name": "dockyard", "vendor": "Dockyard", "version": "0.1.0"}
    assert doc["severity"] == "Critical"
    assert doc["generated_at"] == "2023-11-14T22:13:20.500Z"
    first, second, third = doc["vulnerabilities"]
    assert first["id"] == "CVE-2024-0001"  # Harbor allow-lists by CVE id
    assert second["id"] == "PYSEC-2" and "fix_version" not in second
    assert third["fix_version"] == "1.2, 1.3"
    assert first["preferred_cvss"] == {"score_v3": 9.8}
    assert first["links"] == ["https://osv.dev/vulnerability/DSA-1", "https://example.test/a"]
    assert {v["severity"] for v in doc["vulnerabilities"]} <= SPEC_SEVERITIES
    assert (first["package"], first["version"]) == ("openssl", "3.0.11-1")
    parsed = parse_report(doc)
    assert set(parsed.findings) == set(findings)
    assert parsed.db_version == "db-1"
    assert parsed.generated_at == report.generated_at
    assert parsed.inventory.distro == Distro("debian", "12")
    assert parsed.inventory.problems == (problem,)


def test_an_empty_report_has_no_overall_severity() -> None:
    doc = render_report(make_report(), {"repository": "a", "digest": "sha256:" + "2" * 64})
    assert "severity" not in doc and doc["vulnerabilities"] == []
    assert parse_report(doc).findings == ()


def test_a_report_from_another_scanner_is_read_from_the_spec_fields() -> None:
    trivy = {
        "generated_at": "2024-05-01T10:00:00.123456789Z",
        "artifact": {"repository": "a", "digest": "sha256:" + "2" * 64},
        "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.50.1"},
        "severity": "High",
        "vulnerabilities": [
            {
                "id": "CVE-2023-1",
                "package": "libssl3",
                "version": "3.0.11-1~deb12u1",
                "fix_version": "3.0.13-1~deb12u1",
                "severity": "High",
                "description": "  x \n",
                "links": ["https://avd.aquasec.com/nvd/cve-2023-1"],
                "layer": {"digest": "sha256:" + "4" * 64},
                "preferred_cvss": {"score_v3": 7.5, "vector_v3": "CVSS:3.1/AV:N"},
            },
            {
                "id": "CVE-2023-2",
                "package": "musl",
                "version": "1.2.4-r1",
                "severity": "Negligible",
            },
            {
                "id": "GHSA-aaaa",
                "package": "lodash",
                "version": "4.17.20",
                "severity": "Medium",
                "vendor_attributes": {"purl": "pkg:npm/lodash@4.17.20"},
            },
            {"id": "CVE-2023-3", "package": "bash", "version": "5.1", "cve2_score": "4.3"},
            {"package": "no-id"},
            "not an item",
        ],
    }
    parsed = parse_report(trivy)
    by_id = {f.advisory_id: f for f in parsed.findings}
    assert set(by_id) == {"CVE-2023-1", "CVE-2023-2", "GHSA-aaaa", "CVE-2023-3"}
    ssl = by_id["CVE-2023-1"]
    assert (ssl.severity, ssl.score, ssl.fixed, ssl.summary) == (
        Severity.HIGH,
        7.5,
        ("3.0.13-1~deb12u1",),
        "x",
    )
    assert ssl.package.layer == "sha256:" + "4" * 64
    assert ssl.package.purl == "pkg:generic/libssl3@3.0.11-1~deb12u1"
    assert ssl.url == "https://avd.aquasec.com/nvd/cve-2023-1"
    assert by_id["CVE-2023-2"].severity is Severity.LOW
    assert by_id["CVE-2023-2"].package.ecosystem is Ecosystem.ALPINE
    assert by_id["GHSA-aaaa"].package.ecosystem is Ecosystem.NPM
    assert by_id["GHSA-aaaa"].package.purl == "pkg:npm/lodash@4.17.20"
    assert (by_id["CVE-2023-3"].severity, by_id["CVE-2023-3"].score) == (Severity.UNKNOWN, 4.3)
    assert parsed.findings[0].severity is Severity.HIGH  # the most severe first
    assert len(parsed.inventory.packages) == 4 and parsed.db_version is None
    assert parsed.generated_at == pytest.approx(1714557600.123456)


@pytest.mark.parametrize(
    ("advisory", "version", "ecosystem"),
    [
        ("PYSEC-2019-217", "2.10", Ecosystem.PYPI),
        ("GO-2022-0001", "v1.2.3", Ecosystem.GO),
        ("RUSTSEC-2021-0001", "0.1.0", Ecosystem.CRATES_IO),
        ("DLA-3000-1", "1.0", Ecosystem.DEBIAN),
        ("USN-6000-1", "1.0", Ecosystem.UBUNTU),
        ("RHSA-2024:0001", "1.0", Ecosystem.RPM),
        ("CVE-2024-1", "3.1.4-r5", Ecosystem.ALPINE),
        ("CVE-2024-1", "1.1.1k-9.el9", Ecosystem.RPM),
        ("CVE-2024-1", "2.35-0ubuntu3.6", Ecosystem.UBUNTU),
        ("CVE-2024-1", "7.88.1-10+deb12u5", Ecosystem.DEBIAN),
        ("CVE-2024-1", "2.10", Ecosystem.DEBIAN),  # the documented fallback
    ],
)
def test_ecosystems_are_guessed_from_what_the_report_says(
    advisory: str, version: str, ecosystem: Ecosystem
) -> None:
    assert guess_ecosystem(advisory, version, None) is ecosystem


def test_a_package_url_in_vendor_attributes_wins() -> None:
    attributes = {"PkgIdentifier": {"PURL": "pkg:pypi/jinja2@2.10"}}
    assert guess_ecosystem("CVE-2024-1", "2.10", attributes) is Ecosystem.PYPI
    assert package_purl("Jinja2", "2.10", attributes) == "pkg:pypi/jinja2@2.10"
    assert harbor_id(make_finding("PYSEC-1", Severity.LOW, aliases=("GHSA-1",))) == "PYSEC-1"
