"""Repository names and tags: the grammar of the OCI Distribution Spec."""

from __future__ import annotations

import re

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
# Used with fullmatch: `$` would also match before a trailing newline.
_NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
MAX_NAME_LENGTH = 255


class InvalidName(ValueError):
    """A repository name outside the spec's grammar."""


class InvalidTag(ValueError):
    """A tag outside the spec's grammar."""


def validate_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"repository name is longer than {MAX_NAME_LENGTH} characters")
    if not _NAME_RE.fullmatch(name):
        raise InvalidName(
            f"repository name {name!r} is invalid: use lowercase letters, digits and "
            "separators (. _ __ -), with '/' between path components"
        )
    return name


def validate_tag(tag: str) -> str:
    if not _TAG_RE.fullmatch(tag):
        raise InvalidTag(
            f"tag {tag!r} is invalid: up to 128 characters of letters, digits, '_', '.' "
            "and '-', not starting with '.' or '-'"
        )
    return tag
