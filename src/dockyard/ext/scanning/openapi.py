"""The scanning endpoints (ext/scanning/api.py) as the OpenAPI document describes them."""

from __future__ import annotations

from typing import Any

from dockyard.api.openapi_paths import Op, query
from dockyard.ext.scanning.openapi_parts import (
    ARTIFACT,
    BOOLEAN,
    INTEGER,
    NULLABLE_NUMBER,
    NULLABLE_STRING,
    NUMBER,
    STRING,
    STRINGS,
    VERDICT,
    array,
    nullable,
    obj,
    ref,
    signature,
)
from dockyard.ext.scanning.sbom import CYCLONEDX_JSON, SPDX_JSON

_TAG = "vulnerabilities"
_SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE", "UNKNOWN"]
_FORMAT = query("format", {"enum": ["cyclonedx", "spdx"]}, "cyclonedx (1.6) or spdx (2.3)")

OPERATIONS: list[Op] = [
    Op(
        "post",
        f"{ARTIFACT}/scan",
        "Queue a scan of an image (every platform of an index); needs push",
        _TAG,
        {202: "ScanRequested"},
    ),
    Op(
        "get",
        f"{ARTIFACT}/vulnerabilities",
        "Scan status and report; per-platform summaries for an index",
        _TAG,
        {200: "Vulnerabilities"},
        auth="optional",
        params=(query("severity", {"enum": _SEVERITIES}, "only findings at least this severe"),),
    ),
    Op(
        "get",
        f"{ARTIFACT}/packages",
        "The packages the last scan found in an image",
        _TAG,
        {200: "Packages"},
        auth="optional",
    ),
    Op(
        "get",
        f"{ARTIFACT}/sbom",
        "An SBOM of an image, from its last scan",
        _TAG,
        {200: "SbomDocument"},
        auth="optional",
        params=(_FORMAT,),
        ok_media=CYCLONEDX_JSON,
        other_media=(SPDX_JSON,),
    ),
    Op(
        "post",
        f"{ARTIFACT}/sbom",
        "Attach an SBOM to an image as an OCI referrer; needs push",
        _TAG,
        {201: "SbomAttached"},
        params=(_FORMAT,),
    ),
    Op(
        "get",
        f"{ARTIFACT}/security",
        "Scan status and severity counts, signature state and pull verdict of an artifact",
        _TAG,
        {200: "ArtifactSecurity"},
        auth="optional",
    ),
    Op(
        "get",
        "/api/v1/vulnerabilities/summary",
        "Findings across the registry, the most exposed images, the database",
        _TAG,
        {200: "VulnerabilitySummary"},
        params=(query("top", {"type": "integer", "minimum": 1, "maximum": 100}, "images"),),
    ),
    Op(
        "get",
        "/api/v1/vulnerabilities/affected",
        "Images an advisory affects",
        _TAG,
        {200: "AffectedArtifacts"},
        params=(
            {
                **query("advisory", {"type": "string", "maxLength": 100}, "an OSV advisory id"),
                "required": True,
            },
            query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "at most"),
        ),
    ),
]


_PROBLEMS = array(obj(["layer", "reason"], layer=STRING, reason=STRING))
_DISTRO = nullable(obj(["id", "version_id"], id=STRING, version_id=STRING, pretty_name=STRING))
_COUNTS = ["critical", "high", "medium", "low", "unknown", "total"]

SCHEMAS: dict[str, dict[str, Any]] = {
    "SeverityCounts": obj(_COUNTS, **dict.fromkeys(_COUNTS, INTEGER)),
    "ScanStatus": obj(
        ["digest", "state", "reason", "queued_at", "progress", "attempts"],
        digest=STRING,
        state={"enum": ["queued", "running", "done", "failed"]},
        reason={"enum": ["push", "manual", "rescan"]},
        queued_at=NUMBER,
        started_at=NULLABLE_NUMBER,
        finished_at=NULLABLE_NUMBER,
        progress=obj(["done", "total"], done=INTEGER, total=INTEGER),
        attempts=INTEGER,
        error=NULLABLE_STRING,
    ),
    "ScanRequested": obj(
        ["repository", "digest", "media_type", "scans"],
        repository=STRING,
        digest=STRING,
        media_type=STRING,
        scans=array(ref("ScanStatus")),
    ),
    "Finding": obj(
        ["id", "severity", "package", "version", "ecosystem", "fixed"],
        id=STRING,
        aliases=STRINGS,
        severity={"enum": _SEVERITIES},
        score=NULLABLE_NUMBER,
        summary=STRING,
        package=STRING,
        version=STRING,
        ecosystem=STRING,
        purl=STRING,
        path=STRING,
        layer=STRING,
        fixed=STRINGS,
        url=STRING,
    ),
    "ScanReport": obj(
        ["scanner", "db_version", "generated_at", "summary", "findings"],
        scanner=obj(["name", "version"], name=STRING, vendor=STRING, version=STRING),
        db_version=STRING,
        generated_at=NUMBER,
        summary=ref("SeverityCounts"),
        packages=INTEGER,
        distro=_DISTRO,
        problems=_PROBLEMS,
        findings=array(ref("Finding")),
    ),
    "Vulnerabilities": obj(
        ["repository", "digest", "media_type", "kind", "status", "report"],
        repository=STRING,
        digest=STRING,
        media_type=STRING,
        kind={"enum": ["image", "index", "artifact"]},
        status=nullable(ref("ScanStatus")),
        report=nullable(ref("ScanReport")),
        children=array(
            obj(
                ["digest", "status", "summary"],
                digest=STRING,
                platform=NULLABLE_STRING,
                status=nullable(ref("ScanStatus")),
                summary=nullable(ref("SeverityCounts")),
                scanned_at=NULLABLE_NUMBER,
                db_version=NULLABLE_STRING,
            )
        ),
    ),
    "Package": obj(
        ["name", "version", "ecosystem", "purl"],
        name=STRING,
        version=STRING,
        ecosystem=STRING,
        purl=STRING,
        path=STRING,
        layer=STRING,
        source_name=STRING,
        source_version=STRING,
        licenses=STRINGS,
    ),
    "Packages": obj(
        ["repository", "digest", "packages"],
        repository=STRING,
        digest=STRING,
        scanner=STRING,
        generated_at=NUMBER,
        distro=_DISTRO,
        packages=array(ref("Package")),
        problems=_PROBLEMS,
    ),
    "SbomDocument": {"type": "object", "description": "CycloneDX 1.6 or SPDX 2.3 JSON"},
    "SbomAttached": obj(
        ["repository", "digest", "media_type", "artifact_type", "subject"],
        repository=STRING,
        digest=STRING,
        media_type=STRING,
        artifact_type=STRING,
        subject=STRING,
        size=INTEGER,
        sbom=obj(["mediaType", "digest", "size"], mediaType=STRING, digest=STRING, size=INTEGER),
    ),
    "VulnerabilityDatabase": obj(
        ["db_version", "imported_at", "source", "feeds"],
        db_version=STRING,
        imported_at=NUMBER,
        source=STRING,
        feeds={
            "type": "object",
            "additionalProperties": obj(["advisories"], advisories=INTEGER, withdrawn=INTEGER),
        },
        advisories={"type": "object", "additionalProperties": INTEGER},
    ),
    "VulnerabilitySummary": obj(
        ["scope", "database", "history", "artifacts", "findings", "worst", "most_exposed"],
        scope={"enum": ["registry", "visible"]},
        database=nullable(ref("VulnerabilityDatabase")),
        history=array(ref("VulnerabilityDatabase")),
        artifacts=INTEGER,
        findings=ref("SeverityCounts"),
        worst={"allOf": [ref("SeverityCounts"), obj(["clean"], clean=INTEGER)]},
        most_exposed=array(
            obj(
                ["repository", "digest", "summary"],
                repository=STRING,
                digest=STRING,
                summary=ref("SeverityCounts"),
                scanned_at=NUMBER,
                db_version=STRING,
            )
        ),
        queue=nullable({"type": "object", "additionalProperties": INTEGER}),
    ),
    "AffectedArtifacts": obj(
        ["advisories", "artifacts", "truncated"],
        advisories=array(
            obj(
                ["id"],
                id=STRING,
                summary=STRING,
                severity=STRING,
                score=NULLABLE_NUMBER,
                aliases=STRINGS,
                withdrawn=NULLABLE_STRING,
            )
        ),
        artifacts=array(
            obj(
                ["repository", "digest", "advisory", "package", "version", "severity"],
                repository=STRING,
                digest=STRING,
                advisory=STRING,
                package=STRING,
                version=STRING,
                ecosystem=STRING,
                severity={"enum": _SEVERITIES},
                fixed=NULLABLE_STRING,
                first_seen_at=NUMBER,
            )
        ),
        truncated=BOOLEAN,
    ),
    "ArtifactSecurity": obj(
        ["repository", "digest", "scannable", "scans", "signatures", "policy"],
        repository=STRING,
        digest=STRING,
        scannable=BOOLEAN,
        scans=array(
            obj(
                ["digest", "state", "progress", "summary"],
                digest=STRING,
                platform=NULLABLE_STRING,
                state={"enum": ["queued", "running", "done", "failed", None]},
                progress=obj(["done", "total"], done=INTEGER, total=INTEGER),
                queued_at=NULLABLE_NUMBER,
                finished_at=NULLABLE_NUMBER,
                error=NULLABLE_STRING,
                summary=nullable(ref("SeverityCounts")),
                scanner=NULLABLE_STRING,
                db_version=NULLABLE_STRING,
                scanned_at=NULLABLE_NUMBER,
            )
        ),
        signatures=obj(
            ["state", "summary", "signatures", "notation_present"],
            state={"enum": ["signed", "invalid", "unsigned"]},
            summary=STRING,
            notation_present=BOOLEAN,
            signatures=array(signature("reference")),
        ),
        policy=obj(["enforced", "allowed", "rules"], **VERDICT),
    ),
}
