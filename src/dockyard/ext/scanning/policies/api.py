"""The pull policy's part of the management API under /api/v1 (problem+json errors):

GET/PUT  /projects/{project}/policy
GET/POST /projects/{project}/allowlist      DELETE …/allowlist/{advisory_id}
GET/POST /allowlist (system-wide)           DELETE /allowlist/{advisory_id}
GET      /repositories/{name}/artifacts/{reference}/signatures
GET      /repositories/{name}/artifacts/{reference}/policy-check
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dockyard.api.manage_common import logged_in, principal
from dockyard.api.manage_models import body
from dockyard.errors import not_found
from dockyard.ext.scanning.policies.rules import Policy, Verdict
from dockyard.ext.scanning.policies.service import (
    MAX_KEY_CHARS,
    MAX_KEYS,
    ArtifactSignatures,
    PolicyChange,
    PolicyService,
    fingerprints,
)
from dockyard.ext.scanning.signatures import SignatureCheck, SignatureStatus
from dockyard.meta.policy_store import SYSTEM, AllowlistEntry, PolicyRecord
from dockyard.oci.names import InvalidName, validate_name

V1 = "/api/v1"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="after")
    def _no_nul(self) -> _In:
        for value in self.__dict__.values():
            texts = value if isinstance(value, list) else [value]
            if any(isinstance(t, str) and "\x00" in t for t in texts):
                raise ValueError("text must not contain NUL characters")
        return self


class PolicyIn(_In):
    scan_on_push: bool | None = None  # None: the registry's default (extensions.scanning)
    require_signature: bool = False
    max_severity: Annotated[str, Field(max_length=16)] | None = None
    deny_unscanned: bool = False
    trusted_keys: list[Annotated[str, Field(max_length=MAX_KEY_CHARS)]] = Field(
        default_factory=list, max_length=MAX_KEYS
    )


class AllowIn(_In):
    advisory_id: Annotated[str, Field(min_length=1, max_length=100)]
    expires_at: float | None = None  # seconds since the epoch; null: never
    reason: Annotated[str, Field(max_length=10_000)] | None = None


def policy_json(record: PolicyRecord, configured: bool) -> dict[str, Any]:
    return {
        "project": record.project,
        "configured": configured,
        "scan_on_push": record.scan_on_push,
        "require_signature": record.require_signature,
        "max_severity": record.max_severity,
        "deny_unscanned": record.deny_unscanned,
        "trusted_keys": list(record.trusted_keys),
        "keys": fingerprints(record.trusted_keys),
        "updated_at": record.updated_at if configured else None,
    }


def entry_json(entry: AllowlistEntry, now: float) -> dict[str, Any]:
    return {**asdict(entry), "expired": not entry.active(now)}


def _check_json(check: SignatureCheck) -> dict[str, Any]:
    verification = check.verification
    return {
        "kind": check.source.kind.value,
        "via": check.source.via,
        "source": check.source.reference,
        "layer": check.layer,
        "layer_digest": check.layer_digest or None,
        "verified": verification.valid,
        "outcome": verification.outcome.value,
        "key_fingerprint": verification.key_fingerprint,
        "key_algorithm": verification.key_algorithm,
        "signed_digest": verification.signed_digest,
        "docker_reference": verification.docker_reference,
        "reason": verification.reason,
    }


def _status_json(status: SignatureStatus) -> dict[str, Any]:
    return {
        "digest": status.digest,
        "state": status.state.value,
        "summary": status.summary,
        "signers": list(status.signers),
    }


def signatures_json(found: ArtifactSignatures) -> dict[str, Any]:
    status = found.status
    keys = [
        {"fingerprint": k.fingerprint, "algorithm": k.algorithm} for k in found.policy.trusted_keys
    ]
    return {
        "repository": found.repository,
        **_status_json(status),
        "trusted_keys": keys,
        "signatures": [_check_json(c) for c in status.checks],
        "other_signatures": [
            {
                "kind": a.kind.value,
                "via": a.via,
                "reference": a.reference,
                "artifact_type": a.artifact_type,
                "verified": False,
            }
            for a in status.unverified
        ],
        "notation_present": status.notation_present,
        "indexes": [_status_json(s) for s in found.indexes],
    }


def verdict_json(repository: str, verdict: Verdict, policy: Policy | None) -> dict[str, Any]:
    return {
        "repository": repository,
        "digest": verdict.digest,
        "project": verdict.project,
        "enforced": policy is not None and policy.enforces,
        "allowed": verdict.allowed,
        "message": verdict.message,
        "exempt": verdict.exempt,
        "rules": [asdict(r) for r in verdict.results],
    }


def _repository(text: str) -> str:
    try:
        return validate_name(text)
    except InvalidName:
        raise not_found(f"no repository {text!r}") from None


class PolicyApi:
    def __init__(self, service: PolicyService) -> None:
        self.service = service

    async def policy(self, request: Request) -> Response:
        project = request.path_params["project"]
        if request.method == "PUT":
            actor = await logged_in(request)
            new = await body(request, PolicyIn)
            change = PolicyChange(
                self.service.default(project).scan_on_push
                if new.scan_on_push is None
                else new.scan_on_push,
                new.require_signature,
                new.max_severity,
                new.deny_unscanned,
                tuple(new.trusted_keys),
            )
            record = await self.service.set_policy(actor, project, change)
            return JSONResponse(policy_json(record, True))
        found = await self.service.policy(await principal(request), project)
        if found is None:
            return JSONResponse(policy_json(self.service.default(project), False))
        return JSONResponse(policy_json(found, True))

    async def allowlist(self, request: Request) -> Response:
        project = request.path_params.get("project", SYSTEM)
        if request.method == "POST":
            actor = await logged_in(request)
            new = await body(request, AllowIn)
            entry = await self.service.allow(
                actor, project, new.advisory_id, new.expires_at, new.reason
            )
            return JSONResponse(entry_json(entry, time.time()), status_code=201)
        if project == SYSTEM:
            entries = await self.service.system_allowlist(await logged_in(request))
        else:
            entries = await self.service.allowlist(await principal(request), project)
        now = time.time()
        return JSONResponse({"entries": [entry_json(e, now) for e in entries]})

    async def allowlist_entry(self, request: Request) -> Response:
        project = request.path_params.get("project", SYSTEM)
        actor = await logged_in(request)
        await self.service.disallow(actor, project, request.path_params["advisory_id"])
        return Response(status_code=204)

    async def signatures(self, request: Request) -> Response:
        name = _repository(request.path_params["name"])
        found = await self.service.signatures(
            await principal(request), name, request.path_params["reference"]
        )
        return JSONResponse(signatures_json(found))

    async def policy_check(self, request: Request) -> Response:
        name = _repository(request.path_params["name"])
        verdict, policy = await self.service.check(
            await principal(request), name, request.path_params["reference"]
        )
        return JSONResponse(verdict_json(name, verdict, policy))

    def routes(self) -> list[Route]:
        def route(path: str, handler: Callable[[Request], Awaitable[Response]], *m: str) -> Route:
            return Route(f"{V1}{path}", handler, methods=list(m))

        artifact = "/repositories/{name:path}/artifacts/{reference}"
        return [
            route("/projects/{project}/policy", self.policy, "GET", "PUT"),
            route("/projects/{project}/allowlist", self.allowlist, "GET", "POST"),
            route("/projects/{project}/allowlist/{advisory_id}", self.allowlist_entry, "DELETE"),
            route("/allowlist", self.allowlist, "GET", "POST"),
            route("/allowlist/{advisory_id}", self.allowlist_entry, "DELETE"),
            route(f"{artifact}/signatures", self.signatures, "GET"),
            route(f"{artifact}/policy-check", self.policy_check, "GET"),
        ]
