"""Who is asking: the principal every request is tied to."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum

from dockyard.meta.auth_records import RobotPermission


class Kind(StrEnum):
    ANONYMOUS = "anonymous"
    USER = "user"
    ROBOT = "robot"
    # A service Dockyard itself lends a credential to (an external scanner fetching the image
    # it is to scan). Only ever the kind of a short-lived token Dockyard signs: no login,
    # token request or refresh yields it.
    SERVICE = "service"


@dataclass(frozen=True)
class TokenAccess:
    """What a registry bearer token allows: (type, name) → actions, fixed when it was issued."""

    grants: dict[tuple[str, str], frozenset[str]]

    def allows(self, resource_type: str, name: str, action: str) -> bool:
        return action in self.grants.get((resource_type, name), frozenset())


@dataclass(frozen=True)
class Principal:
    kind: Kind
    name: str
    user_id: int | None = None
    is_admin: bool = False
    groups: tuple[str, ...] = ()
    robot_project: str | None = None
    robot_permissions: tuple[RobotPermission, ...] = ()
    # Set when the request came with a registry token: access is what the token carries.
    token: TokenAccess | None = field(default=None, compare=False)
    # How they proved it: "password", "pat:<id>", "robot", "sso". Refresh tokens and sessions
    # die with that credential.
    credential: str | None = field(default=None, compare=False)

    @property
    def authenticated(self) -> bool:
        return self.kind is not Kind.ANONYMOUS


ANONYMOUS = Principal(Kind.ANONYMOUS, "anonymous")


@dataclass(frozen=True)
class RequestActor:
    """Who did what from where, for the audit log of whatever the request changes."""

    principal: Principal
    address: str | None


current_actor: ContextVar[RequestActor | None] = ContextVar("current_actor", default=None)
