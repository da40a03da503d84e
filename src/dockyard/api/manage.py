"""The management REST API under /api/v1: users, groups, projects, members, roles, robots,
personal access tokens and the audit log. Errors are problem+json (RFC 9457)."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from dockyard.api.access import basic_credentials, client_address, gate
from dockyard.api.manage_models import (
    GrantIn,
    GroupIn,
    NewUserIn,
    PasswordIn,
    ProjectIn,
    ProjectPatch,
    ProjectView,
    RobotIn,
    RobotPatch,
    RoleIn,
    TokenIn,
    UserPatch,
    body,
)
from dockyard.api.sessions import session_principal
from dockyard.auth.manage_projects import ProjectAdmin, ProjectChanges
from dockyard.auth.manage_users import UserAdmin
from dockyard.auth.principal import ANONYMOUS, Principal, RequestActor, current_actor
from dockyard.errors import Problem, invalid
from dockyard.meta.auth_records import AuditQuery, ProjectRecord, RobotPermission, UserRecord


def _refuse_nul(request: Request) -> None:
    """Paths and query parameters reach SQL as text too."""
    params = request.query_params.multi_items()
    if "\x00" in request.url.path or any("\x00" in k + v for k, v in params):
        raise invalid("NUL characters are not allowed in the path or the query")


async def principal(request: Request) -> Principal:
    """Credentials sent with the request win over an ambient session cookie: a script that
    says who it is must not act as whoever last logged in to the browser."""
    _refuse_nul(request)
    found: Principal | None = None
    creds = basic_credentials(request)
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if creds is not None:
        found = await gate(request).authenticator.basic(
            *creds, client_address(request), audit_success=False
        )
    elif scheme.lower() == "bearer":
        # Scripts may send a personal access token on its own: it names its user.
        found = await gate(request).authenticator.personal_token(
            value.strip(), client_address(request)
        )
    else:
        found = await session_principal(request)
    found = found or ANONYMOUS
    current_actor.set(RequestActor(found, client_address(request)))
    return found


async def logged_in(request: Request) -> Principal:
    found = await principal(request)
    if not found.authenticated:
        raise Problem(
            401,
            "Unauthorized",
            "log in: basic auth, a personal access token as Bearer, or a session from /auth/login",
        )
    return found


def _users(request: Request) -> UserAdmin:
    users: UserAdmin = request.app.state.user_admin
    return users


def _projects(request: Request) -> ProjectAdmin:
    projects: ProjectAdmin = request.app.state.project_admin
    return projects


def _limit(request: Request) -> int:
    try:
        value = int(request.query_params.get("limit", "100"))
    except ValueError:
        raise invalid("limit must be a number") from None
    if not 1 <= value <= 1000:
        raise invalid("limit must be between 1 and 1000")
    return value


def user_json(user: UserRecord, groups: list[str] | None = None) -> dict[str, Any]:
    return {
        "username": user.username,
        "email": user.email,
        "display_name": user.display_name,
        "source": user.source,
        "admin": user.is_admin,
        "disabled": user.disabled,
        "created_at": user.created_at,
        "last_login_at": user.last_login_at,
        **({"groups": groups} if groups is not None else {}),
    }


def _record(value: Any) -> dict[str, Any]:
    data = asdict(value)
    for secret in ("secret_hash", "password_hash"):
        data.pop(secret, None)
    return data


# --- handlers --------------------------------------------------------------------------------


async def users(request: Request) -> Response:
    actor = await logged_in(request)
    if request.method == "POST":
        new = await body(request, NewUserIn)
        user = await _users(request).create(actor, new.username, new.password, new.email, new.admin)
        return JSONResponse(user_json(user), status_code=201)
    q = request.query_params
    found = await _users(request).list(actor, q.get("last"), _limit(request), q.get("q"))
    return JSONResponse({"users": [user_json(u) for u in found]})


async def user(request: Request) -> Response:
    actor, name, admin = await logged_in(request), request.path_params["username"], _users(request)
    if request.method == "DELETE":
        await admin.delete(actor, name)
        return Response(status_code=204)
    if request.method == "PATCH":
        patch = await body(request, UserPatch)
        found = await admin.update(
            actor, name, email=patch.email, is_admin=patch.admin, disabled=patch.disabled
        )
    else:
        found = await admin.get(actor, name)
    return JSONResponse(user_json(found, await admin.groups_of(found)))


async def password(request: Request) -> Response:
    actor, change = await logged_in(request), await body(request, PasswordIn)
    name = request.path_params["username"]
    await _users(request).set_password(actor, name, change.password, change.current_password)
    return Response(status_code=204)


async def me(request: Request) -> Response:
    actor = await logged_in(request)
    if actor.kind.value != "user":
        return JSONResponse({"username": actor.name, "kind": actor.kind.value})
    found = await _users(request).get(actor, actor.name)
    return JSONResponse({**user_json(found, list(actor.groups)), "kind": "user"})


async def tokens(request: Request) -> Response:
    actor = await logged_in(request)
    if request.method == "POST":
        new = await body(request, TokenIn)
        created = await _users(request).create_token(actor, new.name, new.expires_in_days)
        return JSONResponse({**_record(created.record), "token": created.token}, status_code=201)
    return JSONResponse({"tokens": [_record(t) for t in await _users(request).tokens(actor)]})


async def token(request: Request) -> Response:
    actor = await logged_in(request)
    await _users(request).revoke_token(actor, request.path_params["token_id"])
    return Response(status_code=204)


async def groups(request: Request) -> Response:
    actor = await logged_in(request)
    if request.method == "POST":
        new = await body(request, GroupIn)
        await _users(request).create_group(actor, new.name, new.description)
        return JSONResponse({"name": new.name, "description": new.description}, status_code=201)
    found = await _users(request).groups(actor)
    return JSONResponse(
        {"groups": [{"name": n, "description": d, "members": m} for n, d, m in found]}
    )


async def group(request: Request) -> Response:
    actor = await logged_in(request)
    await _users(request).delete_group(actor, request.path_params["group"])
    return Response(status_code=204)


async def group_member(request: Request) -> Response:
    actor, p = await logged_in(request), request.path_params
    await _users(request).set_member(actor, p["group"], p["username"], request.method == "PUT")
    return Response(status_code=204)


async def projects(request: Request) -> Response:
    if request.method == "POST":
        actor = await logged_in(request)
        new = await body(request, ProjectIn)
        created = await _projects(request).create(actor, new.name, new.public)
        return JSONResponse(await _project_view(request, created), status_code=201)
    actor = await principal(request)
    found = await _projects(request).list(actor, request.query_params.get("last"), _limit(request))
    usage = await _projects(request).usage([p.name for p in found])
    return JSONResponse({"projects": [_with_usage(p, usage[p.name]) for p in found]})


def _with_usage(project: ProjectRecord, used: int) -> dict[str, Any]:
    return asdict(ProjectView(**asdict(project), usage_bytes=used))


async def _project_view(request: Request, project: ProjectRecord) -> dict[str, Any]:
    usage = await _projects(request).usage([project.name])
    return _with_usage(project, usage[project.name])


async def project(request: Request) -> Response:
    name, admin = request.path_params["project"], _projects(request)
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
        _projects(request),
    )
    if request.method == "POST":
        new = await body(request, GrantIn)
        if (new.user is None) == (new.group is None):
            raise invalid("grant a role to exactly one of 'user' or 'group'")
        kind, subject = ("user", new.user) if new.user is not None else ("group", new.group)
        if not subject:
            raise invalid(f"the {kind} to grant a role to has no name")
        grant = await admin.grant(actor, name, kind, subject, new.role, new.repositories)
        return JSONResponse(_record(grant), status_code=201)
    return JSONResponse({"members": [_record(g) for g in await admin.grants(actor, name)]})


async def member(request: Request) -> Response:
    actor, p = await logged_in(request), request.path_params
    await _projects(request).revoke(actor, p["project"], p["grant_id"])
    return Response(status_code=204)


async def roles(request: Request) -> Response:
    actor = await logged_in(request)
    if request.method == "POST":
        new = await body(request, RoleIn)
        role = await _projects(request).create_role(actor, new.name, new.actions, new.description)
        return JSONResponse(_record(role), status_code=201)
    return JSONResponse({"roles": [_record(r) for r in await _projects(request).roles()]})


async def role(request: Request) -> Response:
    actor = await logged_in(request)
    await _projects(request).delete_role(actor, request.path_params["role"])
    return Response(status_code=204)


async def robots(request: Request) -> Response:
    actor, project_name = await logged_in(request), request.path_params.get("project")
    admin = _projects(request)
    if request.method == "POST":
        new = await body(request, RobotIn)
        permissions = [RobotPermission(p.repositories, tuple(p.actions)) for p in new.permissions]
        created = await admin.create_robot(
            actor, project_name, new.name, permissions, new.expires_in_days, new.description
        )
        return JSONResponse({**_record(created.record), "secret": created.secret}, status_code=201)
    return JSONResponse({"robots": [_record(r) for r in await admin.robots(actor, project_name)]})


async def robot(request: Request) -> Response:
    actor, name, admin = await logged_in(request), request.path_params["robot"], _projects(request)
    if request.method == "DELETE":
        await admin.delete_robot(actor, name)
        return Response(status_code=204)
    patch = await body(request, RobotPatch)
    await admin.set_robot_disabled(actor, name, patch.disabled)
    return Response(status_code=204)


async def robot_rotate(request: Request) -> Response:
    actor = await logged_in(request)
    secret = await _projects(request).rotate_robot(actor, request.path_params["robot"])
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
        limit=limit or _limit(request),
    )


async def audit(request: Request) -> Response:
    actor = await logged_in(request)
    found = await _projects(request).audit(
        actor, _audit_query(request), request.query_params.get("project")
    )
    return JSONResponse({"entries": [asdict(r) for r in found]})


async def audit_export(request: Request) -> Response:
    """Every matching entry as JSON lines, newest first, streamed page by page."""
    actor, project_name = await logged_in(request), request.query_params.get("project")
    admin = _projects(request)
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


Handler = Callable[[Request], Awaitable[Response]]
_V1 = "/api/v1"


def _route(path: str, handler: Handler, *methods: str) -> Route:
    return Route(f"{_V1}{path}", handler, methods=list(methods))


routes = [
    _route("/me", me, "GET"),
    _route("/me/tokens", tokens, "GET", "POST"),
    _route("/me/tokens/{token_id}", token, "DELETE"),
    _route("/users", users, "GET", "POST"),
    _route("/users/{username}", user, "GET", "PATCH", "DELETE"),
    _route("/users/{username}/password", password, "PUT"),
    _route("/groups", groups, "GET", "POST"),
    _route("/groups/{group}", group, "DELETE"),
    _route("/groups/{group}/members/{username}", group_member, "PUT", "DELETE"),
    _route("/projects", projects, "GET", "POST"),
    _route("/projects/{project}", project, "GET", "PATCH", "DELETE"),
    _route("/projects/{project}/members", members, "GET", "POST"),
    _route("/projects/{project}/members/{grant_id:int}", member, "DELETE"),
    _route("/projects/{project}/robots", robots, "GET", "POST"),
    _route("/robots", robots, "GET", "POST"),
    _route("/robots/{robot}", robot, "PATCH", "DELETE"),
    _route("/robots/{robot}/rotate", robot_rotate, "POST"),
    _route("/roles", roles, "GET", "POST"),
    _route("/roles/{role}", role, "DELETE"),
    _route("/audit", audit, "GET"),
    _route("/audit/export", audit_export, "GET"),
    _route("/auth/keys/rotate", rotate_keys, "POST"),
]
