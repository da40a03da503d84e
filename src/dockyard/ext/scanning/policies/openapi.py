"""The pull policy endpoints (policies/api.py) as the OpenAPI document describes them."""

from __future__ import annotations

from typing import Any

from dockyard.api.openapi_paths import ApiAddition, Op
from dockyard.ext.scanning.openapi_parts import (
    ARTIFACT,
    BOOLEAN,
    INTEGER,
    NULLABLE_NUMBER,
    NULLABLE_STRING,
    NUMBER,
    STRING,
    STRINGS,
    VERDICT,
    array,
    obj,
    ref,
    signature,
)
from dockyard.ext.scanning.policies.api import AllowIn, PolicyIn
from dockyard.ext.scanning.policies.rules import THRESHOLDS

_P = "/api/v1/projects/{project}"
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
        f"{ARTIFACT}/signatures",
        "An artifact's signatures, verified now with its project's trusted keys",
        _TAG,
        {200: "ArtifactSignatures"},
        auth="optional",
    ),
    Op(
        "get",
        f"{ARTIFACT}/policy-check",
        "Would a pull of the artifact be allowed now, and why",
        _TAG,
        {200: "PolicyCheck"},
        auth="optional",
    ),
]


_KEY = obj(["fingerprint", "algorithm"], fingerprint=STRING, algorithm=STRING)
_STATE = {"enum": ["signed", "unsigned", "invalid"]}
_STATUS = {"digest": STRING, "state": _STATE, "summary": STRING, "signers": STRINGS}

SCHEMAS: dict[str, dict[str, Any]] = {
    "PolicyIn": PolicyIn.model_json_schema(),
    "AllowIn": AllowIn.model_json_schema(),
    "PullPolicy": obj(
        ["project", "configured", "scan_on_push", "require_signature", "max_severity"],
        project=STRING,
        configured=BOOLEAN,
        scan_on_push=BOOLEAN,
        require_signature=BOOLEAN,
        max_severity={"enum": [*THRESHOLDS, None]},
        deny_unscanned=BOOLEAN,
        trusted_keys=STRINGS,
        keys=array(_KEY),
        updated_at=NULLABLE_NUMBER,
    ),
    "AllowlistEntry": obj(
        ["project", "advisory_id", "expires_at", "expired"],
        project={**STRING, "description": "empty for the system-wide list"},
        advisory_id=STRING,
        expires_at=NULLABLE_NUMBER,
        reason=NULLABLE_STRING,
        created_by=NULLABLE_STRING,
        created_at=NUMBER,
        expired=BOOLEAN,
    ),
    "Allowlist": obj(["entries"], entries=array(ref("AllowlistEntry"))),
    "ArtifactSignatures": obj(
        ["repository", "digest", "state", "signatures", "notation_present"],
        repository=STRING,
        **_STATUS,
        trusted_keys=array(_KEY),
        signatures=array(
            signature(
                "source",
                layer=INTEGER,
                layer_digest=NULLABLE_STRING,
                key_algorithm=NULLABLE_STRING,
                signed_digest=NULLABLE_STRING,
                docker_reference=NULLABLE_STRING,
            )
        ),
        other_signatures=array(
            obj(
                ["kind", "via", "reference"],
                kind=STRING,
                via=STRING,
                reference=STRING,
                artifact_type=NULLABLE_STRING,
                verified=BOOLEAN,
            )
        ),
        notation_present=BOOLEAN,
        indexes=array(obj(["digest", "state"], **_STATUS)),
    ),
    "PolicyCheck": obj(
        ["repository", "digest", "project", "enforced", "allowed", "message", "rules"],
        repository=STRING,
        digest=STRING,
        project=STRING,
        **VERDICT,
    ),
}


def addition() -> ApiAddition:
    return ApiAddition(tuple(OPERATIONS), SCHEMAS)
