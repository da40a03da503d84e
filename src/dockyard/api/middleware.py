"""Pure ASGI middleware (so zero-copy `http.response.pathsend` passes straight through)."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("dockyard.access")

_API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")

# Query parameters that can carry a secret (an OAuth2 code, a token, a SAML response): the
# access log shows that they were there, never what they were.
SECRET_PARAMETERS = frozenset(
    {
        "code",
        "state",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "password",
        "client_secret",
        "secret",
        "samlresponse",
        "samlrequest",
        "signature",
        "relaystate",
    }
)


def redact(query: str) -> str:
    if not query:
        return query
    parts = []
    for pair in query.split("&"):
        key, sep, _value = pair.partition("=")
        if sep and unquote_plus(key).lower() in SECRET_PARAMETERS:
            pair = f"{key}=***"
        parts.append(pair)
    return "&".join(parts)


class RegistryHeadersAndAccessLog:
    """Adds the Docker API version header and logs one line per request."""

    def __init__(self, app: ASGIApp, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 0}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), _API_VERSION]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if self.log_requests:
                client = scope.get("client") or ("-", 0)
                query = redact(scope.get("query_string", b"").decode("latin-1"))
                access_log.info(
                    '%s "%s %s%s" %s %.1fms',
                    client[0],
                    scope["method"],
                    scope["path"],
                    f"?{query}" if query else "",
                    status["code"],
                    (time.perf_counter() - started) * 1000,
                )
