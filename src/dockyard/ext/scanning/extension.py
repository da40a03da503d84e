"""The scanning extension: scan on push, the scan queue, the vulnerability database refresh, and
the management API's scanning endpoints (docs/scanning.md).

Kept small on purpose: it builds the pieces and hands them to the host. Other parts of the
supply-chain work plug in where marked.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute

import dockyard
from dockyard.api.openapi_paths import ApiAddition
from dockyard.ext.base import ExtensionContext, ExtensionError, Subscription, Task
from dockyard.ext.scanning import openapi
from dockyard.ext.scanning.adapter import AdapterScanner, AdapterServer, require_admin
from dockyard.ext.scanning.api import build_routes
from dockyard.ext.scanning.lending import PullCredentials
from dockyard.ext.scanning.policies import install_policies
from dockyard.ext.scanning.queries import ScanQueries
from dockyard.ext.scanning.sboms import SbomService
from dockyard.ext.scanning.scanner import BuiltinScanner, Scanner
from dockyard.ext.scanning.security import OFFER, SecurityFacts
from dockyard.ext.scanning.security_api import security_routes
from dockyard.ext.scanning.service import ScanService
from dockyard.ext.scanning.settings import AdapterSettings, ScanningSettings
from dockyard.ext.scanning.worker import ScanWorker


class ScanningExtension:
    name = "scanning"
    settings_model = ScanningSettings

    def __init__(self, context: ExtensionContext, settings: ScanningSettings) -> None:
        self.context = context
        self.settings = settings
        registry = context.registry
        builtin = BuiltinScanner(context.store, dockyard.__version__)
        self.adapter_scanner = _adapter_scanner(context, settings.adapter)
        self.scanner: Scanner = self.adapter_scanner or builtin
        self.service = ScanService(context.store, registry.storage, self.scanner, settings)
        self.worker = ScanWorker(self.service)
        self.queries = ScanQueries(context.store, context.gate.access, self.service)
        self.sboms = SbomService(self.queries, registry)
        # Scan on push: queued in the push's own transaction (not after it, from the outbox's
        # in-process copy), so a pushed image is in the queue exactly when it is in the registry.
        context.bus.subscribe_in_transaction(self.worker.on_event_in_transaction)
        # Pull policies: a check in the registry core's manifest read path, and their API.
        self.policies = install_policies(context, settings)
        # Scan, signature and policy facts per artifact and registry-wide: the API serves them,
        # and the dashboard finds them among the offers (it renders no security without them).
        self.security = SecurityFacts(
            context.store, self.queries, self.service, self.policies.service
        )
        context.offered[OFFER] = self.security
        # Dockyard's own scanner, served through Harbor's adapter API (system admins only: a
        # scan request makes Dockyard fetch from a registry URL the caller names).
        self.adapter_server = (
            AdapterServer(builtin, authorize=require_admin) if settings.serve_adapter_api else None
        )

    def routes(self) -> Sequence[BaseRoute]:
        routes = [
            *build_routes(self.queries, self.sboms, self.context.settings),
            *self.policies.routes(),
            *security_routes(self.security),
        ]
        if self.adapter_server is not None:
            routes.extend(self.adapter_server.routes())
        return routes

    def openapi(self) -> ApiAddition:
        """The routes above, described for /api/v1/openapi.json."""
        policies = self.policies.openapi()
        return ApiAddition(
            (*openapi.OPERATIONS, *policies.operations), {**openapi.SCHEMAS, **policies.schemas}
        )

    def tasks(self) -> Sequence[Task]:
        found: list[Task] = []
        if self.settings.run_scans:
            # Every process scans: the queue's rows are leased one at a time, so replicas
            # and server workers share the scans without taking the same one twice.
            poll = self.settings.poll_seconds
            found.append(
                Task(
                    "scan-queue",
                    poll,
                    self.worker.run_queue,
                    per_process=True,
                    stop=self.worker.stop,
                )
            )
        if self.settings.vulndb_sources:
            hours = self.settings.vulndb_refresh_hours
            found.append(Task("vulndb-refresh", hours * 3600, self.worker.refresh_db))
        return found

    def subscriptions(self) -> Sequence[Subscription]:
        return ()

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        if self.adapter_server is not None:
            await self.adapter_server.aclose()
        if self.adapter_scanner is not None:
            await self.adapter_scanner.aclose()


def _adapter_scanner(
    context: ExtensionContext, adapter: AdapterSettings | None
) -> AdapterScanner | None:
    """The external scanner the settings name, lent a pull token per scan; None: built-in."""
    if adapter is None:
        return None
    registry_url = adapter.registry_url or context.gate.access.settings.public_url
    if not registry_url:
        raise ExtensionError(
            "extensions.scanning.adapter needs the URL the adapter pulls images from: set its "
            "registry_url, or auth.public_url"
        )
    tokens = context.services["tokens"]
    return AdapterScanner(
        adapter,
        registry_url=registry_url,
        registry_authorization=PullCredentials(tokens, adapter.name, adapter.pull_token_seconds),
    )
