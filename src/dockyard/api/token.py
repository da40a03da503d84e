"""The Docker token endpoint: GET with basic auth (docker, skopeo, podman, oras) and the OAuth2
POST form with password or refresh-token grants (containerd, docker after `docker login`)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dockyard.api.access import basic_credentials, client_address, gate
from dockyard.auth.principal import ANONYMOUS, Principal
from dockyard.auth.scopes import Scope, parse_scopes
from dockyard.auth.tokens import InvalidToken
from dockyard.errors import Code, RegistryError


def _check_service(request: Request, service: str | None) -> None:
    expected = gate(request).access.settings.service
    if service is not None and service != expected:
        raise RegistryError(
            Code.UNAUTHORIZED, f"this registry's token service is {expected!r}, not {service!r}"
        )


async def _login(request: Request, username: str, password: str) -> Principal:
    return await gate(request).authenticator.basic(
        username, password, client_address(request), audit_success=True
    )


async def _from_refresh_token(request: Request, refresh_token: str) -> Principal:
    access = gate(request).access
    try:
        claims = await request.app.state.tokens.verify(refresh_token, refresh=True)
    except InvalidToken as exc:
        raise RegistryError(Code.UNAUTHORIZED, f"invalid refresh token: {exc}") from None
    principal = await access.refresh(str(claims["kind"]), str(claims["sub"]), claims.get("ver"))
    if principal is None:
        raise RegistryError(Code.UNAUTHORIZED, "the refresh token is no longer valid; log in again")
    return principal


async def _issue(
    request: Request, principal: Principal, scopes: list[Scope], offline: bool
) -> dict[str, object]:
    access, tokens = gate(request).access, request.app.state.tokens
    granted = await access.grant_scopes(principal, scopes)
    kind = principal.kind.value
    token, expires_in, issued_at = await tokens.issue(principal.name, kind, granted)
    body: dict[str, object] = {
        "token": token,
        "access_token": token,
        "expires_in": expires_in,
        "issued_at": datetime.fromtimestamp(issued_at, UTC).isoformat().replace("+00:00", "Z"),
        "scope": " ".join(str(Scope(g.type, g.name, g.actions)) for g in granted if g.actions),
    }
    if offline and principal.authenticated:
        stamp = await access.stamp(principal)
        body["refresh_token"] = await tokens.issue_refresh(principal.name, kind, stamp)
    if principal.authenticated:
        detail = {"requested": [str(s) for s in scopes], "granted": body["scope"]}
        await access.audit.write(
            "token", principal.name, "ok", detail, principal, client_address(request)
        )
    return body


def _basic_challenge(exc: RegistryError) -> RegistryError:
    """A refused login at the token endpoint says how to log in (RFC 7235)."""
    if exc.status == 401:
        exc.headers = {**exc.headers, "WWW-Authenticate": 'Basic realm="dockyard"'}
    return exc


async def token_get(request: Request) -> Response:
    try:
        return await _token_get(request)
    except RegistryError as exc:
        raise _basic_challenge(exc) from None


async def token_post(request: Request) -> Response:
    try:
        return await _token_post(request)
    except RegistryError as exc:
        raise _basic_challenge(exc) from None


async def _token_get(request: Request) -> Response:
    query = request.query_params
    _check_service(request, query.get("service"))
    creds = basic_credentials(request)
    principal = ANONYMOUS if creds is None else await _login(request, *creds)
    scopes = parse_scopes(query.getlist("scope"))
    offline = query.get("offline_token", "").lower() == "true"
    return JSONResponse(await _issue(request, principal, scopes, offline))


async def _token_post(request: Request) -> Response:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    _check_service(request, fields.get("service"))
    grant = fields.get("grant_type")
    if grant == "password":
        principal = await _login(request, fields.get("username", ""), fields.get("password", ""))
    elif grant == "refresh_token":
        principal = await _from_refresh_token(request, fields.get("refresh_token", ""))
    else:
        raise RegistryError(
            Code.UNSUPPORTED,
            f"unsupported_grant_type: grant_type must be password or refresh_token, not {grant!r}",
            status=400,
        )
    scopes = parse_scopes([fields.get("scope", "")])
    offline = fields.get("access_type") == "offline"
    body = await _issue(request, principal, scopes, offline)
    if grant == "refresh_token":
        body.pop("refresh_token", None)  # the client keeps the one it has
    return JSONResponse(body)


routes = [
    Route("/token", token_get, methods=["GET"]),
    Route("/token", token_post, methods=["POST"]),
]
