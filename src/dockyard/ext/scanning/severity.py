"""How bad an advisory is: a CVSS base score when there is a vector, else the database's word."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from functools import lru_cache

from cvss import CVSS2, CVSS3, CVSS4, CVSSError

from dockyard.ext.scanning.osv import Advisory, Affected, SeverityScore


class Severity(IntEnum):
    """Ordered, so that `finding.severity >= Severity.HIGH` reads as it should. UNKNOWN (no
    rating at all) sorts lowest; policies that must not miss unrated advisories say so."""

    UNKNOWN = 0
    NONE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @classmethod
    def from_score(cls, score: float) -> Severity:
        """The CVSS v3/v4 qualitative scale."""
        if score >= 9.0:
            return cls.CRITICAL
        if score >= 7.0:
            return cls.HIGH
        if score >= 4.0:
            return cls.MEDIUM
        if score > 0.0:
            return cls.LOW
        return cls.NONE

    @classmethod
    def from_label(cls, label: str) -> Severity:
        """A database's word: GitHub's MODERATE, Debian's urgency, Ubuntu's priority."""
        return _LABELS.get(label.strip().lower(), cls.UNKNOWN)

    @classmethod
    def parse(cls, name: str) -> Severity:
        """The enum from its name as stored ("HIGH"); UNKNOWN for anything else."""
        return cls.__members__.get(name.upper(), cls.UNKNOWN)


_LABELS = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "important": Severity.HIGH,  # Red Hat
    "moderate": Severity.MEDIUM,  # GitHub, Red Hat
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.LOW,  # Ubuntu
    "unimportant": Severity.LOW,  # Debian
    "none": Severity.NONE,
}
# Newest CVSS version first: when an advisory carries several vectors, the newest rates it.
_CVSS_PREFERENCE = ("CVSS_V4", "CVSS_V3", "CVSS_V2")


@lru_cache(maxsize=4096)
def cvss_score(kind: str, vector: str) -> float | None:
    """The base score of a vector, or None when the vector is malformed or of unknown kind."""
    parser = {"CVSS_V4": CVSS4, "CVSS_V3": CVSS3, "CVSS_V2": CVSS2}.get(kind)
    if parser is None:
        return None
    try:
        return float(parser(vector).base_score)
    except (CVSSError, ValueError, KeyError, IndexError):
        return None


def rate_scores(scores: Iterable[SeverityScore], label: str = "") -> tuple[Severity, float | None]:
    """(severity, base score) from OSV `severity` entries, else from a label, else UNKNOWN."""
    by_kind = {s.type: s.score for s in scores}
    for kind in _CVSS_PREFERENCE:
        if kind in by_kind:
            score = cvss_score(kind, by_kind[kind])
            if score is not None:
                return Severity.from_score(score), score
    for kind, word in by_kind.items():
        if kind not in _CVSS_PREFERENCE:  # e.g. type "Ubuntu" with score "medium"
            rated = Severity.from_label(word)
            if rated is not Severity.UNKNOWN:
                return rated, None
    return (Severity.from_label(label) if label else Severity.UNKNOWN), None


def rate(advisory: Advisory, affected: Affected | None = None) -> tuple[Severity, float | None]:
    """The rating of an advisory for one affected package (the package's own severity wins,
    as OSV allows per-package ratings), or the highest over all packages when none is given."""
    if affected is not None:
        return _rate_one(advisory, affected)
    ratings = [_rate_one(advisory, a) for a in advisory.affected] or [_rate_one(advisory, None)]
    return max(ratings, key=lambda r: (r[0], r[1] or 0.0))


def _rate_one(advisory: Advisory, affected: Affected | None) -> tuple[Severity, float | None]:
    if affected is not None and affected.severity:
        return rate_scores(affected.severity, affected.severity_label or advisory.severity_label)
    label = advisory.severity_label or (affected.severity_label if affected else "")
    return rate_scores(advisory.severity, label)
