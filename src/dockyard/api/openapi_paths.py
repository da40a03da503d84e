"""Every /api/v1 operation (and /auth/login, /auth/logout), described once for the OpenAPI
document. A test checks that this table and the application's routes list the same paths."""

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


_R = "/api/v1/repositories/{name}"

OPERATIONS: list[Op] = [
    # --- sessions ---
    Op(
        "post",
        "/auth/login",
        "Log in; sets the session cookie",
        "auth",
        {200: "LoginOut"},
        body="LoginIn",
        auth="none",
    ),
    Op(
        "post",
        "/auth/logout",
        "Log out; clears the session cookie",
        "auth",
        {204: None},
        auth="none",
    ),
    # --- you ---
    Op("get", "/api/v1/me", "Who you are", "users", {200: "User"}),
    Op("get", "/api/v1/me/tokens", "Your personal access tokens", "users", {200: "Tokens"}),
    Op(
        "post",
        "/api/v1/me/tokens",
        "Create a personal access token (shown once)",
        "users",
        {201: "NewToken"},
        body="TokenIn",
    ),
    Op(
        "delete",
        "/api/v1/me/tokens/{token_id}",
        "Revoke a personal access token",
        "users",
        {204: None},
    ),
    # --- users and groups ---
    Op("get", "/api/v1/users", "List users", "users", {200: "Users"}, params=(*PAGED, Q)),
    Op("post", "/api/v1/users", "Create a local user", "users", {201: "User"}, body="NewUserIn"),
    Op("get", "/api/v1/users/{username}", "One user", "users", {200: "User"}),
    Op(
        "patch",
        "/api/v1/users/{username}",
        "Change a user",
        "users",
        {200: "User"},
        body="UserPatch",
    ),
    Op("delete", "/api/v1/users/{username}", "Delete a user", "users", {204: None}),
    Op(
        "put",
        "/api/v1/users/{username}/password",
        "Set a password",
        "users",
        {204: None},
        body="PasswordIn",
    ),
    Op("get", "/api/v1/groups", "List groups", "users", {200: "Groups"}),
    Op("post", "/api/v1/groups", "Create a group", "users", {201: "Group"}, body="GroupIn"),
    Op("delete", "/api/v1/groups/{group}", "Delete a group", "users", {204: None}),
    Op("put", "/api/v1/groups/{group}/members/{username}", "Add a member", "users", {204: None}),
    Op(
        "delete",
        "/api/v1/groups/{group}/members/{username}",
        "Remove a member",
        "users",
        {204: None},
    ),
    # --- projects ---
    Op(
        "get",
        "/api/v1/projects",
        "Projects you can see",
        "projects",
        {200: "Projects"},
        params=PAGED,
        auth="optional",
    ),
    Op(
        "post",
        "/api/v1/projects",
        "Create a project",
        "projects",
        {201: "ProjectView"},
        body="ProjectIn",
    ),
    Op(
        "get",
        "/api/v1/projects/{project}",
        "One project",
        "projects",
        {200: "ProjectView"},
        auth="optional",
    ),
    Op(
        "patch",
        "/api/v1/projects/{project}",
        "Change a project's visibility or (system admins) its storage quota",
        "projects",
        {200: "ProjectView"},
        body="ProjectPatch",
    ),
    Op("delete", "/api/v1/projects/{project}", "Delete an empty project", "projects", {204: None}),
    Op(
        "get",
        "/api/v1/projects/{project}/members",
        "Role grants in a project",
        "projects",
        {200: "Members"},
    ),
    Op(
        "post",
        "/api/v1/projects/{project}/members",
        "Grant a role",
        "projects",
        {201: "GrantRecord"},
        body="GrantIn",
    ),
    Op(
        "delete",
        "/api/v1/projects/{project}/members/{grant_id}",
        "Revoke a grant",
        "projects",
        {204: None},
    ),
    Op(
        "get",
        "/api/v1/projects/{project}/robots",
        "A project's robot accounts",
        "robots",
        {200: "Robots"},
    ),
    Op(
        "post",
        "/api/v1/projects/{project}/robots",
        "Create a project robot (secret shown once)",
        "robots",
        {201: "NewRobot"},
        body="RobotIn",
    ),
    Op(
        "get",
        "/api/v1/projects/{project}/repositories",
        "A project's repositories",
        "repositories",
        {200: "Repositories"},
        auth="optional",
        params=(
            *PAGED,
            Q,
            query(
                "sort",
                {"enum": ["name", "last_push", "pulls"]},
                "name (A→Z), last_push or pulls (highest first)",
            ),
        ),
    ),
    # --- robots and roles ---
    Op("get", "/api/v1/robots", "System robot accounts", "robots", {200: "Robots"}),
    Op(
        "post",
        "/api/v1/robots",
        "Create a system robot (secret shown once)",
        "robots",
        {201: "NewRobot"},
        body="RobotIn",
    ),
    Op(
        "patch",
        "/api/v1/robots/{robot}",
        "Disable or enable a robot",
        "robots",
        {204: None},
        body="RobotPatch",
    ),
    Op("delete", "/api/v1/robots/{robot}", "Delete a robot", "robots", {204: None}),
    Op(
        "post",
        "/api/v1/robots/{robot}/rotate",
        "New secret for a robot (shown once)",
        "robots",
        {200: "RobotSecret"},
    ),
    Op("get", "/api/v1/roles", "Built-in and custom roles", "projects", {200: "Roles"}),
    Op(
        "post",
        "/api/v1/roles",
        "Define a custom role",
        "projects",
        {201: "RoleRecord"},
        body="RoleIn",
    ),
    Op("delete", "/api/v1/roles/{role}", "Delete a custom role", "projects", {204: None}),
    # --- audit and keys ---
    Op(
        "get",
        "/api/v1/audit",
        "Audit log entries, newest first",
        "audit",
        {200: "AuditEntries"},
        params=(
            LIMIT,
            query("before", {"type": "integer", "minimum": 0}, "entries older than this id"),
            query("actor", {"type": "string"}, "who"),
            query("action", {"type": "string"}, "what: exact, or a prefix ending in '.'"),
            query("outcome", {"enum": ["ok", "denied", "failed"]}, "how it went"),
            query("target", {"type": "string"}, "target prefix"),
            query("since", SINCE, "from (seconds since the epoch)"),
            query("until", SINCE, "until (seconds since the epoch)"),
            query("project", {"type": "string"}, "only this project's entries"),
        ),
    ),
    Op(
        "get",
        "/api/v1/audit/export",
        "Every matching entry as JSON lines",
        "audit",
        {200: None},
        ok_media="application/x-ndjson",
        params=(query("project", {"type": "string"}, "only this project's entries"),),
    ),
    Op(
        "post",
        "/api/v1/auth/keys/rotate",
        "Rotate the token signing key",
        "audit",
        {200: "KeyRotated"},
    ),
    # --- repositories, artifacts, tags ---
    Op("get", _R, "One repository", "repositories", {200: "RepositorySummary"}, auth="optional"),
    Op(
        "delete",
        _R,
        "Delete a repository: its artifacts, tags and blob links",
        "repositories",
        {200: "RepositoryDeleted"},
    ),
    Op(
        "get",
        f"{_R}/artifacts",
        "A repository's artifacts, newest first",
        "repositories",
        {200: "Artifacts"},
        auth="optional",
        params=(
            *PAGED,
            query("all", {"type": "boolean"}, "also referrers and the manifests an index lists"),
        ),
    ),
    Op(
        "get",
        f"{_R}/artifacts/{{reference}}",
        "One artifact in full",
        "repositories",
        {200: "ArtifactDetail"},
        auth="optional",
    ),
    Op(
        "delete",
        f"{_R}/artifacts/{{reference}}",
        "Delete an artifact, its tags and referrers",
        "repositories",
        {200: "ArtifactDeleted"},
    ),
    Op(
        "get",
        f"{_R}/tags",
        "A repository's tags, A→Z",
        "repositories",
        {200: "Tags"},
        auth="optional",
        params=(*PAGED, Q),
    ),
    Op(
        "delete",
        f"{_R}/tags/{{tag}}",
        "Remove a tag (the artifact stays)",
        "repositories",
        {204: None},
    ),
    # --- system ---
    Op(
        "get",
        "/api/v1/statistics",
        "Registry statistics",
        "system",
        {200: "Statistics"},
        params=(
            query("days", {"type": "integer", "minimum": 1, "maximum": 366}, "days of history"),
            query("top", {"type": "integer", "minimum": 1, "maximum": 100}, "most pulled"),
            query("recent", {"type": "integer", "minimum": 0, "maximum": 100}, "activity"),
        ),
    ),
    Op(
        "get",
        "/api/v1/system/info",
        "Version and configuration (no secrets)",
        "system",
        {200: "SystemInfo"},
    ),
    Op(
        "get",
        "/api/v1/healthz",
        "Liveness: the process answers",
        "system",
        {200: "Health"},
        auth="none",
    ),
    Op(
        "get",
        "/api/v1/readyz",
        "Readiness: database and storage answer",
        "system",
        {200: "Health", 503: "Problem"},
        auth="none",
    ),
    Op("get", "/api/v1/openapi.json", "This document", "system", {200: None}, auth="none"),
    Op(
        "get",
        "/api/v1/docs",
        "This document, rendered",
        "system",
        {200: None},
        auth="none",
        ok_media="text/html",
    ),
]
