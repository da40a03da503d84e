"""Version order per ecosystem, and the OSV evaluation of an affected entry.

Each ecosystem orders versions its own way (dpkg's epochs and `~`, apk's `_rc` and `-r`,
PEP 440's pre- and post-releases, semver's pre-releases). A version a parser rejects never
raises here: the comparison falls back to a plain numeric-then-text order for every version
it involves, so one odd version string costs precision, not the scan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from debian.debian_support import Version as DebianVersion
from packaging.version import InvalidVersion as Pep440Invalid
from packaging.version import Version as Pep440Version
from univers.versions import (
    AlpineLinuxVersion,
    InvalidVersion,
    MavenVersion,
    RpmVersion,
    SemverVersion,
)

from dockyard.ext.scanning.osv import Affected, Event, Range, split_ecosystem

_DPKG = frozenset({"Debian", "Ubuntu"})
_APK = frozenset({"Alpine", "Wolfi", "Chainguard"})
_RPM = frozenset(
    {"Red Hat", "Rocky Linux", "AlmaLinux", "openSUSE", "SUSE", "Mageia", "openEuler", "Azure"}
)
_SEMVER = frozenset({"Go", "crates.io", "npm", "Hex", "Pub", "SwiftURL"})
_PARSE_ERRORS = (ValueError, TypeError, InvalidVersion, Pep440Invalid)


def _go(version: str) -> str:
    """Go's spellings as semver: "go1.21rc1" → "1.21.0-rc.1", "1.20" → "1.20.0", "v1.2.3" →
    "1.2.3" (module versions carry a "v", toolchains a "go", OSV neither)."""
    version = version.strip().split(" ", 1)[0].removeprefix("go").removeprefix("v")
    release = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?(?:(alpha|beta|rc)(\d+))?", version)
    if not release:
        return version
    major, minor, patch, pre, number = release.groups()
    semver = f"{major}.{minor}.{patch or 0}"
    return f"{semver}-{pre}.{number}" if pre else semver


def _semver(version: str) -> Any:
    return SemverVersion(_go(version))


def _natural(version: str) -> Any:
    """The fallback order: digit runs as numbers, other runs as text (text before numbers,
    so "1.0a" sorts before "1.0.1")."""
    parts = re.findall(r"\d+|[A-Za-z]+", version)
    return tuple((1, int(p), "") if p.isdigit() else (0, 0, p.lower()) for p in parts)


def _parser(base_ecosystem: str, range_type: str) -> Callable[[str], Any]:
    if range_type == "SEMVER" or base_ecosystem in _SEMVER:
        return _semver
    if base_ecosystem == "PyPI":
        return Pep440Version
    if base_ecosystem in _DPKG:
        return DebianVersion
    if base_ecosystem in _APK:
        return AlpineLinuxVersion
    if base_ecosystem in _RPM:
        return RpmVersion
    if base_ecosystem == "Maven":
        return MavenVersion
    return _natural


class _Ordered:
    """Every comparison from the parser's `<` alone: univers' apk versions answer both
    `a < b` and `a >= b` with True for "1.0_rc1-r0" and "1.0-r0"."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Ordered) -> bool:
        return bool(self.value < other.value)

    def __gt__(self, other: _Ordered) -> bool:
        return bool(other.value < self.value)

    def __le__(self, other: _Ordered) -> bool:
        return not other.value < self.value

    def __ge__(self, other: _Ordered) -> bool:
        return not self.value < other.value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Ordered):
            return NotImplemented
        return not (self.value < other.value or other.value < self.value)

    __hash__ = None  # type: ignore[assignment]


@lru_cache(maxsize=65536)
def _key(base_ecosystem: str, range_type: str, version: str) -> _Ordered:
    """The sort key of one version; raises a parse error for a version the parser rejects."""
    return _Ordered(_parser(base_ecosystem, range_type)(version))


def sort_keys(ecosystem: str, versions: Sequence[str], range_type: str = "ECOSYSTEM") -> list[Any]:
    """Mutually comparable sort keys for `versions` in the ecosystem's order (all with the
    fallback order when the ecosystem's parser rejects any one of them)."""
    base = split_ecosystem(ecosystem)[0]
    try:
        return [_key(base, range_type, v) for v in versions]
    except _PARSE_ERRORS:
        return [_Ordered(_natural(v)) for v in versions]


def compare(ecosystem: str, a: str, b: str) -> int:
    """-1, 0 or 1 as `a` sorts before, with or after `b` in the ecosystem's order."""
    ka, kb = sort_keys(ecosystem, [a, b])
    return -1 if ka < kb else (1 if ka > kb else 0)


def is_affected(ecosystem: str, version: str, affected: Affected) -> bool:
    """The OSV evaluation: the version is listed in `versions`, or falls in an ECOSYSTEM or
    SEMVER range (GIT ranges name commits, which an inventory never has)."""
    if _listed(ecosystem, version, affected.versions):
        return True
    return any(_in_range(ecosystem, version, r) for r in affected.ranges if r.type != "GIT")


def fixed_versions(ecosystem: str, version: str, affected: Affected) -> tuple[str, ...]:
    """The upgrades a report suggests: the nearest `fixed` version above `version`, and the
    highest one when that is another (the fix on the newest line: "1.26.17, 2.0.6")."""
    ranges = [r for r in affected.ranges if r.type != "GIT"]
    fixed = sorted({e.version for r in ranges for e in r.events if e.kind == "fixed"})
    if not fixed:
        return ()
    keys = sort_keys(ecosystem, [version, *fixed], ranges[0].type)
    above = sorted(
        ((k, v) for k, v in zip(keys[1:], fixed, strict=True) if k > keys[0]),
        key=lambda kv: kv[0],
    )
    if not above:
        return ()
    nearest, highest = above[0][1], above[-1][1]
    return (nearest,) if nearest == highest else (nearest, highest)


def _listed(ecosystem: str, version: str, versions: Sequence[str]) -> bool:
    if not versions:
        return False
    if version in versions:
        return True
    # Equal but spelled differently ("2.10" and "2.10.0" in PEP 440): compare parsed forms.
    base = split_ecosystem(ecosystem)[0]
    try:
        mine = _key(base, "ECOSYSTEM", version)
    except _PARSE_ERRORS:
        return False
    for listed in versions:
        try:
            if _key(base, "ECOSYSTEM", listed) == mine:
                return True
        except _PARSE_ERRORS:
            continue
    return False


def _in_range(ecosystem: str, version: str, range_: Range) -> bool:
    # The special values stay out of the comparisons: introduced "0" sorts before every
    # version, and a limit containing "*" lies beyond every version (no limit at all).
    zero = any(_is_zero(e) for e in range_.events)
    unlimited = any(_is_infinite(e) for e in range_.events)
    events = [e for e in range_.events if not (_is_zero(e) or _is_infinite(e))]
    keys = sort_keys(ecosystem, [version, *(e.version for e in events)], range_.type)
    mine, event_keys = keys[0], keys[1:]
    limits = [k for e, k in zip(events, event_keys, strict=True) if e.kind == "limit"]
    if limits and not unlimited and not any(mine < k for k in limits):
        return False
    # The events in version order (the spec's "sorted(range.events)").
    timeline: list[tuple[Event, Any]] = sorted(
        zip(events, event_keys, strict=True), key=lambda ek: (ek[1], _ORDER[ek[0].kind])
    )
    vulnerable = zero
    for event, key in timeline:
        if event.kind == "introduced" and mine >= key:
            vulnerable = True
        elif (event.kind == "fixed" and mine >= key) or (
            event.kind == "last_affected" and mine > key  # last_affected is itself affected
        ):
            vulnerable = False
    return vulnerable


def _is_zero(event: Event) -> bool:
    return event.kind == "introduced" and event.version == "0"


def _is_infinite(event: Event) -> bool:
    return event.kind == "limit" and "*" in event.version


# At one version, an introduction comes before the fix that ends it (an empty range).
_ORDER = {"introduced": 0, "fixed": 1, "last_affected": 1, "limit": 2}
