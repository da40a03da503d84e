"""The session cookie: set at login, read on every management and dashboard request.

The cookie carries a random session id (signed, so a forged one costs no database read); the
database keeps its digest, the user and the fingerprint of the credential they logged in with.
Logout deletes the row, so a copied cookie dies with it; a password change or a disable ends
every session of the user, as it ends their refresh tokens.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from starlette.requests import Request
from starlette.responses import Response

from dockyard.api.access import gate
from dockyard.auth.principal import Kind, Principal
from dockyard.auth.sessions import SessionSigner

COOKIE = "dockyard_session"


def signer(request: Request) -> SessionSigner:
    found: SessionSigner = request.app.state.sessions
    return found


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def _session_id(request: Request) -> str | None:
    value = request.cookies.get(COOKIE)
    data = await signer(request).loads(value) if value else None
    session_id = data.get("s") if data else None
    return session_id if isinstance(session_id, str) else None


async def session_principal(request: Request) -> Principal | None:
    session_id = await _session_id(request)
    if session_id is None:
        return None
    store = request.app.state.registry.store
    async with store.transaction(readonly=True) as tx:
        found = await tx.sessions.get(_key(session_id))
    if found is None or found[2] <= time.time():
        return None
    username, stamp, _expires = found
    return await gate(request).access.refresh(Kind.USER.value, username, stamp)


async def start_session(request: Request, response: Response, principal: Principal) -> None:
    stamp = await gate(request).access.stamp(principal)
    session_id = secrets.token_urlsafe(32)
    now = time.time()
    async with request.app.state.registry.store.transaction() as tx:
        await tx.sessions.delete_expired(now)
        await tx.sessions.add(
            _key(session_id), principal.name, stamp, now + signer(request).max_age
        )
    value = await signer(request).dumps({"s": session_id})
    response.set_cookie(
        COOKIE,
        value,
        max_age=signer(request).max_age,
        httponly=True,
        samesite="lax",  # cross-site form posts carry no session: no CSRF through the cookie
        secure=request.url.scheme == "https",
        path="/",
    )


async def end_session(request: Request, response: Response) -> None:
    session_id = await _session_id(request)
    if session_id is not None:
        async with request.app.state.registry.store.transaction() as tx:
            await tx.sessions.delete(_key(session_id))
    response.delete_cookie(COOKIE, path="/")
