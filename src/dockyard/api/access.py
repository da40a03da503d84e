"""Who is asking and may they: the one check every registry route goes through.

Routes declare the action they need; `authorize` authenticates the request, asks the policy,
and turns a refusal into the right answer: 401 with a Bearer challenge for someone who has not
said who they are (or whose token is no good), 403 DENIED for someone who has. A valid token
that lacks a scope also gets 403 with `error="insufficient_scope"` and the scope it needs
(RFC 6750): oras fetches a fresh token on that, docker and containerd ask for every scope up
front and print the denial.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address

from starlette.requests import Request

from dockyard.auth.access import AccessControl
from dockyard.auth.actions import Action
from dockyard.auth.login import Authenticator
from dockyard.auth.policy import project_of
from dockyard.auth.principal import ANONYMOUS, Principal, RequestActor, current_actor
from dockyard.errors import Code, RegistryError

SCOPE_ACTIONS = {
    Action.PULL: "pull",
    Action.PUSH: "pull,push",
    Action.DELETE: "delete",
    Action.TAG_DELETE: "delete",
}


@dataclass(frozen=True)
class Gate:
    access: AccessControl
    authenticator: Authenticator


def gate(request: Request) -> Gate:
    found: Gate = request.app.state.gate
    return found


def client_address(request: Request) -> str | None:
    """The client's address; behind trusted proxies, the nearest untrusted hop of
    X-Forwarded-For (otherwise every client would share the balancer's address, and one
    client's failed logins would lock out all of them)."""
    peer = request.client.host if request.client else None
    trusted = gate(request).access.trusted_proxies
    if peer is None or not trusted or not _within(peer, trusted):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _within(address: str, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def realm(request: Request) -> str:
    settings = gate(request).access.settings
    base = settings.public_url or str(request.base_url)
    return settings.realm or f"{base.rstrip('/')}/token"


def challenge(request: Request, scope: str | None, error: str | None = None) -> str:
    service = gate(request).access.settings.service
    parts = [f'realm="{realm(request)}"', f'service="{service}"']
    if scope:
        parts.append(f'scope="{scope}"')
    if error:
        parts.append(f'error="{error}"')
    return "Bearer " + ",".join(parts)


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise RegistryError(Code.UNAUTHORIZED, "malformed basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise RegistryError(Code.UNAUTHORIZED, "malformed basic credentials")
    return username, password


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    authenticator = gate(request).authenticator
    if scheme.lower() == "bearer":
        principal = await authenticator.bearer(value.strip())
    elif (creds := basic_credentials(request)) is not None:
        principal = await authenticator.basic(*creds, client_address(request), audit_success=False)
    else:
        principal = ANONYMOUS
    request.state.principal = principal
    current_actor.set(RequestActor(principal, client_address(request)))
    return principal


async def identify(request: Request) -> Principal:
    """The principal, with a 401 challenge for anyone invalid; anonymous is fine."""
    try:
        return await authenticate(request)
    except RegistryError as exc:
        if exc.code is Code.UNAUTHORIZED:
            exc.headers = {**(exc.headers or {}), "WWW-Authenticate": challenge(request, None)}
        raise


async def require_login(request: Request) -> Principal:
    principal = await identify(request)
    if not principal.authenticated:
        raise RegistryError(
            Code.UNAUTHORIZED,
            "authentication required",
            headers={"WWW-Authenticate": challenge(request, None)},
        )
    return principal


async def authorize(request: Request, action: Action, repository: str) -> Principal:
    principal = await identify(request)
    access = gate(request).access
    project = project_of(repository)
    decision = await access.decide(principal, action, repository, project)
    if decision:
        if action is Action.PUSH:
            await access.ensure_project(repository, principal)
        return principal
    scope = f"repository:{repository}:{SCOPE_ACTIONS.get(action, action.value)}"
    if not principal.authenticated:
        raise RegistryError(
            Code.UNAUTHORIZED,
            decision.reason,
            headers={"WWW-Authenticate": challenge(request, scope)},
        )
    await access.audit.write("access", repository, "denied", {"action": action.value})
    headers = {}
    if principal.token is not None:
        headers["WWW-Authenticate"] = challenge(request, scope, "insufficient_scope")
    raise RegistryError(Code.DENIED, decision.reason, headers=headers)


async def may(request: Request, action: Action, repository: str) -> bool:
    """A quiet check for optional behaviour (a mount's source): no challenge, no audit."""
    principal: Principal = request.state.principal
    return bool(
        await gate(request).access.decide(principal, action, repository, project_of(repository))
    )
