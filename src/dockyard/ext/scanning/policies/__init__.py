"""Supply-chain pull policies: per project, refuse to serve images that are not signed by a
trusted key, that carry vulnerabilities at or above a severity (unless allow-listed), or that
were never scanned. See docs/policies.md.

The check lives in the registry core's manifest read path (`Registry.admissions`), so every
way a manifest leaves the registry goes through it; this package registers it, keeps what it
learned fresh (a push or delete in a repository drops its cached signature checks), and serves
the management API for policies, allow-lists, signature status and policy checks.

The scanning extension installs it (`install_policies`), serves `routes()` and adds
`openapi()` to its own description of the management API.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.routing import BaseRoute

from dockyard.api.openapi_paths import ApiAddition
from dockyard.events.types import ManifestDeleted, ManifestPushed, TagDeleted
from dockyard.ext.base import ExtensionContext
from dockyard.ext.scanning.policies import openapi
from dockyard.ext.scanning.policies.api import PolicyApi
from dockyard.ext.scanning.policies.artifact_signatures import ArtifactSignatures
from dockyard.ext.scanning.policies.guard import PullGuard
from dockyard.ext.scanning.policies.rules import Policy, Verdict, decide
from dockyard.ext.scanning.policies.service import PolicyService
from dockyard.ext.scanning.settings import ScanningSettings

__all__ = [
    "Policy",
    "PolicyFeature",
    "PullGuard",
    "Verdict",
    "decide",
    "install_policies",
]


@dataclass(frozen=True)
class PolicyFeature:
    service: PolicyService
    guard: PullGuard
    api: PolicyApi

    def routes(self) -> list[BaseRoute]:
        return list(self.api.routes())

    def openapi(self) -> ApiAddition:
        """The routes above, described for /api/v1/openapi.json."""
        return openapi.addition()


def install_policies(
    context: ExtensionContext,
    settings: ScanningSettings | None = None,
    *,
    cache_seconds: float = 5.0,
) -> PolicyFeature:
    """Register the pull check with the registry and return the feature (its routes)."""
    signatures = ArtifactSignatures(
        context.store, context.registry.storage, ttl=max(cache_seconds, 1.0) * 2
    )
    guard = PullGuard(context.store, signatures, ttl=cache_seconds)
    context.registry.admissions.add_pull(guard)

    def changed(event: ManifestPushed | ManifestDeleted | TagDeleted) -> None:
        signatures.forget(event.repository)  # a signature may have come or gone

    for event_type in (ManifestPushed, ManifestDeleted, TagDeleted):
        context.bus.subscribe(event_type, changed)
    scan_on_push = settings.scan_on_push if settings is not None else True
    service = PolicyService(context.store, context.gate.access, guard, scan_on_push=scan_on_push)
    return PolicyFeature(service, guard, PolicyApi(service))
