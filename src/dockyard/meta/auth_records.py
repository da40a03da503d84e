"""Plain records of access control that cross the MetadataStore port."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    source: str
    is_admin: bool
    disabled: bool
    token_version: int
    created_at: float
    password_hash: str | None = field(default=None, repr=False)
    email: str | None = None
    display_name: str | None = None
    subject: str | None = None
    last_login_at: float | None = None


@dataclass(frozen=True, slots=True)
class NewUser:
    username: str
    source: str = "local"
    password_hash: str | None = field(default=None, repr=False)
    email: str | None = None
    display_name: str | None = None
    subject: str | None = None
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    name: str
    public: bool
    created_at: float
    created_by: str | None = None
    quota_bytes: int | None = None  # None: no limit


@dataclass(frozen=True, slots=True)
class GrantRecord:
    id: int
    project: str
    subject_kind: str  # user, group
    subject: str
    role: str
    repositories: str  # glob over full repository names; "*" for the whole project


@dataclass(frozen=True, slots=True)
class RoleRecord:
    name: str
    actions: tuple[str, ...]
    description: str | None = None


@dataclass(frozen=True, slots=True)
class RobotPermission:
    repositories: str  # glob over full repository names, e.g. "team-a/*"
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RobotRecord:
    name: str
    project: str | None
    permissions: tuple[RobotPermission, ...]
    disabled: bool
    created_at: float
    secret_hash: str = field(repr=False, default="")
    expires_at: float | None = None
    description: str | None = None
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class AccessTokenRecord:
    id: str
    user_id: int
    name: str
    created_at: float
    secret_hash: str = field(repr=False, default="")
    expires_at: float | None = None
    last_used_at: float | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: float
    actor: str
    actor_kind: str
    action: str
    outcome: str
    target: str | None = None
    address: str | None = None
    detail: dict[str, Any] | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." (e.g. "login.")
    target_prefix: str | None = None
    outcome: str | None = None
    since: float | None = None
    until: float | None = None
    before_id: int | None = None  # paging: newest first
    limit: int = 100


@dataclass(frozen=True, slots=True)
class SigningKeyRecord:
    kid: str
    kind: str
    material: str = field(repr=False)
    created_at: float = 0.0
    retired_at: float | None = None


@dataclass(frozen=True, slots=True)
class LoginFailures:
    key: str
    failures: int
    window_start: float
    locked_until: float | None
