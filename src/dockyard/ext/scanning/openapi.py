"""The scanning endpoints (ext/scanning/api.py) as the OpenAPI document describes them."""

from __future__ import annotations

from typing import Any

from dockyard.api.openapi_paths import Op, query
from dockyard.ext.scanning.sbom import CYCLONEDX_JSON, SPDX_JSON

_A = "/api/v1/repositories/{name}/artifacts/{reference}"
_TAG = "vulnerabilities"
_SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE", "UNKNOWN"]
_FORMAT = query("format", {"enum": ["cyclonedx", "spdx"]}, "cyclonedx (1.6) or spdx (2.3)")

OPERATIONS: list[Op] = [
    Op(
        "post",
        f"{_A}/scan",
        "Queue a scan of an image (every platform of an index); needs push",
        _TAG,
        {202: "ScanRequested"},
    ),
    Op(
        "get",
        f"{_A}/vulnerabilities",
        "Scan status and report; per-platform summaries for an index",
        _TAG,
        {200: "Vulnerabilities"},
        auth="optional",
        params=(query("severity", {"enum": _SEVERITIES}, "only findings at least this severe"),),
    ),
    Op(
        "get",
        f"{_A}/packages",
        "The packages the last scan found in an image",
        _TAG,
        {200: "Packages"},
        auth="optional",
    ),
    Op(
        "get",
        f"{_A}/sbom",
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
        f"{_A}/sbom",
        "Attach an SBOM to an image as an OCI referrer; needs push",
        _TAG,
        {201: "SbomAttached"},
        params=(_FORMAT,),
    ),
    Op(
        "get",
        f"{_A}/security",
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


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_S = {"type": "string"}
_S_NULL = {"type": ["string", "null"]}
_N = {"type": "number"}
_N_NULL = {"type": ["number", "null"]}
_I = {"type": "integer"}
_B = {"type": "boolean"}
_STRINGS = {"type": "array", "items": _S}
_PROBLEMS = {"type": "array", "items": _obj(["layer", "reason"], layer=_S, reason=_S)}
_DISTRO = {
    "oneOf": [
        {"type": "null"},
        _obj(["id", "version_id"], id=_S, version_id=_S, pretty_name=_S),
    ]
}
_COUNTS = ["critical", "high", "medium", "low", "unknown", "total"]

SCHEMAS: dict[str, dict[str, Any]] = {
    "SeverityCounts": _obj(_COUNTS, **dict.fromkeys(_COUNTS, _I)),
    "ScanStatus": _obj(
        ["digest", "state", "reason", "queued_at", "progress", "attempts"],
        digest=_S,
        state={"enum": ["queued", "running", "done", "failed"]},
        reason={"enum": ["push", "manual", "rescan"]},
        queued_at=_N,
        started_at=_N_NULL,
        finished_at=_N_NULL,
        progress=_obj(["done", "total"], done=_I, total=_I),
        attempts=_I,
        error=_S_NULL,
    ),
    "ScanRequested": _obj(
        ["repository", "digest", "media_type", "scans"],
        repository=_S,
        digest=_S,
        media_type=_S,
        scans={"type": "array", "items": _ref("ScanStatus")},
    ),
    "Finding": _obj(
        ["id", "severity", "package", "version", "ecosystem", "fixed"],
        id=_S,
        aliases=_STRINGS,
        severity={"enum": _SEVERITIES},
        score=_N_NULL,
        summary=_S,
        package=_S,
        version=_S,
        ecosystem=_S,
        purl=_S,
        path=_S,
        layer=_S,
        fixed=_STRINGS,
        url=_S,
    ),
    "ScanReport": _obj(
        ["scanner", "db_version", "generated_at", "summary", "findings"],
        scanner=_obj(["name", "version"], name=_S, vendor=_S, version=_S),
        db_version=_S,
        generated_at=_N,
        summary=_ref("SeverityCounts"),
        packages=_I,
        distro=_DISTRO,
        problems=_PROBLEMS,
        findings={"type": "array", "items": _ref("Finding")},
    ),
    "Vulnerabilities": _obj(
        ["repository", "digest", "media_type", "kind", "status", "report"],
        repository=_S,
        digest=_S,
        media_type=_S,
        kind={"enum": ["image", "index", "artifact"]},
        status={"oneOf": [{"type": "null"}, _ref("ScanStatus")]},
        report={"oneOf": [{"type": "null"}, _ref("ScanReport")]},
        children={
            "type": "array",
            "items": _obj(
                ["digest", "status", "summary"],
                digest=_S,
                platform=_S_NULL,
                status={"oneOf": [{"type": "null"}, _ref("ScanStatus")]},
                summary={"oneOf": [{"type": "null"}, _ref("SeverityCounts")]},
                scanned_at=_N_NULL,
                db_version=_S_NULL,
            ),
        },
    ),
    "Package": _obj(
        ["name", "version", "ecosystem", "purl"],
        name=_S,
        version=_S,
        ecosystem=_S,
        purl=_S,
        path=_S,
        layer=_S,
        source_name=_S,
        source_version=_S,
        licenses=_STRINGS,
    ),
    "Packages": _obj(
        ["repository", "digest", "packages"],
        repository=_S,
        digest=_S,
        scanner=_S,
        generated_at=_N,
        distro=_DISTRO,
        packages={"type": "array", "items": _ref("Package")},
        problems=_PROBLEMS,
    ),
    "SbomDocument": {"type": "object", "description": "CycloneDX 1.6 or SPDX 2.3 JSON"},
    "SbomAttached": _obj(
        ["repository", "digest", "media_type", "artifact_type", "subject"],
        repository=_S,
        digest=_S,
        media_type=_S,
        artifact_type=_S,
        subject=_S,
        size=_I,
        sbom=_obj(["mediaType", "digest", "size"], mediaType=_S, digest=_S, size=_I),
    ),
    "VulnerabilityDatabase": _obj(
        ["db_version", "imported_at", "source", "feeds"],
        db_version=_S,
        imported_at=_N,
        source=_S,
        feeds={
            "type": "object",
            "additionalProperties": _obj(["advisories"], advisories=_I, withdrawn=_I),
        },
        advisories={"type": "object", "additionalProperties": _I},
    ),
    "VulnerabilitySummary": _obj(
        ["scope", "database", "history", "artifacts", "findings", "worst", "most_exposed"],
        scope={"enum": ["registry", "visible"]},
        database={"oneOf": [{"type": "null"}, _ref("VulnerabilityDatabase")]},
        history={"type": "array", "items": _ref("VulnerabilityDatabase")},
        artifacts=_I,
        findings=_ref("SeverityCounts"),
        worst={"allOf": [_ref("SeverityCounts"), _obj(["clean"], clean=_I)]},
        most_exposed={
            "type": "array",
            "items": _obj(
                ["repository", "digest", "summary"],
                repository=_S,
                digest=_S,
                summary=_ref("SeverityCounts"),
                scanned_at=_N,
                db_version=_S,
            ),
        },
        queue={
            "oneOf": [
                {"type": "null"},
                {"type": "object", "additionalProperties": _I},
            ]
        },
    ),
    "AffectedArtifacts": _obj(
        ["advisories", "artifacts", "truncated"],
        advisories={
            "type": "array",
            "items": _obj(
                ["id"],
                id=_S,
                summary=_S,
                severity=_S,
                score=_N_NULL,
                aliases=_STRINGS,
                withdrawn=_S_NULL,
            ),
        },
        artifacts={
            "type": "array",
            "items": _obj(
                ["repository", "digest", "advisory", "package", "version", "severity"],
                repository=_S,
                digest=_S,
                advisory=_S,
                package=_S,
                version=_S,
                ecosystem=_S,
                severity={"enum": _SEVERITIES},
                fixed=_S_NULL,
                first_seen_at=_N,
            ),
        },
        truncated={"type": "boolean"},
    ),
    "ArtifactSecurity": _obj(
        ["repository", "digest", "scannable", "scans", "signatures", "policy"],
        repository=_S,
        digest=_S,
        scannable=_B,
        scans={
            "type": "array",
            "items": _obj(
                ["digest", "state", "progress", "summary"],
                digest=_S,
                platform=_S_NULL,
                state={"enum": ["queued", "running", "done", "failed", None]},
                progress=_obj(["done", "total"], done=_I, total=_I),
                queued_at=_N_NULL,
                finished_at=_N_NULL,
                error=_S_NULL,
                summary={"oneOf": [{"type": "null"}, _ref("SeverityCounts")]},
                scanner=_S_NULL,
                db_version=_S_NULL,
                scanned_at=_N_NULL,
            ),
        },
        signatures=_obj(
            ["state", "summary", "signatures", "notation_present"],
            state={"enum": ["signed", "invalid", "unsigned"]},
            summary=_S,
            notation_present=_B,
            signatures={
                "type": "array",
                "items": _obj(
                    ["kind", "via", "reference", "verified", "outcome", "reason"],
                    kind=_S,
                    via={"enum": ["tag", "referrer"]},
                    reference=_S,
                    verified=_B,
                    outcome=_S,
                    key_fingerprint=_S_NULL,
                    reason=_S,
                ),
            },
        ),
        policy=_obj(
            ["enforced", "allowed", "rules"],
            enforced=_B,
            allowed=_B,
            message=_S_NULL,
            exempt=_S_NULL,
            rules={
                "type": "array",
                "items": _obj(["rule", "passed", "reason"], rule=_S, passed=_B, reason=_S),
            },
        ),
    ),
}
