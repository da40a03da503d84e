"""npm: installed packages, i.e. `package.json` directly inside a `node_modules/<name>/` or
`node_modules/@scope/<name>/` directory (at any depth of nesting).

A `package.json` anywhere else (an application's own, a fixture under `lib/`, a scope directory)
is not an installed package and is ignored.
"""

from __future__ import annotations

import json
import re

from packageurl import PackageURL

from dockyard.ext.scanning.inventory.findings import Found, Member, MiB
from dockyard.ext.scanning.packages import Ecosystem, Package

MAX_SIZE = 4 * MiB
_PATH = re.compile(r"(?:^|/)node_modules/(?:@[^/]+/[^/]+|[^@/][^/]*)/package\.json$")


def matches(path: str) -> bool:
    return _PATH.search(path) is not None


def parse(member: Member, data: bytes) -> Found | None:
    try:
        manifest = json.loads(data)
    except ValueError:
        return None
    if not isinstance(manifest, dict):
        return None
    name, version = manifest.get("name"), manifest.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return None
    scope, _, bare = name.rpartition("/")
    purl = PackageURL(type="npm", namespace=scope or None, name=bare, version=version)
    package = Package(
        name=name,
        version=version,
        ecosystem=Ecosystem.NPM,
        purl=purl.to_string(),
        path=member.path,
        layer=member.layer,
        licenses=_licenses(manifest),
    )
    return Found((package,))


def _licenses(manifest: dict[str, object]) -> tuple[str, ...]:
    """`"license": "MIT"`, the older `{"type": "MIT"}` and `"licenses": [{"type": ...}]`."""
    found: list[str] = []
    values = [manifest.get("license")]
    listed = manifest.get("licenses")
    if isinstance(listed, list):
        values.extend(listed)
    for value in values:
        if isinstance(value, dict):
            value = value.get("type")
        if isinstance(value, str) and value.strip():
            found.append(value.strip())
    return tuple(found)
