"""What the adapter tests share: constants and small report builders."""

from __future__ import annotations

import base64
from typing import Any

from dockyard.ext.scanning.matcher import Finding
from dockyard.ext.scanning.packages import Distro, Ecosystem, Inventory, LayerProblem, Package
from dockyard.ext.scanning.scanner import ScannerInfo, ScanReport
from dockyard.ext.scanning.severity import Severity

SPEC_SEVERITIES = {"Unknown", "Negligible", "Low", "Medium", "High", "Critical"}
CREDENTIALS = "Basic " + base64.b64encode(b"robot:secret").decode()
ADAPTER_AUTH = "Bearer let-me-in"
REGISTRY = "https://registry.test"


def make_finding(advisory: str, severity: Severity, **extra: Any) -> Finding:
    package = Package(
        "openssl",
        "3.0.11-1",
        Ecosystem.DEBIAN,
        "pkg:deb/debian/openssl@3.0.11-1",
        "var/lib/dpkg/status",
        layer="sha256:" + "1" * 64,
        distro_release="12",
        source_name="openssl",
    )
    fields: dict[str, Any] = {
        "aliases": ("CVE-2024-0001",),
        "package": package,
        "severity": severity,
        "score": None,
        "summary": f"{advisory} summary",
        "fixed": ("3.0.13-1",),
        "url": "https://example.test/a",
    }
    fields.update(extra)
    return Finding(advisory_id=advisory, **fields)


def make_report(*findings: Finding, problems: tuple[LayerProblem, ...] = ()) -> ScanReport:
    inventory = Inventory(tuple({f.package for f in findings}), Distro("debian", "12"), problems)
    info = ScannerInfo("dockyard", "Dockyard", "0.1.0")
    return ScanReport(info, "db-1", "sha256:" + "2" * 64, 1_700_000_000.5, inventory, findings)
