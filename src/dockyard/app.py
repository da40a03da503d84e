"""The composition root: the only place adapters are built and services wired."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from dockyard.api.errors import EXCEPTION_HANDLERS
from dockyard.api.middleware import RegistryHeadersAndAccessLog
from dockyard.api.oci import routes as oci_routes
from dockyard.events.bus import EventBus
from dockyard.jobs.scheduler import Scheduler
from dockyard.meta.sql import SqlMetadataStore
from dockyard.registry.services import Registry
from dockyard.settings import Settings
from dockyard.storage.base import StorageDriver, SupportsClose
from dockyard.storage.filesystem import FilesystemDriver
from dockyard.storage.memory import MemoryDriver
from dockyard.storage.s3 import S3Driver

log = logging.getLogger("dockyard")

SETTINGS_ENV = "DOCKYARD_SETTINGS_JSON"


def build_storage(settings: Settings) -> StorageDriver:
    if settings.storage.driver == "memory":
        return MemoryDriver()
    if settings.storage.driver == "s3":
        s3 = settings.storage.s3
        return S3Driver(
            bucket=s3.bucket,
            endpoint_url=s3.endpoint_url,
            region=s3.region,
            access_key=s3.access_key,
            secret_key=s3.secret_key,
            prefix=s3.prefix,
            path_style=s3.path_style,
            sse=s3.sse,
            sse_kms_key_id=s3.sse_kms_key_id,
            part_size=s3.part_size_mib * 1024 * 1024,
        )
    return FilesystemDriver(str(settings.storage_root), fsync=settings.storage.fsync)


def build_metadata(settings: Settings) -> SqlMetadataStore:
    if settings.database.url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqlMetadataStore(
        settings.database_url,
        schema=settings.database.schema_name,
        sqlite_synchronous=settings.database.sqlite_synchronous,
    )


def create_app(settings: Settings) -> Starlette:
    storage = build_storage(settings)
    store = build_metadata(settings)
    bus = EventBus()
    redirect = settings.storage.redirect_expiry_seconds if settings.storage.redirect else None
    registry = Registry.build(storage, store, bus, settings.registry, redirect)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await store.open(settings.database.auto_upgrade)
        scheduler = Scheduler(store)
        scheduler.every(
            "expire-uploads",
            settings.registry.upload_sweep_interval_seconds,
            lambda: _expire_uploads(registry, settings),
        )
        sweeper = asyncio.create_task(scheduler.run_forever())
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await store.close()
            if isinstance(storage, SupportsClose):
                await storage.close()

    app = Starlette(
        routes=oci_routes,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.settings = settings
    app.add_middleware(RegistryHeadersAndAccessLog, log_requests=settings.server.access_log)
    return app


async def _expire_uploads(registry: Registry, settings: Settings) -> None:
    """Discard abandoned uploads so their bytes do not pile up."""
    expired = await registry.uploads.expire(settings.registry.upload_expiry_seconds)
    if expired:
        log.info("discarded %d abandoned upload(s)", expired)


def app_from_environment() -> Starlette:
    """Factory for server workers: settings arrive serialized in the environment."""
    raw = os.environ.get(SETTINGS_ENV)
    settings = Settings.model_validate(json.loads(raw)) if raw else Settings()
    return create_app(settings)
