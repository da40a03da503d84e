"""The dashboard's static files (htmx, uPlot, our CSS and script), served by Dockyard itself:
no CDN, nothing fetched from anywhere else (docs/dashboard.md lists them with their licences)."""

from __future__ import annotations

from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

# Revalidated with the ETag after an hour: an upgrade shows new assets within the hour even
# though their URLs stay the same.
CACHE_CONTROL = b"public, max-age=3600"


class CachedStatic(StaticFiles):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"cache-control", CACHE_CONTROL),
                    (b"x-content-type-options", b"nosniff"),
                ]
            await send(message)

        await super().__call__(scope, receive, send_with_headers)
