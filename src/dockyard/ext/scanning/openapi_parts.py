"""The schema fragments the scanning extension's OpenAPI tables share.

ext/scanning/openapi.py (scans, reports, SBOMs) and ext/scanning/policies/openapi.py (pull
policies, allow-lists, signatures) describe their routes from these; `ref` is the core's
(api/openapi_schemas.py), so both point into the same components.
"""

from __future__ import annotations

from typing import Any

from dockyard.api.openapi_schemas import ref

__all__ = [
    "ARTIFACT",
    "BOOLEAN",
    "INTEGER",
    "NULLABLE_NUMBER",
    "NULLABLE_STRING",
    "NUMBER",
    "STRING",
    "STRINGS",
    "VERDICT",
    "array",
    "nullable",
    "obj",
    "ref",
    "signature",
]

ARTIFACT = "/api/v1/repositories/{name}/artifacts/{reference}"

STRING: dict[str, Any] = {"type": "string"}
NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
NUMBER: dict[str, Any] = {"type": "number"}
NULLABLE_NUMBER: dict[str, Any] = {"type": ["number", "null"]}
INTEGER: dict[str, Any] = {"type": "integer"}
BOOLEAN: dict[str, Any] = {"type": "boolean"}


def obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` or null."""
    return {"oneOf": [{"type": "null"}, schema]}


STRINGS = array(STRING)

# A pull policy's verdict on an artifact: whether it is enforced, allows the pull, and why.
VERDICT: dict[str, Any] = {
    "enforced": BOOLEAN,
    "allowed": BOOLEAN,
    "message": NULLABLE_STRING,
    "exempt": NULLABLE_STRING,
    "rules": array(obj(["rule", "passed", "reason"], rule=STRING, passed=BOOLEAN, reason=STRING)),
}


def signature(found_at: str, **more: Any) -> dict[str, Any]:
    """One signature of an artifact, and its verification; `found_at` names the property that
    says where it was found (a string), `more` adds properties."""
    return obj(
        ["kind", "via", found_at, "verified", "outcome", "reason"],
        kind=STRING,
        via={"enum": ["tag", "referrer"]},
        **{found_at: STRING},
        verified=BOOLEAN,
        outcome=STRING,
        key_fingerprint=NULLABLE_STRING,
        reason=STRING,
        **more,
    )
