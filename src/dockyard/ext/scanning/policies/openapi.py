"""The pull policy endpoints (policies/api.py) as the OpenAPI document describes them."""

from __future__ import annotations

from typing import Any

from dockyard.api.openapi_paths import ApiAddition, Op
from dockyard.ext.scanning.policies.api import AllowIn, PolicyIn
from dockyard.ext.scanning.policies.rules import THRESHOLDS

_P = "/api/v1/projects/{project}"
_A = "/api/v1/repositories/{name}/artifacts/{reference}"
_TAG = "policies"

OPERATIONS: list[Op] = [
    Op(
        "get",
        f"{_P}/policy",
        "A project's pull policy (the defaults when it has none); needs read-project",
        _TAG,
        {200: "PullPolicy"},
        auth="optional",
    ),
    Op(
        "put",
        f"{_P}/policy",
        "Set a project's pull policy (all of it); needs manage-policies",
        _TAG,
        {200: "PullPolicy"},
        body="PolicyIn",
    ),
    Op(
        "get",
        f"{_P}/allowlist",
        "The advisories a project accepts; needs read-project",
        _TAG,
        {200: "Allowlist"},
        auth="optional",
    ),
    Op(
        "post",
        f"{_P}/allowlist",
        "Accept an advisory (by id or alias) in a project; needs manage-policies",
        _TAG,
        {201: "AllowlistEntry"},
        body="AllowIn",
    ),
    Op(
        "delete",
        f"{_P}/allowlist/{{advisory_id}}",
        "Stop accepting an advisory in a project; needs manage-policies",
        _TAG,
        {204: None},
    ),
    Op("get", "/api/v1/allowlist", "The system-wide allow-list", _TAG, {200: "Allowlist"}),
    Op(
        "post",
        "/api/v1/allowlist",
        "Accept an advisory in every project; system administrators",
        _TAG,
        {201: "AllowlistEntry"},
        body="AllowIn",
    ),
    Op(
        "delete",
        "/api/v1/allowlist/{advisory_id}",
        "Remove an advisory from the system-wide allow-list; system administrators",
        _TAG,
        {204: None},
    ),
    Op(
        "get",
        f"{_A}/signatures",
        "An artifact's signatures, verified now with its project's trusted keys",
        _TAG,
        {200: "ArtifactSignatures"},
        auth="optional",
    ),
    Op(
        "get",
        f"{_A}/policy-check",
        "Would a pull of the artifact be allowed now, and why",
        _TAG,
        {200: "PolicyCheck"},
        auth="optional",
    ),
]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_S = {"type": "string"}
_S_NULL = {"type": ["string", "null"]}
_N_NULL = {"type": ["number", "null"]}
_B = {"type": "boolean"}
_KEY = _obj(["fingerprint", "algorithm"], fingerprint=_S, algorithm=_S)
_STATE = {"enum": ["signed", "unsigned", "invalid"]}
_STATUS = {"digest": _S, "state": _STATE, "summary": _S, "signers": {"type": "array", "items": _S}}

SCHEMAS: dict[str, dict[str, Any]] = {
    "PolicyIn": PolicyIn.model_json_schema(),
    "AllowIn": AllowIn.model_json_schema(),
    "PullPolicy": _obj(
        ["project", "configured", "scan_on_push", "require_signature", "max_severity"],
        project=_S,
        configured=_B,
        scan_on_push=_B,
        require_signature=_B,
        max_severity={"enum": [*THRESHOLDS, None]},
        deny_unscanned=_B,
        trusted_keys={"type": "array", "items": _S},
        keys={"type": "array", "items": _KEY},
        updated_at=_N_NULL,
    ),
    "AllowlistEntry": _obj(
        ["project", "advisory_id", "expires_at", "expired"],
        project={**_S, "description": "empty for the system-wide list"},
        advisory_id=_S,
        expires_at=_N_NULL,
        reason=_S_NULL,
        created_by=_S_NULL,
        created_at={"type": "number"},
        expired=_B,
    ),
    "Allowlist": _obj(["entries"], entries={"type": "array", "items": _ref("AllowlistEntry")}),
    "ArtifactSignatures": _obj(
        ["repository", "digest", "state", "signatures", "notation_present"],
        repository=_S,
        **_STATUS,
        trusted_keys={"type": "array", "items": _KEY},
        signatures={
            "type": "array",
            "items": _obj(
                ["kind", "via", "source", "verified", "outcome", "reason"],
                kind=_S,
                via={"enum": ["tag", "referrer"]},
                source=_S,
                layer={"type": "integer"},
                layer_digest=_S_NULL,
                verified=_B,
                outcome=_S,
                key_fingerprint=_S_NULL,
                key_algorithm=_S_NULL,
                signed_digest=_S_NULL,
                docker_reference=_S_NULL,
                reason=_S,
            ),
        },
        other_signatures={
            "type": "array",
            "items": _obj(
                ["kind", "via", "reference"],
                kind=_S,
                via=_S,
                reference=_S,
                artifact_type=_S_NULL,
                verified=_B,
            ),
        },
        notation_present=_B,
        indexes={"type": "array", "items": _obj(["digest", "state"], **_STATUS)},
    ),
    "PolicyCheck": _obj(
        ["repository", "digest", "project", "enforced", "allowed", "message", "rules"],
        repository=_S,
        digest=_S,
        project=_S,
        enforced=_B,
        allowed=_B,
        message=_S_NULL,
        exempt=_S_NULL,
        rules={
            "type": "array",
            "items": _obj(["rule", "passed", "reason"], rule=_S, passed=_B, reason=_S),
        },
    ),
}


def addition() -> ApiAddition:
    return ApiAddition(tuple(OPERATIONS), SCHEMAS)
