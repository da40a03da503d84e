"""Logging in to the dashboard and the management API: a local or LDAP password, or single
sign-on through OIDC or SAML. Each ends with a session cookie."""

from __future__ import annotations

import asyncio
import json
import secrets
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from dockyard.api.access import client_address, gate
from dockyard.api.sessions import end_session, signer, start_session
from dockyard.auth.identity import ExternalIdentity, IdentityRejected, IdentitySourceUnavailable
from dockyard.auth.oidc import LoginState, OidcClient
from dockyard.auth.principal import Kind
from dockyard.auth.saml import SamlServiceProvider
from dockyard.errors import Problem, invalid

FLOW_COOKIE = "dockyard_sso"
FLOW_SECONDS = 600


def public_base(request: Request) -> str:
    configured = gate(request).access.settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


def safe_next(value: str | None) -> str:
    """Only a path on this site: an open redirect would make the login page a phishing tool."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


async def login(request: Request) -> Response:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(await request.body())
        except ValueError:
            raise invalid("the body must be JSON with username and password") from None
    else:
        data = dict(await request.form())
    if not isinstance(data, dict):
        raise invalid("the body must be a JSON object with username and password")
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise invalid("username and password are required")
    principal = await gate(request).authenticator.basic(
        username, password, client_address(request), audit_success=True
    )
    if principal.kind is not Kind.USER:
        raise Problem(403, "Forbidden", "robot accounts use the registry and the API, not sessions")
    response = JSONResponse({"username": principal.name, "admin": principal.is_admin})
    await start_session(request, response, principal)
    return response


async def logout(request: Request) -> Response:
    response = Response(status_code=204)
    await end_session(request, response)
    return response


async def providers(request: Request) -> Response:
    settings = gate(request).access.settings
    found = []
    if settings.oidc is not None:
        found.append({"id": "oidc", "name": settings.oidc.display_name, "url": "/auth/oidc/login"})
    if settings.saml is not None:
        found.append({"id": "saml", "name": settings.saml.display_name, "url": "/auth/saml/login"})
    return JSONResponse({"providers": found, "ldap": settings.ldap is not None})


async def _finish_sso(request: Request, identity: ExternalIdentity, next_path: str) -> Response:
    principal, reason = await gate(request).authenticator.external_login(identity)
    audit = gate(request).access.audit
    if principal is None:
        await audit.write(
            "login", identity.username, "failed", {"reason": reason, "via": identity.source}
        )
        raise Problem(403, "Forbidden", f"login refused: {reason}")
    await audit.write(
        "login", principal.name, "ok", {"via": identity.source}, principal, client_address(request)
    )
    response = RedirectResponse(safe_next(next_path), status_code=303)
    end_flow(response)
    await start_session(request, response, principal)
    return response


def end_flow(response: Response) -> None:
    response.delete_cookie(FLOW_COOKIE, path="/auth/")


def _sso_errors(exc: Exception) -> Problem:
    if isinstance(exc, IdentitySourceUnavailable):
        return Problem(
            503, "Service Unavailable", f"the identity provider cannot be reached: {exc}"
        )
    return Problem(401, "Unauthorized", f"single sign-on failed: {exc}")


def _oidc(request: Request) -> OidcClient:
    client: OidcClient | None = request.app.state.oidc
    if client is None:
        raise Problem(404, "Not Found", "OIDC login is not configured")
    return client


async def oidc_login(request: Request) -> Response:
    try:
        url, state = await _oidc(request).begin(f"{public_base(request)}/auth/oidc/callback")
    except (IdentitySourceUnavailable, IdentityRejected) as exc:
        raise _sso_errors(exc) from None
    flow = {"oidc": state.model_dump_json(), "next": safe_next(request.query_params.get("next"))}
    response = RedirectResponse(url, status_code=302)
    cookie = await signer(request).dumps(flow, salt="sso")
    response.set_cookie(
        FLOW_COOKIE,
        cookie,
        max_age=FLOW_SECONDS,
        httponly=True,
        samesite="lax",
        path="/auth/",
        secure=request.url.scheme == "https",
    )
    return response


async def _flow(request: Request) -> dict[str, str]:
    value = request.cookies.get(FLOW_COOKIE)
    flow = await signer(request).loads(value, salt="sso", max_age=FLOW_SECONDS) if value else None
    if flow is None:
        raise Problem(400, "Bad Request", "no login in progress here (or it expired); start again")
    return flow


async def oidc_callback(request: Request) -> Response:
    flow = await _flow(request)
    if "oidc" not in flow:
        raise Problem(400, "Bad Request", "no OIDC login in progress; start again")
    state = LoginState.model_validate_json(flow["oidc"])
    try:
        identity = await _oidc(request).finish(dict(request.query_params), state)
    except (IdentitySourceUnavailable, IdentityRejected) as exc:
        await gate(request).access.audit.write(
            "login", None, "failed", {"via": "oidc", "reason": str(exc)}
        )
        raise _sso_errors(exc) from None
    return await _finish_sso(request, identity, flow.get("next", "/"))


class _UsedIds:
    """SAML request ids already answered, so a captured response cannot be replayed within
    its RelayState's lifetime (per replica: a replay to another replica within those minutes
    is still refused by the assertion's own NotOnOrAfter only)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def first_use(self, request_id: str) -> bool:
        now = time.monotonic()
        self._seen = {k: v for k, v in self._seen.items() if v > now}
        if request_id in self._seen:
            return False
        self._seen[request_id] = now + FLOW_SECONDS
        return True


_SEEN = _UsedIds()


def _saml(request: Request) -> SamlServiceProvider:
    provider: SamlServiceProvider | None = request.app.state.saml
    if provider is None:
        raise Problem(404, "Not Found", "SAML login is not configured")
    return provider


async def saml_metadata(request: Request) -> Response:
    xml = await asyncio.to_thread(_saml(request).metadata)
    return Response(xml, media_type="application/samlmetadata+xml")


async def saml_login(request: Request) -> Response:
    """The request id and where to go afterwards travel in a signed RelayState: the IdP's POST
    back is cross-site, and a SameSite=Lax cookie would not come with it."""
    provider = _saml(request)
    request_id = f"id-{secrets.token_hex(16)}"
    flow = {"id": request_id, "next": safe_next(request.query_params.get("next"))}
    relay = await signer(request).dumps(flow, salt="saml")
    try:
        url, _ = await asyncio.to_thread(provider.begin, relay, request_id)
    except (IdentitySourceUnavailable, IdentityRejected) as exc:
        raise _sso_errors(exc) from None
    return RedirectResponse(url, status_code=302)


async def saml_acs(request: Request) -> Response:
    form = await request.form()
    response_b64, relay_value = form.get("SAMLResponse"), form.get("RelayState")
    if not isinstance(response_b64, str) or not isinstance(relay_value, str):
        raise Problem(400, "Bad Request", "SAMLResponse and RelayState are required")
    relay = await signer(request).loads(relay_value, salt="saml", max_age=FLOW_SECONDS)
    if relay is None:
        raise Problem(400, "Bad Request", "the login is unknown or expired; start again")
    request_id = str(relay.get("id"))
    if not _SEEN.first_use(request_id):
        raise Problem(401, "Unauthorized", "this SAML response was already used")
    try:
        identity = await asyncio.to_thread(_saml(request).finish, response_b64, [request_id])
    except (IdentitySourceUnavailable, IdentityRejected) as exc:
        await gate(request).access.audit.write(
            "login", None, "failed", {"via": "saml", "reason": str(exc)}
        )
        raise _sso_errors(exc) from None
    return await _finish_sso(request, identity, str(relay.get("next", "/")))


routes = [
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/auth/providers", providers, methods=["GET"]),
    Route("/auth/oidc/login", oidc_login, methods=["GET"]),
    Route("/auth/oidc/callback", oidc_callback, methods=["GET"]),
    Route("/auth/saml/metadata", saml_metadata, methods=["GET"]),
    Route("/auth/saml/login", saml_login, methods=["GET"]),
    Route("/auth/saml/acs", saml_acs, methods=["POST"]),
]
