"""What an /api/v1 operation is, and the parameters and patterns operations share.

The building blocks of the operation tables (api/openapi_paths*.py) and of the tables
extensions add (ApiAddition); the tables themselves live by resource in their own modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Auth = Literal["required", "optional", "none"]

# A repository name: path components separated by "/" (which may appear unescaped here).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY_NAME = rf"^{_COMPONENT}(?:/{_COMPONENT})*$"
TAG = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"
SHORT_NAME = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$"

PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "name": {
        "type": "string",
        "pattern": REPOSITORY_NAME,
        "maxLength": 255,
        "description": "repository name; its slashes go into the path as they are",
        "example": "library/app",
    },
    "reference": {
        "type": "string",
        "description": "a digest (sha256:…) or a tag",
        "example": "latest",
    },
    "tag": {"type": "string", "pattern": TAG, "example": "latest"},
    "project": {"type": "string", "pattern": SHORT_NAME, "maxLength": 255, "example": "library"},
    "username": {"type": "string", "maxLength": 255, "example": "alice"},
    "group": {"type": "string", "maxLength": 255},
    "robot": {"type": "string", "maxLength": 255, "example": "robot$library+ci"},
    "role": {"type": "string", "maxLength": 100},
    "token_id": {"type": "string", "maxLength": 64},
    "grant_id": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    "advisory_id": {"type": "string", "maxLength": 100, "example": "GHSA-h75v-3vvj-5mfj"},
}


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


LIMIT = query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size")
LAST = query("last", {"type": "string"}, "where the previous page ended (its `next_last`)")
Q = query("q", {"type": "string", "maxLength": 255}, "only names containing this text")
PAGED = (LIMIT, LAST)
SINCE = {"type": "number", "minimum": 0, "maximum": 1e11}


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    summary: str
    tag: str
    ok: dict[int, str | None]  # status → response schema name (None: no body)
    body: str | None = None
    params: tuple[dict[str, Any], ...] = ()
    auth: Auth = "required"
    ok_media: str = "application/json"
    other_media: tuple[str, ...] = ()  # more media types a success may come as (same schema)


@dataclass(frozen=True)
class ApiAddition:
    """Operations, and the schemas they refer to, that an extension's routes add to the
    document (an extension offers them from an `openapi()` method; see ext/base.py)."""

    operations: tuple[Op, ...] = ()
    schemas: Mapping[str, dict[str, Any]] = field(default_factory=dict)
