"""A real OpenID provider for tests: oidc-provider-mock in a thread on 127.0.0.1, a free port.

Quirks of oidc-provider-mock 0.3.4 that tests must know:
- its issuer is the Host header of each request (`http://127.0.0.1:<port>` here), so every
  request must use the same host name as the configured issuer;
- its ID tokens have no `kid`, and each provider has a fresh RSA key (RS256);
- the authorize page only asks for `sub`; other claims are set beforehand with `PUT /users/<sub>`
  (`authorize` below does both). A user nobody set up gets `{"email": sub}`;
- claims outside the standard scopes (e.g. `groups`) are always in the ID token and userinfo;
  an unknown scope such as `groups` is dropped silently;
- it ignores PKCE (`code_challenge` is not checked) and advertises no
  `token_endpoint_auth_methods_supported` (so client_secret_basic, per the spec default);
- an error redirect (deny) to a non-https, non-loopback redirect URI fails with
  `insecure_transport`, so tests register an https redirect URI (it is never contacted); and
  that error redirect carries no `state`;
- it wraps itself in werkzeug's interactive debugger (trusted for `localhost` only), one more
  reason to bind 127.0.0.1 and nothing else.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser

import httpx
import werkzeug.serving


class _QuietHandler(werkzeug.serving.WSGIRequestHandler):
    # One line per request would print authorization codes into the test output.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class Provider:
    """A running provider. `stop()` ends it early (for outage tests); the context ends it too."""

    issuer: str
    server: werkzeug.serving.BaseWSGIServer
    thread: threading.Thread

    def register_client(
        self, redirect_uri: str, auth_method: str = "client_secret_basic"
    ) -> tuple[str, str]:
        """Register a client (RFC 7591); returns its client ID and secret."""
        body = {"redirect_uris": [redirect_uri], "token_endpoint_auth_method": auth_method}
        # Plain http on loopback: verify=False only spares loading a CA store (~80 ms).
        url = f"{self.issuer}/oauth2/clients"
        response = httpx.post(url, json=body, timeout=10, verify=False)
        response.raise_for_status()
        client = response.json()
        return client["client_id"], client["client_secret"]

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join(5)
            self.server.server_close()


@contextmanager
def oidc_provider(
    *,
    require_client_registration: bool = True,
    require_nonce: bool = True,
    token_max_age: timedelta = timedelta(hours=1),
) -> Iterator[Provider]:
    """Run a provider until the context ends. With registration required (the default), client
    secrets and redirect URIs are checked as a real provider would."""
    with warnings.catch_warnings():
        # It imports authlib.jose, deprecated in authlib 1.6+; nothing for us to act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        from oidc_provider_mock import app as provider_app
    app = provider_app(
        require_client_registration=require_client_registration,
        require_nonce=require_nonce,
        access_token_max_age=token_max_age,
    )
    server = werkzeug.serving.make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="oidc-provider", daemon=True
    )
    thread.start()
    provider = Provider(f"http://127.0.0.1:{server.server_port}", server, thread)
    try:
        yield provider
    finally:
        provider.stop()


async def authorize(
    client: httpx.AsyncClient,
    auth_url: str,
    sub: str,
    claims: Mapping[str, object] | None = None,
) -> str:
    """Log `sub` in on the provider's authorize page as a browser would; returns the redirect
    (our callback URL with `code` and `state`). `claims` become the user's claims first."""
    if claims is not None:
        users = httpx.URL(auth_url).copy_with(path=f"/users/{sub}", query=None)
        (await client.put(users, json=dict(claims))).raise_for_status()
    return await _submit(client, auth_url, lambda form: "sub" in form.fields, {"sub": sub})


async def deny(client: httpx.AsyncClient, auth_url: str) -> str:
    """Press the provider's Deny button; returns the redirect (our callback with `error`)."""
    return await _submit(
        client, auth_url, lambda form: form.buttons.get("action") == "deny", {"action": "deny"}
    )


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str]
    buttons: dict[str, str]


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            method = attributes.get("method", "get").lower()
            self.forms.append(_Form(attributes.get("action", ""), method, {}, {}))
        elif self.forms and tag in ("input", "button") and "name" in attributes:
            is_button = tag == "button" or attributes.get("type") == "submit"
            target = self.forms[-1].buttons if is_button else self.forms[-1].fields
            target[attributes["name"]] = attributes.get("value", "")


async def _submit(
    client: httpx.AsyncClient,
    page_url: str,
    choose: Callable[[_Form], bool],
    values: Mapping[str, str],
) -> str:
    page = await client.get(page_url)
    if page.status_code != 200:
        raise AssertionError(f"authorize page answered {page.status_code}: {page.text[:500]}")
    parser = _Forms()
    parser.feed(page.text)
    form = next(form for form in parser.forms if choose(form))
    # An empty action posts back to the page's own URL, query string included.
    target = page.url.join(form.action) if form.action else page.url
    response = await client.request(form.method.upper(), target, data={**form.fields, **values})
    if not response.is_redirect:
        raise AssertionError(f"authorize answered {response.status_code}: {response.text[:500]}")
    return response.headers["location"]
