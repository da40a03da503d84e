"""The scanning extension's facts in the dashboard: found at request time among the offers of
other extensions (`ExtensionContext.offered`), so that every page works without them when
scanning is disabled or not installed; and the one form of its own, "Scan now"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from dockyard.errors import not_found
from dockyard.ext.base import ExtensionContext
from dockyard.ext.ui.web import View

if TYPE_CHECKING:
    from dockyard.ext.scanning.security import SecurityFacts

OFFER = "scanning.security"  # as dockyard.ext.scanning.security offers it
FINDINGS_SHOWN = 20
EXPOSED_SHOWN = 8


def security_facts(context: ExtensionContext) -> SecurityFacts | None:
    found: SecurityFacts | None = context.offered.get(OFFER)
    return found


def artifact_url(repository: str, reference: str) -> str:
    return f"/repositories/{repository}/-/artifacts/{reference}"


class SecurityPages:
    def __init__(self, context: ExtensionContext) -> None:
        self.context = context

    async def scan(self, view: View) -> Response:
        """Queue a scan of the artifact (push access, as the API's POST …/scan)."""
        facts = security_facts(self.context)
        name, reference = view.path_params["name"], view.path_params["reference"]
        if facts is None:
            raise not_found("scanning is not enabled on this registry")
        queued = await facts.request_scan(view.principal, name, reference)
        noun = "image" if queued == 1 else "images"
        return view.redirect(artifact_url(name, reference), f"Scan of {queued} {noun} queued.")
