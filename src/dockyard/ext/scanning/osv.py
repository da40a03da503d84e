"""OSV advisories (https://ossf.github.io/osv-schema/) as typed, immutable records.

`parse_advisory` reads an advisory as osv.dev publishes it; `compact` writes back only what
matching and reports need, in the same OSV shape, so that a stored advisory is parsed by the
same function as a downloaded one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DETAILS_LIMIT = 600  # characters of `details` kept; reports link to the full text
EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
# Keys under which databases put a severity word rather than a CVSS vector: GitHub
# (`database_specific.severity`), Go (`ecosystem_specific.severity`), Debian (`urgency`).
SEVERITY_LABEL_KEYS = ("severity", "urgency")


class OsvFormatError(ValueError):
    """The document is not an OSV advisory this module can read."""


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # introduced, fixed, last_affected, limit
    version: str


@dataclass(frozen=True, slots=True)
class Range:
    type: str  # ECOSYSTEM, SEMVER, GIT
    events: tuple[Event, ...]
    repo: str = ""


@dataclass(frozen=True, slots=True)
class SeverityScore:
    type: str  # CVSS_V2, CVSS_V3, CVSS_V4, Ubuntu
    score: str  # a vector, or a word for the distribution-specific types


@dataclass(frozen=True, slots=True)
class Affected:
    ecosystem: str  # as written, e.g. "Debian:12"
    name: str
    purl: str = ""
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    severity: tuple[SeverityScore, ...] = ()
    severity_label: str = ""  # a word from ecosystem_specific / database_specific

    @property
    def base_ecosystem(self) -> str:
        return split_ecosystem(self.ecosystem)[0]

    @property
    def release(self) -> str:
        return split_ecosystem(self.ecosystem)[1]


@dataclass(frozen=True, slots=True)
class Advisory:
    id: str
    modified: str
    aliases: tuple[str, ...] = ()
    summary: str = ""
    details: str = ""
    published: str = ""
    withdrawn: str = ""
    severity: tuple[SeverityScore, ...] = ()
    severity_label: str = ""  # database_specific.severity, e.g. GitHub's "MODERATE"
    affected: tuple[Affected, ...] = ()
    url: str = ""  # the advisory's own page, for reports
    # the vulnerabilities this one derives from (a distribution's record of a CVE)
    upstream: tuple[str, ...] = ()

    @property
    def identifiers(self) -> tuple[str, ...]:
        """Aliases and upstream ids together, each once: the CVE names a report shows."""
        return tuple(dict.fromkeys((*self.aliases, *self.upstream)))

    @property
    def title(self) -> str:
        """The summary, or the first line of the details when there is none (PyPI)."""
        if self.summary:
            return self.summary
        first = self.details.strip().split("\n", 1)[0]
        return first[:200]


def split_ecosystem(ecosystem: str) -> tuple[str, str]:
    """("Debian", "12") from "Debian:12"; ("Alpine", "v3.19"); ("Ubuntu", "22.04:LTS")."""
    base, _, release = ecosystem.partition(":")
    return base, release


_RELEASE_NUMBER = re.compile(r"v?(\d+(?:\.\d+)*)")


def release_number(release: str) -> str:
    """The version number in a release suffix: "3.19" from "v3.19", "22.04" from
    "Pro:22.04:LTS", "9" from "enterprise_linux:9::appstream"; "" when there is none."""
    for part in release.split(":"):
        found = _RELEASE_NUMBER.fullmatch(part)
        if found:
            return found.group(1)
    return ""


def normalize_name(ecosystem: str, name: str) -> str:
    """The form two spellings of one package share: PEP 503 for PyPI; others as written."""
    if split_ecosystem(ecosystem)[0] == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


def parse_advisory(data: Mapping[str, Any]) -> Advisory:
    """A typed advisory from OSV JSON; raises OsvFormatError when `id` or `modified` is
    missing. Unknown fields are ignored and `details` is truncated to DETAILS_LIMIT."""
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
        raise OsvFormatError("not an OSV advisory: no id")
    if not isinstance(data.get("modified"), str):
        raise OsvFormatError(f"{data['id']}: no modified time")
    details = _text(data.get("details"))
    if len(details) > DETAILS_LIMIT:
        details = details[: DETAILS_LIMIT - 1].rstrip() + "…"
    return Advisory(
        id=data["id"],
        modified=data["modified"],
        aliases=_strings(data.get("aliases")),
        upstream=_strings(data.get("upstream")),
        summary=_text(data.get("summary")),
        details=details,
        published=_text(data.get("published")),
        withdrawn=_text(data.get("withdrawn")),
        severity=_scores(data.get("severity")),
        severity_label=_label(data.get("database_specific")),
        affected=tuple(_affected(a) for a in _list(data.get("affected")) if _has_package(a)),
        url=_url(data),
    )


def _affected(data: Mapping[str, Any]) -> Affected:
    package = data["package"]
    return Affected(
        ecosystem=_text(package.get("ecosystem")),
        name=_text(package.get("name")),
        purl=_text(package.get("purl")),
        ranges=tuple(_range(r) for r in _list(data.get("ranges")) if isinstance(r, Mapping)),
        versions=_strings(data.get("versions")),
        severity=_scores(data.get("severity")),
        severity_label=_label(data.get("ecosystem_specific"))
        or _label(data.get("database_specific")),
    )


def _range(data: Mapping[str, Any]) -> Range:
    events = []
    for event in _list(data.get("events")):
        if not isinstance(event, Mapping):
            continue
        for kind in EVENT_KINDS:
            if isinstance(event.get(kind), str):
                events.append(Event(kind, event[kind]))
                break
    return Range(_text(data.get("type")), tuple(events), _text(data.get("repo")))


def _scores(data: Any) -> tuple[SeverityScore, ...]:
    return tuple(
        SeverityScore(_text(s.get("type")), _text(s.get("score")))
        for s in _list(data)
        if isinstance(s, Mapping) and s.get("score")
    )


def _label(data: Any) -> str:
    if not isinstance(data, Mapping):
        return ""
    for key in SEVERITY_LABEL_KEYS:
        if isinstance(data.get(key), str):
            return data[key]
    return ""


def _url(data: Mapping[str, Any]) -> str:
    specific = data.get("database_specific")
    if isinstance(specific, Mapping) and isinstance(specific.get("url"), str):
        return specific["url"]
    for ref in _list(data.get("references")):
        if isinstance(ref, Mapping) and ref.get("type") == "ADVISORY":
            return _text(ref.get("url"))
    return ""


def _has_package(data: Any) -> bool:
    return isinstance(data, Mapping) and isinstance(data.get("package"), Mapping)


def _list(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list) else ()


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in _list(value) if isinstance(v, str))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def compact(advisory: Advisory) -> dict[str, Any]:
    """OSV JSON holding only what matching and reports use: GIT ranges (commit hashes no
    image inventory can match) and references beyond the advisory's own page are dropped."""
    body: dict[str, Any] = {"id": advisory.id, "modified": advisory.modified}
    for key in ("published", "withdrawn", "summary", "details"):
        if getattr(advisory, key):
            body[key] = getattr(advisory, key)
    if advisory.aliases:
        body["aliases"] = list(advisory.aliases)
    if advisory.upstream:
        body["upstream"] = list(advisory.upstream)
    if advisory.severity:
        body["severity"] = _scores_json(advisory.severity)
    specific: dict[str, str] = {}
    if advisory.severity_label:
        specific["severity"] = advisory.severity_label
    if advisory.url:
        specific["url"] = advisory.url
    if specific:
        body["database_specific"] = specific
    body["affected"] = [_affected_json(a) for a in advisory.affected]
    return body


def _affected_json(affected: Affected) -> dict[str, Any]:
    package = {"ecosystem": affected.ecosystem, "name": affected.name}
    if affected.purl:
        package["purl"] = affected.purl
    entry: dict[str, Any] = {"package": package}
    ranges = [
        {"type": r.type, "events": [{e.kind: e.version} for e in r.events]}
        for r in affected.ranges
        if r.type != "GIT"
    ]
    if ranges:
        entry["ranges"] = ranges
    if affected.versions:
        entry["versions"] = list(affected.versions)
    if affected.severity:
        entry["severity"] = _scores_json(affected.severity)
    if affected.severity_label:
        entry["ecosystem_specific"] = {"severity": affected.severity_label}
    return entry


def _scores_json(scores: Sequence[SeverityScore]) -> list[dict[str, str]]:
    return [{"type": s.type, "score": s.score} for s in scores]
