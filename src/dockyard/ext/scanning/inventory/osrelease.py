"""`etc/os-release` (or `usr/lib/os-release`) → the image's `Distro`.

Format: os-release(5), shell-style `KEY=value` lines whose values may be quoted.
"""

from __future__ import annotations

import re
import shlex

from dockyard.ext.scanning.inventory.findings import Member, OsRelease
from dockyard.ext.scanning.packages import Distro

# etc/os-release wins; usr/lib/os-release is the fallback the spec names (and the target of the
# etc/os-release symlink on most distributions, which the inventory does not follow).
PATHS = ("etc/os-release", "usr/lib/os-release")
MAX_SIZE = 64 * 1024


def matches(path: str) -> bool:
    return path in PATHS


def parse(member: Member, data: bytes) -> OsRelease | None:
    fields = parse_fields(data.decode("utf-8", "replace"))
    if not fields.get("ID"):
        return None
    distro = Distro(
        id=fields["ID"].lower(),
        version_id=fields.get("VERSION_ID", ""),
        pretty_name=fields.get("PRETTY_NAME", ""),
    )
    return OsRelease(distro)


def parse_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            words = shlex.split(raw)
        except ValueError:  # an unbalanced quote: keep the raw value rather than lose the line
            words = [raw.strip("\"'")]
        fields[key.strip()] = " ".join(words)
    return fields


def release(distro: Distro | None) -> str:
    """The release advisories are filed under: "12" for Debian, "22.04" for Ubuntu, "3.19" for
    Alpine (advisories are per major.minor branch, VERSION_ID is "3.19.1"); Wolfi has none."""
    if distro is None:
        return ""
    if distro.id == "alpine":
        found = re.match(r"\d+\.\d+", distro.version_id)
        return found.group(0) if found else ""
    if distro.id == "wolfi":
        return ""
    return distro.version_id
