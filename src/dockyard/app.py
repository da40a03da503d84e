"""The composition root: the only place adapters are built and services wired."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from dockyard.api.access import Gate
from dockyard.api.errors import EXCEPTION_HANDLERS
from dockyard.api.login import routes as login_routes
from dockyard.api.manage import routes as manage_routes
from dockyard.api.manage_registry import routes as manage_registry_routes
from dockyard.api.middleware import RegistryHeadersAndAccessLog
from dockyard.api.oci import routes as oci_routes
from dockyard.api.openapi import routes as openapi_routes
from dockyard.api.token import routes as token_routes
from dockyard.auth.access import AccessControl
from dockyard.auth.audit import AuditLog
from dockyard.auth.bootstrap import ensure_admin
from dockyard.auth.ldap import LdapAuthenticator
from dockyard.auth.login import Authenticator
from dockyard.auth.manage_projects import ProjectAdmin
from dockyard.auth.manage_users import UserAdmin
from dockyard.auth.oidc import OidcClient
from dockyard.auth.passwords import Passwords
from dockyard.auth.saml import SamlServiceProvider
from dockyard.auth.sessions import SessionSigner
from dockyard.auth.throttle import LoginThrottle
from dockyard.auth.tokens import TokenService
from dockyard.events.bus import EventBus
from dockyard.ext.base import ExtensionContext, ExtensionHost, load_extensions
from dockyard.jobs.scheduler import Scheduler
from dockyard.jobs.shutdown import bounded, dump_stacks_on_sigusr1, stop_task
from dockyard.meta.sql import SqlMetadataStore
from dockyard.registry.inventory import Inventory
from dockyard.registry.removal import Removal
from dockyard.registry.services import Registry
from dockyard.registry.usage import UsageRecorder
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


def build_passwords(settings: Settings) -> Passwords:
    cost = settings.auth.argon2
    return Passwords(
        cost.time_cost,
        cost.memory_kib,
        cost.parallelism,
        cache_seconds=settings.auth.password_cache_seconds,
    )


def build_gate(
    settings: Settings, store: SqlMetadataStore, bus: EventBus, passwords: Passwords
) -> tuple[Gate, TokenService]:
    auth = settings.auth
    audit = AuditLog(store)
    bus.subscribe_in_transaction(audit.on_event)
    access = AccessControl(store, auth, audit)
    tokens = TokenService(
        store, auth.issuer, auth.service, auth.token_ttl_seconds, auth.refresh_token_ttl_seconds
    )
    throttle = LoginThrottle(
        store,
        auth.max_failed_logins_per_user,
        auth.max_failed_logins_per_address,
        auth.failed_login_window_seconds,
        auth.lockout_seconds,
    )
    ldap = LdapAuthenticator(auth.ldap) if auth.ldap else None
    authenticator = Authenticator(store, access, passwords, throttle, tokens, ldap)
    return Gate(access, authenticator), tokens


def create_app(settings: Settings) -> Starlette:
    storage = build_storage(settings)
    store = build_metadata(settings)
    bus = EventBus()
    redirect = settings.storage.redirect_expiry_seconds if settings.storage.redirect else None
    registry = Registry.build(storage, store, bus, settings.registry, redirect)
    passwords = build_passwords(settings)
    gate, tokens = build_gate(settings, store, bus, passwords)
    usage = UsageRecorder(store)
    usage.attach(bus)
    extensions = ExtensionHost()  # loaded by wire_extensions once every service exists

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await store.open(settings.database.auto_upgrade)
        await ensure_admin(store, passwords, settings.admin_password, settings.data_dir)
        scheduler = Scheduler(store)
        scheduler.every(
            "expire-uploads",
            settings.registry.upload_sweep_interval_seconds,
            lambda: _expire_uploads(registry, settings),
        )
        # Per-process work (a scan queue) runs apart, so a long run never delays the jobs
        # that run once across the fleet.
        tasks = extensions.tasks()
        per_process = [task.interval for task in tasks if task.per_process]
        local = Scheduler(store, tick=min(per_process, default=1.0), shared=False)
        for task in tasks:
            chosen = local if task.per_process else scheduler
            chosen.every(task.name, task.interval, task.run, stop=task.stop)
        await extensions.startup()
        sweeper = asyncio.create_task(scheduler.run_forever())
        worker = asyncio.create_task(local.run_forever())
        counter = asyncio.create_task(usage.run(settings.registry.usage_flush_seconds))
        try:
            yield
        finally:
            await stop_task(worker, "the per-process jobs", local.stop)
            await stop_task(sweeper, "the job scheduler", scheduler.stop)
            await stop_task(counter, "the usage counter", usage.stop)
            await bounded(usage.close(), "flushing usage counts")
            await bounded(extensions.shutdown(), "stopping extensions")
            await bounded(store.close(), "closing the metadata store")
            if isinstance(storage, SupportsClose):
                await bounded(storage.close(), "closing the storage")

    app = Starlette(
        routes=[
            *token_routes,
            *oci_routes,
            *login_routes,
            *manage_routes,
            *manage_registry_routes,
            *openapi_routes,
        ],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.settings = settings
    app.state.gate = gate
    app.state.tokens = tokens
    app.state.sessions = SessionSigner(store, settings.auth.session_hours * 3600)
    app.state.user_admin = UserAdmin(store, gate.access, passwords, gate.authenticator.throttle)
    app.state.project_admin = ProjectAdmin(store, gate.access)
    app.state.inventory = Inventory(store, storage, gate.access)
    app.state.removal = Removal(store, gate.access, registry.manifests, registry.blobs)
    app.state.usage = usage
    app.state.oidc = OidcClient(settings.auth.oidc) if settings.auth.oidc else None
    app.state.saml = SamlServiceProvider(settings.auth.saml) if settings.auth.saml else None
    wire_extensions(app, extensions, settings, store, bus, registry)
    app.add_middleware(RegistryHeadersAndAccessLog, log_requests=settings.server.access_log)
    return app


# Services an extension may find in `ExtensionContext.services` when this build wires them.
OPTIONAL_SERVICES = ("inventory", "removal", "tokens")


def wire_extensions(
    app: Starlette,
    host: ExtensionHost,
    settings: Settings,
    store: SqlMetadataStore,
    bus: EventBus,
    registry: Registry,
) -> None:
    """Optional subsystems (dockyard.ext), through one door for built-in and third-party
    ones. Their routes come after the core's, so a core route always wins."""
    state = app.state
    context = ExtensionContext(
        settings=settings,
        store=store,
        bus=bus,
        registry=registry,
        gate=state.gate,
        sessions=state.sessions,
        user_admin=state.user_admin,
        project_admin=state.project_admin,
        services={n: getattr(state, n) for n in OPTIONAL_SERVICES if hasattr(state, n)},
    )
    host.extensions = load_extensions(context, settings.extensions)
    app.router.routes.extend(host.routes())
    host.subscribe(bus)
    state.openapi_additions = host.openapi()


async def _expire_uploads(registry: Registry, settings: Settings) -> None:
    """Discard abandoned uploads so their bytes do not pile up."""
    expired = await registry.uploads.expire(settings.registry.upload_expiry_seconds)
    if expired:
        log.info("discarded %d abandoned upload(s)", expired)


def app_from_environment() -> Starlette:
    """Factory for server workers: settings arrive serialized in the environment."""
    raw = os.environ.get(SETTINGS_ENV)
    settings = Settings.model_validate(json.loads(raw)) if raw else Settings()
    dump_stacks_on_sigusr1()
    return create_app(settings)
