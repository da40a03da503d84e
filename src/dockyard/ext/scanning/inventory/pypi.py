"""Python distributions: `*.dist-info/METADATA` (wheels, pip) and `*.egg-info/PKG-INFO` or a
bare `*.egg-info` file (setuptools, distribution packages), anywhere in the image.

Both are RFC 822 style headers (core metadata, https://packaging.python.org/specifications/core-metadata/);
only the headers are read, so a long description after them does not matter.
"""

from __future__ import annotations

import re
from email.parser import HeaderParser

from packageurl import PackageURL
from packaging.utils import canonicalize_name

from dockyard.ext.scanning.inventory.findings import Found, Member
from dockyard.ext.scanning.packages import Ecosystem, Package

MAX_SIZE = 1024 * 1024  # headers come first; a longer file is read up to here
PREFIX_OK = True
_PATH = re.compile(r"(?:^|/)[^/]+(?:\.dist-info/METADATA|\.egg-info/PKG-INFO|\.egg-info)$")
_LONG_LICENSE = 100  # longer `License:` values are whole license texts, not names


def matches(path: str) -> bool:
    return _PATH.search(path) is not None


def parse(member: Member, data: bytes) -> Found | None:
    headers = HeaderParser().parsestr(data.decode("utf-8", "replace"), headersonly=True)
    name, version = (str(headers.get(key, "")).strip() for key in ("Name", "Version"))
    if not name or not version:
        return None
    purl = PackageURL(type="pypi", name=canonicalize_name(name), version=version)
    package = Package(
        name=name,
        version=version,
        ecosystem=Ecosystem.PYPI,
        purl=purl.to_string(),
        path=member.path,
        layer=member.layer,
        licenses=_licenses(headers.get("License-Expression"), headers.get("License")),
    )
    return Found((package,))


def _licenses(expression: object, license: object) -> tuple[str, ...]:
    for value in (expression, license):
        text = str(value or "").strip()
        if text and text.upper() != "UNKNOWN" and len(text) <= _LONG_LICENSE and "\n" not in text:
            return (text,)
    return ()
