"""What every management API handler starts from: who the caller is, the services it asks,
the page size it wants, and records as JSON.

Shared by the handler modules (api/manage_users.py, api/manage_projects.py,
api/manage_registry.py) and by extensions' routes, so that all of them authenticate a request
the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dockyard.api.access import basic_credentials, client_address, gate
from dockyard.api.sessions import session_principal
from dockyard.auth.manage_projects import ProjectAdmin
from dockyard.auth.manage_users import UserAdmin
from dockyard.auth.principal import ANONYMOUS, Principal, RequestActor, current_actor
from dockyard.errors import Problem, invalid
from dockyard.meta.auth_records import UserRecord


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


def user_admin(request: Request) -> UserAdmin:
    users: UserAdmin = request.app.state.user_admin
    return users


def project_admin(request: Request) -> ProjectAdmin:
    projects: ProjectAdmin = request.app.state.project_admin
    return projects


def page_limit(request: Request) -> int:
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


def record_json(value: Any) -> dict[str, Any]:
    data = asdict(value)
    for secret in ("secret_hash", "password_hash"):
        data.pop(secret, None)
    return data


Handler = Callable[[Request], Awaitable[Response]]
_V1 = "/api/v1"


def v1_route(path: str, handler: Handler, *methods: str) -> Route:
    return Route(f"{_V1}{path}", handler, methods=list(methods))
