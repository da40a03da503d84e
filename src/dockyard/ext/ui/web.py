"""The dashboard's request machinery: who is looking, CSRF, one-time messages, rendering.

Every page goes through `page()`: it resolves the session (anonymous visitors are sent to the
login page), checks the CSRF token of every POST, and turns the services' refusals into HTML
pages with the same status the management API would answer (403, 404, 409, 422, …).
Access itself is decided by the services the API uses (UserAdmin, ProjectAdmin, the policy).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dockyard.api.access import client_address
from dockyard.api.login import safe_next
from dockyard.api.sessions import COOKIE as SESSION_COOKIE
from dockyard.api.sessions import session_principal
from dockyard.auth.principal import ANONYMOUS, Principal, RequestActor, current_actor
from dockyard.auth.sessions import SessionSigner
from dockyard.errors import Problem, RegistryError

log = logging.getLogger("dockyard.ui")

FLASH_COOKIE = "dockyard_flash"
FLASH_SECONDS = 120
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"

# Same-origin everything: no CDN, no inline script, nobody may frame the dashboard.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


class LoginRequired(Exception):
    """The page needs a logged-in user; the visitor goes to the login page."""


@dataclass
class View:
    """One page request: the request, who is asking, and how to answer."""

    request: Request
    principal: Principal
    env: Environment
    signer: SessionSigner
    globals: dict[str, Any]
    csrf: str = ""
    flash: dict[str, Any] | None = None
    clear_flash: bool = False
    pending_flash: dict[str, Any] | None = None

    @property
    def path_params(self) -> dict[str, Any]:
        return self.request.path_params

    @property
    def htmx(self) -> bool:
        """A partial update asked for by htmx (a history restore wants the whole page)."""
        headers = self.request.headers
        return (
            headers.get("hx-request") == "true"
            and headers.get("hx-history-restore-request") != "true"
        )

    def render(
        self, template: str, status: int = 200, partial: str | None = None, **ctx: Any
    ) -> Response:
        """The page, or only `partial` (a fragment template) when htmx asks for an update."""
        name = partial if partial and self.htmx else template
        context = {
            **self.globals,
            "request": self.request,
            "user": self.principal,
            "csrf": self.csrf,
            "flash": self.flash,
            "path": self.request.url.path,
            **ctx,
        }
        response = HTMLResponse(self.env.get_template(name).render(context), status_code=status)
        self._finish(response)
        if self.flash:
            response.headers["cache-control"] = "no-store"
        return response

    def redirect(self, url: str, message: str | None = None, **extra: Any) -> Response:
        """See other (303); `message` (and `extra`, e.g. a secret) shows once on the next page."""
        response = RedirectResponse(url, status_code=303)
        if message is not None or extra:
            self.pending_flash = {"message": message, **extra}
            self.clear_flash = False
        self._finish(response)
        return response

    def _finish(self, response: Response) -> None:
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if self.clear_flash:
            response.delete_cookie(FLASH_COOKIE, path="/")

    async def form(self) -> dict[str, str]:
        form = await self.request.form()
        return {k: v for k, v in form.multi_items() if isinstance(v, str)}

    async def form_lists(self) -> dict[str, list[str]]:
        form = await self.request.form()
        found: dict[str, list[str]] = {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                found.setdefault(key, []).append(value)
        return found


async def set_flash(view: View, response: Response) -> None:
    """Store the message `view.redirect` was given, for the next page to show once."""
    if not view.pending_flash:
        return
    value = await view.signer.dumps(view.pending_flash, salt="flash")
    response.set_cookie(
        FLASH_COOKIE,
        value,
        max_age=FLASH_SECONDS,
        httponly=True,
        samesite="strict",
        secure=view.request.url.scheme == "https",
        path="/",
    )


def _session_hash(request: Request) -> str:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return hashlib.sha256(cookie.encode()).hexdigest()[:32]


async def csrf_token(signer: SessionSigner, request: Request) -> str:
    """A token bound to this session cookie: useless with any other session."""
    return await signer.dumps({"h": _session_hash(request)}, salt="csrf")


async def csrf_valid(signer: SessionSigner, request: Request, token: str | None) -> bool:
    if not token:
        return False
    data = await signer.loads(token, salt="csrf")
    expected = _session_hash(request)
    return data is not None and hmac.compare_digest(str(data.get("h", "")), expected)


def same_origin(request: Request) -> bool:
    """Browsers send Origin with every POST; one from another host is refused outright. The
    scheme is not compared: behind a TLS-terminating proxy the request arrives as http."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == request.url.netloc.lower()


def login_url(request: Request) -> str:
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?" + urlencode({"next": safe_next(wanted)})


Handler = Callable[[View], Awaitable[Response]]


@dataclass
class Pages:
    """Builds endpoints: `pages.page(handler)` is what a route serves."""

    env: Environment
    signer: SessionSigner
    globals: dict[str, Any]

    async def view(self, request: Request, login: bool = True) -> View:
        principal = await session_principal(request) or ANONYMOUS
        current_actor.set(RequestActor(principal, client_address(request)))
        if login and not principal.authenticated:
            raise LoginRequired
        view = View(request, principal, self.env, self.signer, self.globals)
        if principal.authenticated:
            view.csrf = await csrf_token(self.signer, request)
        raw = request.cookies.get(FLASH_COOKIE)
        if raw and not view.htmx:
            view.flash = await self.signer.loads(raw, salt="flash", max_age=FLASH_SECONDS)
            view.clear_flash = True
        return view

    async def check_csrf(self, view: View) -> bool:
        if view.request.method != "POST":
            return True
        if not same_origin(view.request):
            return False
        token = view.request.headers.get(CSRF_HEADER)
        if token is None:
            token = (await view.form()).get(CSRF_FIELD)
        return await csrf_valid(self.signer, view.request, token)

    def error(self, view: View, status: int, title: str, detail: str) -> Response:
        view.flash, view.clear_flash = None, False
        return view.render(
            "error.html", status=status, code=status, error_title=title, detail=detail
        )

    def page(
        self, handler: Handler, login: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                view = await self.view(request, login)
            except LoginRequired:
                if request.headers.get("hx-request") == "true":
                    # A fragment of the login page inside the old page would confuse everyone.
                    return Response(status_code=204, headers={"hx-redirect": login_url(request)})
                return RedirectResponse(login_url(request), status_code=303)
            if login and not await self.check_csrf(view):
                return self.error(
                    view, 403, "Forbidden", "the form expired or came from another site; reload"
                )
            try:
                response = await handler(view)
            except Problem as exc:
                return self.error(view, exc.status, exc.title, exc.detail)
            except RegistryError as exc:
                title = exc.code.name.replace("_", " ").title()
                return self.error(view, exc.status, title, exc.message)
            await set_flash(view, response)
            return response

        return endpoint


def json_script(value: Any) -> str:
    """JSON safe inside <script type="application/json"> (no closing tag can sneak in)."""
    return (
        json.dumps(value, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
