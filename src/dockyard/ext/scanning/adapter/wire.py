"""Harbor's pluggable scanner adapter API (goharbor/pluggable-scanner-spec, OpenAPI v1.2) on
the wire: media types, the metadata document, the scan request, severities.

Both directions share this module: the server (Dockyard's scanner behind the API) writes what
the client (Dockyard using Trivy, Clair, … through the API) reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from dockyard.ext.scanning.scanner import ScannerInfo
from dockyard.ext.scanning.severity import Severity
from dockyard.oci.digest import Digest, InvalidDigest
from dockyard.oci.names import InvalidName, validate_name

API_PREFIX = "/api/v1"  # Harbor appends it to a registration's URL

METADATA_1_0 = "application/vnd.scanner.adapter.metadata+json; version=1.0"
METADATA_1_1 = "application/vnd.scanner.adapter.metadata+json; version=1.1"
SCAN_REQUEST = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
SCAN_RESPONSE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
ERROR = "application/vnd.scanner.adapter.error+json; version=1.0"
# One report schema (HarborVulnerabilityReport) under two names: Harbor before 2.? asks for the
# first, current Harbor and Trivy's adapter for the second.
VULN_REPORT_1_0 = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
VULN_REPORT_1_1 = "application/vnd.security.vulnerability.report; version=1.1"
VULN_REPORTS = (VULN_REPORT_1_1, VULN_REPORT_1_0)
SBOM_REPORT = "application/vnd.security.sbom.report+json; version=1.0"
SPDX = "application/spdx+json"
CYCLONEDX = "application/vnd.cyclonedx+json"
SBOM_MEDIA_TYPES = (SPDX, CYCLONEDX)

VULNERABILITY = "vulnerability"
SBOM = "sbom"

# Metadata properties. The first two are the spec's examples (Trivy's adapter writes both); the
# last is Dockyard's own: the exact database version, which a timestamp cannot stand in for.
SCANNER_TYPE = "harbor.scanner-adapter/scanner-type"
DB_UPDATED_AT = "harbor.scanner-adapter/vulnerability-database-updated-at"
DB_VERSION = "dockyard/vulnerability-database-version"

# The spec's Severity enum; Dockyard's NONE (CVSS 0.0, "no impact") is closest to Negligible.
TO_HARBOR: dict[Severity, str] = {
    Severity.UNKNOWN: "Unknown",
    Severity.NONE: "Negligible",
    Severity.LOW: "Low",
    Severity.MEDIUM: "Medium",
    Severity.HIGH: "High",
    Severity.CRITICAL: "Critical",
}


def from_harbor_severity(value: object) -> Severity:
    """Harbor's word as Dockyard reads any database's word: Negligible is LOW, as it is for
    Ubuntu's priority of the same name; anything unrecognised is UNKNOWN."""
    return Severity.from_label(value) if isinstance(value, str) else Severity.UNKNOWN


class WireError(Exception):
    """A request or answer that does not follow the spec; `status` is the HTTP status the
    server answers it with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def same_media_type(a: str, b: str) -> bool:
    """Media types compare without case and whitespace around `;` and `=` (Harbor writes
    `…; version=1.0`, a hand-written client may write `…;version=1.0`)."""
    return _normal(a) == _normal(b)


def _normal(media_type: str) -> str:
    return ";".join(part.strip().replace(" ", "") for part in media_type.lower().split(";"))


# --- metadata --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capability:
    type: str  # "vulnerability" or "sbom"; absent in v1.0/v1.1 documents, which is vulnerability
    consumes: tuple[str, ...]
    produces: tuple[str, ...]
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AdapterMetadata:
    scanner: ScannerInfo
    capabilities: tuple[Capability, ...]
    properties: Mapping[str, str] = field(default_factory=dict)

    def consumes(self, kind: str = VULNERABILITY) -> frozenset[str]:
        return frozenset(m for c in self.capabilities if c.type == kind for m in c.consumes)

    def produces(self, kind: str = VULNERABILITY) -> tuple[str, ...]:
        return tuple(m for c in self.capabilities if c.type == kind for m in c.produces)


def served_capabilities(consumes: Iterable[str]) -> tuple[Capability, ...]:
    """What Dockyard's adapter endpoint offers for the manifest types its scanner reads:
    vulnerability reports and, since v1.2 of the spec, SBOMs."""
    consumes = tuple(sorted(consumes))
    return (
        Capability(VULNERABILITY, consumes, VULN_REPORTS),
        Capability(SBOM, consumes, (SBOM_REPORT,), {"sbom_media_types": list(SBOM_MEDIA_TYPES)}),
    )


def render_metadata(metadata: AdapterMetadata) -> dict[str, Any]:
    capabilities = []
    for capability in metadata.capabilities:
        entry: dict[str, Any] = {
            "type": capability.type,
            "consumes_mime_types": list(capability.consumes),
            "produces_mime_types": list(capability.produces),
        }
        if capability.attributes:
            entry["additional_attributes"] = dict(capability.attributes)
        capabilities.append(entry)
    scanner = metadata.scanner
    return {
        "scanner": {"name": scanner.name, "vendor": scanner.vendor, "version": scanner.version},
        "capabilities": capabilities,
        "properties": dict(metadata.properties),
    }


def parse_metadata(doc: object) -> AdapterMetadata:
    """An adapter's GET /metadata answer; raises WireError when `scanner` or `capabilities`
    (both required by the spec) are missing or malformed."""
    if not isinstance(doc, dict):
        raise WireError(502, "metadata is not a JSON object")
    scanner, capabilities = doc.get("scanner"), doc.get("capabilities")
    if not isinstance(scanner, dict) or not isinstance(capabilities, list):
        raise WireError(502, "metadata lacks scanner or capabilities")
    info = ScannerInfo(
        _text(scanner.get("name")), _text(scanner.get("vendor")), _text(scanner.get("version"))
    )
    parsed = tuple(_capability(c) for c in capabilities if isinstance(c, dict))
    properties = doc.get("properties")
    props = {str(k): str(v) for k, v in properties.items()} if isinstance(properties, dict) else {}
    return AdapterMetadata(info, parsed, props)


def _capability(doc: dict[str, Any]) -> Capability:
    attributes = doc.get("additional_attributes")
    return Capability(
        type=_text(doc.get("type")) or VULNERABILITY,
        consumes=_texts(doc.get("consumes_mime_types")),
        produces=_texts(doc.get("produces_mime_types")),
        attributes=attributes if isinstance(attributes, dict) else {},
    )


# --- scan request ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScanRequest:
    registry_url: str  # base URL of the registry's /v2/ API, without a trailing slash
    authorization: str | None = field(repr=False)  # an Authorization header value; never logged
    repository: str
    digest: str
    tag: str = ""
    mime_type: str = ""
    # v1.2 `enabled_capabilities[type=sbom].parameters.sbom_media_types`, or Trivy's
    # `scan.parameters.sbom_media_type`: the SBOM format asked for when scanning.
    sbom_media_types: tuple[str, ...] = ()

    def artifact(self) -> dict[str, str]:
        artifact = {"repository": self.repository, "digest": self.digest}
        if self.tag:
            artifact["tag"] = self.tag
        if self.mime_type:
            artifact["mime_type"] = self.mime_type
        return artifact

    def render(self) -> dict[str, Any]:
        registry = {"url": self.registry_url}
        if self.authorization:
            registry["authorization"] = self.authorization
        return {"registry": registry, "artifact": self.artifact()}


def parse_scan_request(doc: object) -> ScanRequest:
    """A POST /scan body; WireError 400 for the wrong JSON types, 422 for invalid fields (the
    spec's two statuses for a bad request)."""
    if not isinstance(doc, dict):
        raise WireError(400, "the scan request must be a JSON object")
    registry, artifact = doc.get("registry"), doc.get("artifact")
    if not isinstance(registry, dict) or not isinstance(artifact, dict):
        raise WireError(400, "the scan request needs registry and artifact objects")
    url = _field(registry, "url", "registry", required=True).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WireError(422, "registry.url must be an http(s) URL")
    if parts.query or parts.fragment or parts.username:
        raise WireError(422, "registry.url must not carry a query, fragment or credentials")
    repository = _field(artifact, "repository", "artifact", required=True)
    digest = _field(artifact, "digest", "artifact", required=True)
    try:
        validate_name(repository)
        Digest.parse(digest)
    except (InvalidName, InvalidDigest) as err:
        raise WireError(422, f"artifact: {err}") from None
    return ScanRequest(
        registry_url=url,
        authorization=_field(registry, "authorization", "registry") or None,
        repository=repository,
        digest=digest,
        tag=_field(artifact, "tag", "artifact"),
        mime_type=_field(artifact, "mime_type", "artifact"),
        sbom_media_types=_requested_sbom_types(doc),
    )


def _requested_sbom_types(doc: dict[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    capabilities = doc.get("enabled_capabilities")
    for capability in capabilities if isinstance(capabilities, list) else ():
        if not isinstance(capability, dict):
            raise WireError(400, "enabled_capabilities must be a list of objects")
        kind = capability.get("type")
        if kind not in (VULNERABILITY, SBOM):
            raise WireError(422, f"enabled_capabilities: unknown type {kind!r}")
        parameters = capability.get("parameters")
        if kind == SBOM and isinstance(parameters, dict):
            found.extend(_texts(parameters.get("sbom_media_types")))
    scan = doc.get("scan")  # harbor-scanner-trivy's spelling of the same request
    if isinstance(scan, dict) and isinstance(scan.get("parameters"), dict):
        found.extend(_texts([scan["parameters"].get("sbom_media_type")]))
    unknown = [m for m in found if m not in SBOM_MEDIA_TYPES]
    if unknown:
        raise WireError(422, f"unsupported SBOM media type {unknown[0]!r}")
    return tuple(dict.fromkeys(found))


def _field(doc: dict[str, Any], key: str, owner: str, *, required: bool = False) -> str:
    value = doc.get(key)
    if value is None or value == "":
        if required:
            raise WireError(422, f"missing {owner}.{key}")
        return ""
    if not isinstance(value, str):
        raise WireError(400, f"{owner}.{key} must be a string")
    return value


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _texts(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str) and v) if isinstance(value, list) else ()
