"""Logging in and out of the dashboard: a local or LDAP password through the same
authenticator as `POST /auth/login` (lockout, audit), or the single sign-on buttons."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlencode

from starlette.responses import Response

from dockyard.api.access import client_address
from dockyard.api.login import safe_next
from dockyard.api.sessions import end_session, start_session
from dockyard.auth.principal import Kind
from dockyard.errors import Code, RegistryError
from dockyard.ext.base import ExtensionContext
from dockyard.ext.ui.web import CSRF_FIELD, View, same_origin

# Before a session exists, the login form is tied to a random nonce in its own cookie, so a
# forged cross-site login (into the attacker's account) fails.
NONCE_COOKIE = "dockyard_login"
NONCE_SECONDS = 3600


class AuthPages:
    def __init__(self, context: ExtensionContext) -> None:
        self.context = context

    def _providers(self, next_path: str) -> list[dict[str, str]]:
        settings = self.context.gate.access.settings
        query = urlencode({"next": next_path})
        found = []
        if settings.oidc is not None:
            found.append({"name": settings.oidc.display_name, "url": f"/auth/oidc/login?{query}"})
        if settings.saml is not None:
            found.append({"name": settings.saml.display_name, "url": f"/auth/saml/login?{query}"})
        return found

    async def _form(
        self,
        view: View,
        next_path: str,
        error: str | None = None,
        status: int = 200,
        username: str = "",
    ) -> Response:
        nonce = view.request.cookies.get(NONCE_COOKIE) or secrets.token_urlsafe(24)
        token = await view.signer.dumps({"n": nonce}, salt="login")
        response = view.render(
            "login.html",
            status=status,
            login_token=token,
            next=next_path,
            error=error,
            providers=self._providers(next_path),
            ldap=self.context.gate.access.settings.ldap is not None,
            username=username,
        )
        response.set_cookie(
            NONCE_COOKIE,
            nonce,
            max_age=NONCE_SECONDS,
            httponly=True,
            samesite="strict",
            secure=view.request.url.scheme == "https",
            path="/login",
        )
        response.headers["cache-control"] = "no-store"
        return response

    async def _nonce_ok(self, view: View, token: str | None) -> bool:
        nonce = view.request.cookies.get(NONCE_COOKIE)
        if not token or not nonce or not same_origin(view.request):
            return False
        data = await view.signer.loads(token, salt="login", max_age=NONCE_SECONDS)
        return data is not None and hmac.compare_digest(str(data.get("n", "")), nonce)

    async def login(self, view: View) -> Response:
        next_path = safe_next(view.request.query_params.get("next"))
        if view.request.method == "GET":
            if view.principal.authenticated:
                return view.redirect(next_path)
            return await self._form(view, next_path)
        form = await view.form()
        next_path = safe_next(form.get("next"))
        if not await self._nonce_ok(view, form.get(CSRF_FIELD)):
            return await self._form(view, next_path, "The form expired; please log in again.", 403)
        username, password = form.get("username", "").strip(), form.get("password", "")
        if not username or not password:
            message = "Enter your user name and password."
            return await self._form(view, next_path, message, 422, username)
        try:
            principal = await self.context.gate.authenticator.basic(
                username, password, client_address(view.request), audit_success=True
            )
        except RegistryError as exc:
            if exc.code is Code.TOOMANYREQUESTS:
                message = "Too many failed logins: this account is locked for a while."
                return await self._form(view, next_path, message, 429, username)
            message = "Wrong user name or password."
            return await self._form(view, next_path, message, 401, username)
        if principal.kind is not Kind.USER:
            message = "Robot accounts and access tokens cannot log in to the dashboard."
            return await self._form(view, next_path, message, 403)
        response = view.redirect(next_path)
        response.delete_cookie(NONCE_COOKIE, path="/login")
        await start_session(view.request, response, principal)
        return response

    async def logout(self, view: View) -> Response:
        response = view.redirect("/login", "You are logged out.")
        await end_session(view.request, response)
        return response
