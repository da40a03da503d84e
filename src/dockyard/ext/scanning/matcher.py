"""Which advisories affect which packages of an inventory.

Advisories are fetched by (ecosystem, name) in batches, one lookup per batch. Distribution
advisories name source packages ("openssl" for libssl3) and are per release ("Debian:12"), so
an OS package is looked up under its binary and its source name, and only the entries of its
own release count.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from dockyard.ext.scanning.osv import Advisory, Affected, normalize_name, release_number
from dockyard.ext.scanning.packages import Package
from dockyard.ext.scanning.severity import Severity, rate
from dockyard.ext.scanning.versions import fixed_versions, is_affected

Key = tuple[str, str]  # (ecosystem without release, package name as advisories spell it)
Lookup = Callable[[Sequence[Key]], Awaitable[Mapping[Key, Sequence[Advisory]]]]
BATCH = 500
# Versions that say nothing about a release: Go's main module in a binary built from a
# checkout reports "(devel)". Ranges cannot place them, so they are not matched.
NO_VERSION = frozenset({"", "(devel)"})


@dataclass(frozen=True, slots=True)
class Finding:
    advisory_id: str
    aliases: tuple[str, ...]  # CVE and other ids, upstream ids included
    package: Package  # name, version, ecosystem, purl, path
    severity: Severity
    score: float | None  # CVSS base score, when the advisory has a vector
    summary: str
    fixed: tuple[str, ...] = ()  # versions that fix it, lowest first; empty when unfixed
    affected_name: str = ""  # the name the advisory uses: the source package for OS packages
    url: str = ""


@dataclass(frozen=True, slots=True)
class _Candidate:
    package: Package
    name: str  # as looked up
    version: str  # the version to compare: the source version for a source-name match


def _candidates(package: Package) -> list[tuple[Key, _Candidate]]:
    ecosystem = str(package.ecosystem)
    name = normalize_name(ecosystem, package.name)
    found = [((ecosystem, name), _Candidate(package, name, package.version))]
    if package.source_name and package.source_name != package.name:
        source = normalize_name(ecosystem, package.source_name)
        version = package.source_version or package.version
        found.append(((ecosystem, source), _Candidate(package, source, version)))
    return found


async def match(
    packages: Iterable[Package], lookup: Lookup, *, batch_size: int = BATCH
) -> list[Finding]:
    """Findings for every package an advisory affects, one per (advisory, package), the most
    severe first."""
    wanted: dict[Key, list[_Candidate]] = {}
    for package in packages:
        if package.version in NO_VERSION:
            continue
        for key, candidate in _candidates(package):
            wanted.setdefault(key, []).append(candidate)
    keys = sorted(wanted)
    findings: dict[tuple[str, Package], Finding] = {}
    for start in range(0, len(keys), batch_size):
        found = await lookup(keys[start : start + batch_size])
        for key, advisories in found.items():
            for candidate in wanted.get(key, ()):
                for advisory in advisories:
                    finding = _evaluate(advisory, key, candidate)
                    if finding is not None:
                        findings.setdefault((advisory.id, candidate.package), finding)
    return sorted(
        findings.values(),
        key=lambda f: (-f.severity, f.package.name, f.package.version, f.advisory_id),
    )


def _evaluate(advisory: Advisory, key: Key, candidate: _Candidate) -> Finding | None:
    if advisory.withdrawn:
        return None
    entries = [
        a for a in advisory.affected if _names(a, key) and _same_release(a, candidate.package)
    ]
    hits = [a for a in entries if is_affected(a.ecosystem, candidate.version, a)]
    if not hits:
        return None
    fixed: dict[str, None] = {}
    for entry in hits:
        fixed.update(dict.fromkeys(fixed_versions(entry.ecosystem, candidate.version, entry)))
    severity, score = rate(advisory, hits[0])
    return Finding(
        advisory_id=advisory.id,
        aliases=advisory.identifiers,
        package=candidate.package,
        severity=severity,
        score=score,
        summary=advisory.title,
        fixed=tuple(fixed),
        affected_name=candidate.name,
        url=advisory.url,
    )


def _names(affected: Affected, key: Key) -> bool:
    ecosystem, name = key
    return (
        affected.base_ecosystem == ecosystem
        and normalize_name(affected.ecosystem, affected.name) == name
    )


def _same_release(affected: Affected, package: Package) -> bool:
    """Whether a release-qualified entry ("Debian:12", "Alpine:v3.19") is for the package's
    release. A package without a known release is checked against every release's entry
    (a possible false alarm rather than a missed vulnerability)."""
    if not affected.release or not package.distro_release:
        return True
    wanted = release_number(affected.release) or affected.release
    mine = release_number(package.distro_release) or package.distro_release
    return mine == wanted or mine.startswith(wanted + ".")
