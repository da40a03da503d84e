"""A `ScanReport` as stored (gzip JSON in `scan_reports.report`, plus the rows the registry-wide
queries read) and as the management API shows it.

The stored JSON is versioned by `FORMAT`; a report written by an older format than this
Dockyard reads is treated as absent (the artifact is scanned again), never half-read.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from dockyard.ext.scanning.matcher import Finding
from dockyard.ext.scanning.packages import Distro, Ecosystem, Inventory, LayerProblem, Package
from dockyard.ext.scanning.scanner import ScannerInfo, ScanReport
from dockyard.ext.scanning.severity import Severity
from dockyard.meta.scan_store import FindingRow, ReportRow, SeverityCounts

FORMAT = "dockyard-scan-report-1"


class ReportFormatError(ValueError):
    """The stored report is not one this Dockyard can read."""


def scanner_key(info: ScannerInfo) -> str:
    """How reports name their scanner: one report per digest and scanner version."""
    return f"{info.name}/{info.version}"[:100]


def severity_counts(report: ScanReport) -> SeverityCounts:
    summary = report.summary()
    return SeverityCounts(
        critical=summary["CRITICAL"],
        high=summary["HIGH"],
        medium=summary["MEDIUM"],
        low=summary["LOW"],
        unknown=summary["UNKNOWN"] + summary["NONE"],
    )


# --- stored form -------------------------------------------------------------------------------


def encode(report: ScanReport) -> bytes:
    doc = {
        "format": FORMAT,
        "scanner": {
            "name": report.scanner.name,
            "vendor": report.scanner.vendor,
            "version": report.scanner.version,
        },
        "db_version": report.db_version,
        "digest": report.digest,
        "generated_at": report.generated_at,
        "inventory": {
            "distro": _distro_json(report.inventory.distro),
            "packages": [package_json(p) for p in report.inventory.packages],
            "problems": [{"layer": p.layer, "reason": p.reason} for p in report.inventory.problems],
        },
        "findings": [_finding_json(f) for f in report.findings],
    }
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return gzip.compress(text.encode(), compresslevel=6, mtime=0)


def decode(blob: bytes) -> ScanReport:
    try:
        doc = json.loads(gzip.decompress(blob))
    except (OSError, EOFError, ValueError) as err:
        raise ReportFormatError(f"unreadable report: {err}") from err
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ReportFormatError("the report was written in another format")
    try:
        inventory = doc["inventory"]
        distro = inventory["distro"]
        return ScanReport(
            scanner=ScannerInfo(**doc["scanner"]),
            db_version=doc["db_version"],
            digest=doc["digest"],
            generated_at=float(doc["generated_at"]),
            inventory=Inventory(
                packages=tuple(_package(p) for p in inventory["packages"]),
                distro=Distro(**distro) if distro else None,
                problems=tuple(LayerProblem(**p) for p in inventory["problems"]),
            ),
            findings=tuple(_finding(f) for f in doc["findings"]),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ReportFormatError(f"malformed report: {err}") from err


def report_row(report: ScanReport) -> ReportRow:
    return ReportRow(
        digest=report.digest,
        scanner=scanner_key(report.scanner),
        db_version=report.db_version[:64],
        scanned_at=report.generated_at,
        packages=len(report.inventory.packages),
        counts=severity_counts(report),
        report=encode(report),
    )


def finding_rows(report: ScanReport) -> list[FindingRow]:
    return [
        FindingRow(
            advisory_id=f.advisory_id,
            package=f.package.name,
            version=f.package.version,
            ecosystem=str(f.package.ecosystem),
            severity=int(f.severity),
            fixed=f.fixed[0] if f.fixed else None,
        )
        for f in report.findings
    ]


def _distro_json(distro: Distro | None) -> dict[str, str] | None:
    if distro is None:
        return None
    return {"id": distro.id, "version_id": distro.version_id, "pretty_name": distro.pretty_name}


def package_json(package: Package) -> dict[str, Any]:
    return {
        "name": package.name,
        "version": package.version,
        "ecosystem": str(package.ecosystem),
        "purl": package.purl,
        "path": package.path,
        "layer": package.layer,
        "distro_release": package.distro_release,
        "source_name": package.source_name,
        "source_version": package.source_version,
        "licenses": list(package.licenses),
    }


def _package(doc: dict[str, Any]) -> Package:
    return Package(
        **{**doc, "ecosystem": Ecosystem(doc["ecosystem"]), "licenses": tuple(doc["licenses"])}
    )


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "advisory_id": finding.advisory_id,
        "aliases": list(finding.aliases),
        "package": package_json(finding.package),
        "severity": finding.severity.name,
        "score": finding.score,
        "summary": finding.summary,
        "fixed": list(finding.fixed),
        "affected_name": finding.affected_name,
        "url": finding.url,
    }


def _finding(doc: dict[str, Any]) -> Finding:
    return Finding(
        advisory_id=doc["advisory_id"],
        aliases=tuple(doc["aliases"]),
        package=_package(doc["package"]),
        severity=Severity[doc["severity"]],
        score=doc["score"],
        summary=doc["summary"],
        fixed=tuple(doc["fixed"]),
        affected_name=doc["affected_name"],
        url=doc["url"],
    )


# --- what the API shows ------------------------------------------------------------------------


def counts_view(counts: SeverityCounts) -> dict[str, int]:
    return {
        "critical": counts.critical,
        "high": counts.high,
        "medium": counts.medium,
        "low": counts.low,
        "unknown": counts.unknown,
        "total": counts.total,
    }


def package_view(package: Package) -> dict[str, Any]:
    view = package_json(package)
    view.pop("distro_release")
    return view


def finding_view(finding: Finding) -> dict[str, Any]:
    package = finding.package
    return {
        "id": finding.advisory_id,
        "aliases": list(finding.aliases),
        "severity": finding.severity.name,
        "score": finding.score,
        "summary": finding.summary,
        "package": package.name,
        "version": package.version,
        "ecosystem": str(package.ecosystem),
        "purl": package.purl,
        "path": package.path,
        "layer": package.layer,
        "fixed": list(finding.fixed),
        "url": finding.url,
    }


def report_view(report: ScanReport, minimum: Severity = Severity.UNKNOWN) -> dict[str, Any]:
    """The report as the API answers it; `minimum` leaves out less severe findings (the
    summary still counts them all)."""
    return {
        "scanner": {
            "name": report.scanner.name,
            "vendor": report.scanner.vendor,
            "version": report.scanner.version,
        },
        "db_version": report.db_version,
        "generated_at": report.generated_at,
        "summary": counts_view(severity_counts(report)),
        "packages": len(report.inventory.packages),
        "distro": _distro_json(report.inventory.distro),
        "problems": [{"layer": p.layer, "reason": p.reason} for p in report.inventory.problems],
        "findings": [finding_view(f) for f in report.findings if f.severity >= minimum],
    }
