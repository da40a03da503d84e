"""A `ScanReport` as Harbor's vulnerability report (HarborVulnerabilityReport), and back.

Harbor's report says less than Dockyard's: one id per vulnerability, a package name and version
but no ecosystem, purl or path, and only the vulnerable packages. So the server writes what the
spec asks for, and adds Dockyard's own fields under `vendor_attributes.dockyard` (the spec's
place for a scanner's extras; Harbor ignores them): a report read back by Dockyard is then the
report that was written. A report from another scanner (Trivy, Clair) is read from the spec's
fields alone; see `ecosystems.py` for the part it cannot say.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockyard.ext.scanning.adapter.ecosystems import guess_ecosystem, package_purl, parse_ecosystem
from dockyard.ext.scanning.adapter.wire import TO_HARBOR, from_harbor_severity
from dockyard.ext.scanning.matcher import Finding
from dockyard.ext.scanning.packages import Distro, Inventory, LayerProblem, Package
from dockyard.ext.scanning.reports import package_json
from dockyard.ext.scanning.scanner import ScanReport
from dockyard.ext.scanning.severity import Severity

VENDOR = "dockyard"  # the key under vendor_attributes
OSV_LINK = "https://osv.dev/vulnerability/{}"
DESCRIPTION_LIMIT = 600  # a finding's summary is a title; long descriptions are cut to this


def render_report(report: ScanReport, artifact: Mapping[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "generated_at": rfc3339(report.generated_at),
        "artifact": dict(artifact),
        "scanner": {
            "name": report.scanner.name,
            "vendor": report.scanner.vendor,
            "version": report.scanner.version,
        },
        "vulnerabilities": [_render_finding(f) for f in report.findings],
        "vendor_attributes": {VENDOR: _render_extras(report)},
    }
    if report.findings:  # Trivy leaves it out too when there is nothing to rate
        doc["severity"] = TO_HARBOR[max(f.severity for f in report.findings)]
    return doc


def harbor_id(finding: Finding) -> str:
    """The id Harbor shows and allow-lists by: the CVE when the advisory names one (Harbor's
    CVE allow-list and its users expect CVE ids), else the advisory's own id."""
    for alias in finding.aliases:
        if alias.startswith("CVE-"):
            return alias
    return finding.advisory_id


def _render_finding(finding: Finding) -> dict[str, Any]:
    package = finding.package
    item: dict[str, Any] = {
        "id": harbor_id(finding),
        "package": package.name,
        "version": package.version,
        "severity": TO_HARBOR[finding.severity],
        "description": finding.summary,
        "links": _links(finding),
    }
    if finding.fixed:
        item["fix_version"] = ", ".join(finding.fixed)  # every fixing version, as Trivy writes it
    if finding.score is not None:
        # Finding keeps the base score of the newest vector the advisory has (v4, v3, v2), not
        # the vector itself; the spec's one place for a newer-than-v2 score is score_v3.
        item["preferred_cvss"] = {"score_v3": finding.score}
    item["vendor_attributes"] = {
        VENDOR: {
            "advisory_id": finding.advisory_id,
            "aliases": list(finding.aliases),
            "severity": finding.severity.name,
            "score": finding.score,
            "fixed": list(finding.fixed),
            "affected_name": finding.affected_name,
            "url": finding.url,
            "package": package_json(package),
        }
    }
    return item


def _links(finding: Finding) -> list[str]:
    osv = OSV_LINK.format(finding.advisory_id)
    return list(dict.fromkeys(link for link in (osv, finding.url) if link))


def _render_extras(report: ScanReport) -> dict[str, Any]:
    distro = report.inventory.distro
    return {
        "db_version": report.db_version,
        "packages": len(report.inventory.packages),
        "distro": None
        if distro is None
        else {"id": distro.id, "version_id": distro.version_id, "pretty_name": distro.pretty_name},
        "problems": [{"layer": p.layer, "reason": p.reason} for p in report.inventory.problems],
    }


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedReport:
    findings: tuple[Finding, ...]
    inventory: Inventory  # the distinct packages of the findings: all a Harbor report names
    generated_at: float
    db_version: str | None  # when the report says (Dockyard's adapter does)


def parse_report(doc: object) -> ParsedReport:
    """A HarborVulnerabilityReport from any adapter. Items without an id or a package name say
    nothing that can be acted on and are skipped."""
    if not isinstance(doc, dict):
        raise ValueError("the report is not a JSON object")
    items = doc.get("vulnerabilities") or []
    if not isinstance(items, list):
        raise ValueError("the report's vulnerabilities are not a list")
    findings: dict[tuple[str, Package], Finding] = {}
    for item in items:
        finding = _parse_item(item) if isinstance(item, dict) else None
        if finding is not None:
            findings.setdefault((finding.advisory_id, finding.package), finding)
    ordered = sorted(
        findings.values(),
        key=lambda f: (-f.severity, f.package.name, f.package.version, f.advisory_id),
    )
    extras = _vendor(doc)
    packages = sorted({f.package for f in ordered}, key=lambda p: (p.ecosystem, p.name, p.version))
    inventory = Inventory(tuple(packages), _distro(extras.get("distro")), _problems(extras))
    db_version = extras.get("db_version")
    return ParsedReport(
        tuple(ordered),
        inventory,
        _timestamp(doc.get("generated_at")),
        db_version if isinstance(db_version, str) else None,
    )


def _parse_item(item: dict[str, Any]) -> Finding | None:
    ident, name = _text(item.get("id")), _text(item.get("package"))
    if not ident or not name:
        return None
    version = _text(item.get("version"))
    extras = _vendor(item)
    if isinstance(extras.get("package"), dict):
        return _parse_dockyard_item(item, extras)
    layer = item.get("layer")  # Trivy's addition: the layer that brought the package
    package = Package(
        name=name,
        version=version,
        ecosystem=guess_ecosystem(ident, version, item.get("vendor_attributes")),
        purl=package_purl(name, version, item.get("vendor_attributes")),
        path="",
        layer=_text(layer.get("digest")) if isinstance(layer, dict) else "",
    )
    links = [link for link in item.get("links") or [] if isinstance(link, str)]
    return Finding(
        advisory_id=ident,
        aliases=(),
        package=package,
        severity=from_harbor_severity(item.get("severity")),
        score=_score(item),
        summary=_text(item.get("description")).strip()[:DESCRIPTION_LIMIT],
        fixed=tuple(v.strip() for v in _text(item.get("fix_version")).split(",") if v.strip()),
        affected_name=name,
        url=links[0] if links else "",
    )


def _parse_dockyard_item(item: dict[str, Any], extras: dict[str, Any]) -> Finding:
    """Dockyard's own fields: the finding exactly as the other Dockyard found it."""
    fields = extras["package"]
    ecosystem = parse_ecosystem(_text(fields.get("ecosystem")))
    version = _text(fields.get("version")) or _text(item.get("version"))
    package = Package(
        name=_text(fields.get("name")) or _text(item.get("package")),
        version=version,
        ecosystem=ecosystem or guess_ecosystem(_text(item.get("id")), version, None),
        purl=_text(fields.get("purl")) or package_purl(_text(fields.get("name")), version, None),
        path=_text(fields.get("path")),
        layer=_text(fields.get("layer")),
        distro_release=_text(fields.get("distro_release")),
        source_name=_text(fields.get("source_name")),
        source_version=_text(fields.get("source_version")),
    )
    score = extras.get("score")
    return Finding(
        advisory_id=_text(extras.get("advisory_id")) or _text(item.get("id")),
        aliases=_texts(extras.get("aliases")),
        package=package,
        severity=Severity.parse(_text(extras.get("severity")))
        if extras.get("severity")
        else from_harbor_severity(item.get("severity")),
        score=float(score) if isinstance(score, int | float) else _score(item),
        summary=_text(item.get("description")),
        fixed=_texts(extras.get("fixed")),
        affected_name=_text(extras.get("affected_name")),
        url=_text(extras.get("url")),
    )


def _score(item: dict[str, Any]) -> float | None:
    """The v1.2 `preferred_cvss` (v3 first), else v1.1's `cve3_score`/`cve2_score` strings."""
    cvss = item.get("preferred_cvss")
    candidates = [cvss.get("score_v3"), cvss.get("score_v2")] if isinstance(cvss, dict) else []
    candidates += [item.get("cve3_score"), item.get("cve2_score")]
    for value in candidates:
        if value is None or value == "" or isinstance(value, bool):
            continue
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return None


def _vendor(doc: Mapping[str, Any]) -> dict[str, Any]:
    attributes = doc.get("vendor_attributes")
    found = attributes.get(VENDOR) if isinstance(attributes, dict) else None
    return found if isinstance(found, dict) else {}


def _distro(value: object) -> Distro | None:
    if not isinstance(value, dict) or not value.get("id"):
        return None
    return Distro(
        _text(value.get("id")), _text(value.get("version_id")), _text(value.get("pretty_name"))
    )


def _problems(extras: dict[str, Any]) -> tuple[LayerProblem, ...]:
    found = extras.get("problems")
    return tuple(
        LayerProblem(_text(p.get("layer")), _text(p.get("reason")))
        for p in (found if isinstance(found, list) else [])
        if isinstance(p, dict)
    )


def rfc3339(timestamp: float) -> str:
    return (
        datetime.fromtimestamp(timestamp, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _timestamp(value: object) -> float:
    """RFC 3339 to seconds; now, when the report has no readable time (it was just made)."""
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return time.time()
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return time.time()


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _texts(value: object) -> tuple[str, ...]:
    items: Sequence[object] = value if isinstance(value, list) else ()
    return tuple(v for v in items if isinstance(v, str))
