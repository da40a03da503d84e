"""The management API for projects: the projects, their members, robot accounts, roles,
the audit log and signing key rotation."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from dockyard.api.access import gate
from dockyard.api.manage_common import (
    logged_in,
    page_limit,
    principal,
    project_admin,
    record_json,
    v1_route,
)
from dockyard.api.manage_models import (
    GrantIn,
    ProjectIn,
    ProjectPatch,
    ProjectView,
    RobotIn,
    RobotPatch,
    RoleIn,
    body,
)
from dockyard.auth.manage_projects import ProjectChanges
from dockyard.errors import Problem, invalid
from dockyard.meta.auth_records import AuditQuery, ProjectRecord, RobotPermission


async def projects(request: Request) -> Response:
    if request.method == "POST":
        actor = await logged_in(request)
        new = await body(request, ProjectIn)
        created = await project_admin(request).create(actor, new.name, new.public)
        return JSONResponse(await _project_view(request, created), status_code=201)
    actor = await principal(request)
    found = await project_admin(request).list(
        actor, request.query_params.get("last"), page_limit(request)
    )
    usage = await project_admin(request).usage([p.name for p in found])
    return JSONResponse({"projects": [_with_usage(p, usage[p.name]) for p in found]})


def _with_usage(project: ProjectRecord, used: int) -> dict[str, Any]:
    return asdict(ProjectView(**asdict(project), usage_bytes=used))


async def _project_view(request: Request, project: ProjectRecord) -> dict[str, Any]:
    usage = await project_admin(request).usage([project.name])
    return _with_usage(project, usage[project.name])


async def project(request: Request) -> Response:
    name, admin = request.path_params["project"], project_admin(request)
    if request.method == "GET":
        found = await admin.get(await principal(request), name)
        return JSONResponse(await _project_view(request, found))
    actor = await logged_in(request)
    if request.method == "DELETE":
        await admin.delete(actor, name)
        return Response(status_code=204)
    patch = await body(request, ProjectPatch)
    changes = ProjectChanges(
        public=patch.public,
        set_quota="quota_bytes" in patch.model_fields_set,
        quota_bytes=patch.quota_bytes,
    )
    return JSONResponse(await _project_view(request, await admin.update(actor, name, changes)))


async def members(request: Request) -> Response:
    actor, name, admin = (
        await logged_in(request),
        request.path_params["project"],
        project_admin(request),
    )
    if request.method == "POST":
        new = await body(request, GrantIn)
        if (new.user is None) == (new.group is None):
            raise invalid("grant a role to exactly one of 'user' or 'group'")
        kind, subject = ("user", new.user) if new.user is not None else ("group", new.group)
        if not subject:
            raise invalid(f"the {kind} to grant a role to has no name")
        grant = await admin.grant(actor, name, kind, subject, new.role, new.repositories)
        return JSONResponse(record_json(grant), status_code=201)
    return JSONResponse({"members": [record_json(g) for g in await admin.grants(actor, name)]})


async def member(request: Request) -> Response:
    actor, p = await logged_in(request), request.path_params
    await project_admin(request).revoke(actor, p["project"], p["grant_id"])
    return Response(status_code=204)


async def roles(request: Request) -> Response:
    actor = await logged_in(request)
    if request.method == "POST":
        new = await body(request, RoleIn)
        role = await project_admin(request).create_role(
            actor, new.name, new.actions, new.description
        )
        return JSONResponse(record_json(role), status_code=201)
    return JSONResponse({"roles": [record_json(r) for r in await project_admin(request).roles()]})


async def role(request: Request) -> Response:
    actor = await logged_in(request)
    await project_admin(request).delete_role(actor, request.path_params["role"])
    return Response(status_code=204)


async def robots(request: Request) -> Response:
    actor, project_name = await logged_in(request), request.path_params.get("project")
    admin = project_admin(request)
    if request.method == "POST":
        new = await body(request, RobotIn)
        permissions = [RobotPermission(p.repositories, tuple(p.actions)) for p in new.permissions]
        created = await admin.create_robot(
            actor, project_name, new.name, permissions, new.expires_in_days, new.description
        )
        return JSONResponse(
            {**record_json(created.record), "secret": created.secret}, status_code=201
        )
    return JSONResponse(
        {"robots": [record_json(r) for r in await admin.robots(actor, project_name)]}
    )


async def robot(request: Request) -> Response:
    actor, name, admin = (
        await logged_in(request),
        request.path_params["robot"],
        project_admin(request),
    )
    if request.method == "DELETE":
        await admin.delete_robot(actor, name)
        return Response(status_code=204)
    patch = await body(request, RobotPatch)
    await admin.set_robot_disabled(actor, name, patch.disabled)
    return Response(status_code=204)


async def robot_rotate(request: Request) -> Response:
    actor = await logged_in(request)
    secret = await project_admin(request).rotate_robot(actor, request.path_params["robot"])
    return JSONResponse({"name": request.path_params["robot"], "secret": secret})


def _audit_query(
    request: Request, before_id: int | None = None, limit: int | None = None
) -> AuditQuery:
    q = request.query_params

    def number(key: str) -> float | None:
        try:
            value = float(q[key]) if key in q else None
        except ValueError:
            value = math.nan
        if value is not None and not math.isfinite(value):
            raise invalid(f"{key} must be a number (seconds since the epoch)")
        return value

    if before_id is None and "before" in q:
        try:
            before_id = int(q["before"])
        except ValueError:
            before_id = -1
        if not 0 <= before_id < 2**63:
            raise invalid("before must be the id of an audit entry (a whole number)")
    return AuditQuery(
        actor=q.get("actor"),
        action=q.get("action"),
        outcome=q.get("outcome"),
        target_prefix=q.get("target"),
        since=number("since"),
        until=number("until"),
        before_id=before_id,
        limit=limit or page_limit(request),
    )


async def audit(request: Request) -> Response:
    actor = await logged_in(request)
    found = await project_admin(request).audit(
        actor, _audit_query(request), request.query_params.get("project")
    )
    return JSONResponse({"entries": [asdict(r) for r in found]})


async def audit_export(request: Request) -> Response:
    """Every matching entry as JSON lines, newest first, streamed page by page."""
    actor, project_name = await logged_in(request), request.query_params.get("project")
    admin = project_admin(request)
    first = await admin.audit(actor, _audit_query(request, limit=500), project_name)

    async def lines() -> AsyncIterator[bytes]:
        page = first
        while page:
            for entry in page:
                yield (json.dumps(asdict(entry)) + "\n").encode()
            last_id = page[-1].id
            page = await admin.audit(actor, _audit_query(request, last_id, 500), project_name)

    return StreamingResponse(lines(), media_type="application/x-ndjson")


async def rotate_keys(request: Request) -> Response:
    actor = await logged_in(request)
    if not actor.is_admin:
        raise Problem(403, "Forbidden", "only a system administrator may rotate signing keys")
    kid = await request.app.state.tokens.rotate()
    await gate(request).access.audit.write("keys.rotate", kid, "ok")
    return JSONResponse({"kid": kid})


routes = [
    v1_route("/projects", projects, "GET", "POST"),
    v1_route("/projects/{project}", project, "GET", "PATCH", "DELETE"),
    v1_route("/projects/{project}/members", members, "GET", "POST"),
    v1_route("/projects/{project}/members/{grant_id:int}", member, "DELETE"),
    v1_route("/projects/{project}/robots", robots, "GET", "POST"),
    v1_route("/robots", robots, "GET", "POST"),
    v1_route("/robots/{robot}", robot, "PATCH", "DELETE"),
    v1_route("/robots/{robot}/rotate", robot_rotate, "POST"),
    v1_route("/roles", roles, "GET", "POST"),
    v1_route("/roles/{role}", role, "DELETE"),
    v1_route("/audit", audit, "GET"),
    v1_route("/audit/export", audit_export, "GET"),
    v1_route("/auth/keys/rotate", rotate_keys, "POST"),
]
