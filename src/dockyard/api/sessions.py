"""The session cookie: set at login, read on every management and dashboard request."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dockyard.api.access import gate
from dockyard.auth.principal import Kind, Principal
from dockyard.auth.sessions import SessionSigner

COOKIE = "dockyard_session"


def signer(request: Request) -> SessionSigner:
    found: SessionSigner = request.app.state.sessions
    return found


async def session_principal(request: Request) -> Principal | None:
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    data = await signer(request).loads(value)
    if data is None or data.get("k") != Kind.USER.value:
        return None
    access = gate(request).access
    return await access.refresh(Kind.USER.value, str(data.get("n")), data.get("v"))


async def start_session(request: Request, response: Response, principal: Principal) -> None:
    access = gate(request).access
    stamp = await access.stamp(principal)
    value = await signer(request).dumps(
        {"k": principal.kind.value, "n": principal.name, "v": stamp}
    )
    response.set_cookie(
        COOKIE,
        value,
        max_age=signer(request).max_age,
        httponly=True,
        samesite="lax",  # cross-site form posts carry no session: no CSRF through the cookie
        secure=request.url.scheme == "https",
        path="/",
    )


def end_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")
