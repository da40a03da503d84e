"""The Extension port and its loader (DESIGN.md §4).

An extension is an optional subsystem (the dashboard, scanning, webhooks, …). It gets the
core services it may use in an `ExtensionContext`, its own settings section, and hands back
routes, periodic tasks and event subscriptions; `startup`/`shutdown` run in the app's lifespan.

Built-ins are listed in `DEFAULT_EXTENSIONS` as entry points of the group
`dockyard.extensions` and go through the same door as third-party ones, which a package
declares in its own metadata:

    [project.entry-points."dockyard.extensions"]
    hello = "hello_dockyard:HelloExtension"

An extension whose routes belong to the management API (/api/v1) describes them for the
OpenAPI document from an optional `openapi()` method returning `api.openapi_paths.ApiAddition`.

Settings live under `extensions: {<name>: {enabled: true, …}}`; each extension's model
validates its own section and forbids unknown keys, and a section naming no loaded extension
is an error, so a misspelt name fails loudly instead of silently doing nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from dockyard.api.access import Gate
    from dockyard.api.openapi_paths import ApiAddition
    from dockyard.auth.manage_projects import ProjectAdmin
    from dockyard.auth.manage_users import UserAdmin
    from dockyard.auth.sessions import SessionSigner
    from dockyard.events.bus import EventBus
    from dockyard.meta.base import MetadataStore
    from dockyard.registry.services import Registry
    from dockyard.settings import Settings

log = logging.getLogger("dockyard.ext")

GROUP = "dockyard.extensions"

DEFAULT_EXTENSIONS: tuple[EntryPoint, ...] = (
    EntryPoint(name="ui", value="dockyard.ext.ui:UiExtension", group=GROUP),
    EntryPoint(name="quota", value="dockyard.ext.quota:QuotaExtension", group=GROUP),
    EntryPoint(
        name="scanning", value="dockyard.ext.scanning.extension:ScanningExtension", group=GROUP
    ),
)


class ExtensionSettings(BaseModel):
    """Every extension's settings section; subclasses add their own fields."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True


@dataclass(frozen=True)
class ExtensionContext:
    """What the composition root lends an extension. `services` holds optional services by
    name (e.g. "inventory") that not every build of Dockyard wires.

    `offered` is how one extension lends a service to another: every extension gets the same
    dict, and puts what it offers under its own name and a dot (`"scanning.security"`) while
    it is built. Extensions are built one after the other, so a consumer looks an offer up when
    it needs it (at request time), never in its own constructor, and lives without it: the
    offering extension may be disabled or not installed.
    """

    settings: Settings
    store: MetadataStore
    bus: EventBus
    registry: Registry
    gate: Gate
    sessions: SessionSigner
    user_admin: UserAdmin
    project_admin: ProjectAdmin
    services: Mapping[str, Any]
    offered: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """A periodic job: run once per `interval` seconds across every replica; with
    `per_process`, every process (replica or server worker) runs it every `interval` seconds
    instead, for work that already divides itself safely (rows leased one at a time)."""

    name: str
    interval: float
    run: Callable[[], Awaitable[object]]
    per_process: bool = False
    # Called when the process begins to shut down, so that a long run ends after the item
    # at hand instead of being cancelled halfway through its batch.
    stop: Callable[[], None] | None = None


@dataclass(frozen=True)
class Subscription:
    """Call `handler` after a transaction that published an event of `event_type` commits."""

    event_type: type
    handler: Callable[[Any], None]


@runtime_checkable
class Extension(Protocol):
    name: str

    def routes(self) -> Sequence[BaseRoute]: ...

    def tasks(self) -> Sequence[Task]: ...

    def subscriptions(self) -> Sequence[Subscription]: ...

    async def startup(self) -> None: ...

    async def shutdown(self) -> None: ...


class ExtensionFactory(Protocol):
    """What an entry point names: usually the extension class itself."""

    settings_model: type[ExtensionSettings]

    def __call__(self, context: ExtensionContext, settings: Any) -> Extension: ...


class ExtensionError(Exception):
    """An extension that cannot be loaded or is misconfigured: Dockyard refuses to start."""


def discovered(
    builtins: Iterable[EntryPoint] = DEFAULT_EXTENSIONS,
    installed: Iterable[EntryPoint] | None = None,
) -> list[EntryPoint]:
    """Built-ins first, then installed entry points; one name, one extension."""
    found: dict[str, EntryPoint] = {}
    third_party = entry_points(group=GROUP) if installed is None else installed
    for point in [*builtins, *third_party]:
        known = found.get(point.name)
        if known is not None and known.value != point.value:
            raise ExtensionError(
                f"two extensions are named {point.name!r}: {known.value} and {point.value}"
            )
        found.setdefault(point.name, point)
    return list(found.values())


def _factory(point: EntryPoint) -> ExtensionFactory:
    try:
        factory = point.load()
    except Exception as exc:
        message = f"extension {point.name!r} ({point.value}) fails to load: {exc}"
        raise ExtensionError(message) from exc
    model = getattr(factory, "settings_model", None)
    if not (isinstance(model, type) and issubclass(model, ExtensionSettings)):
        raise ExtensionError(
            f"extension {point.name!r} ({point.value}) has no settings_model "
            "(a subclass of dockyard.ext.base.ExtensionSettings)"
        )
    return factory  # type: ignore[no-any-return]


def _section(point: EntryPoint, model: type[ExtensionSettings], raw: Any) -> ExtensionSettings:
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or point.name}: {e['msg']}" for e in exc.errors()
        )
        raise ExtensionError(f"settings extensions.{point.name}: {problems}") from None


def load_extensions(
    context: ExtensionContext,
    sections: Mapping[str, Any],
    points: Sequence[EntryPoint] | None = None,
) -> list[Extension]:
    """Instantiate every enabled extension with its validated settings section."""
    points = discovered() if points is None else points
    unknown = set(sections) - {p.name for p in points}
    if unknown:
        known = ", ".join(sorted(p.name for p in points)) or "none"
        raise ExtensionError(
            f"settings name unknown extension(s) {', '.join(sorted(unknown))}; installed: {known}"
        )
    loaded: list[Extension] = []
    for point in points:
        factory = _factory(point)
        settings = _section(point, factory.settings_model, sections.get(point.name))
        if not settings.enabled:
            log.info("extension %s is disabled", point.name)
            continue
        extension = factory(context, settings)
        if not isinstance(extension, Extension):
            raise ExtensionError(f"extension {point.name!r} does not implement Extension")
        loaded.append(extension)
    return loaded


class ExtensionHost:
    """The loaded extensions, as the composition root drives them."""

    def __init__(self, extensions: Sequence[Extension] = ()) -> None:
        self.extensions = list(extensions)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.extensions]

    def routes(self) -> list[BaseRoute]:
        return [route for e in self.extensions for route in e.routes()]

    def subscribe(self, bus: EventBus) -> None:
        for extension in self.extensions:
            for subscription in extension.subscriptions():
                bus.subscribe(subscription.event_type, subscription.handler)

    def openapi(self) -> list[ApiAddition]:
        """What the extensions add to the management API's OpenAPI document."""
        found = []
        for extension in self.extensions:
            describe = getattr(extension, "openapi", None)
            if callable(describe):
                found.append(describe())
        return found

    def tasks(self) -> list[Task]:
        return [
            Task(f"{e.name}:{task.name}", task.interval, task.run, task.per_process, task.stop)
            for e in self.extensions
            for task in e.tasks()
        ]

    async def startup(self) -> None:
        for extension in self.extensions:
            await extension.startup()

    async def shutdown(self) -> None:
        """In reverse order; one failing shutdown does not keep the others from running."""
        for extension in reversed(self.extensions):
            try:
                await extension.shutdown()
            except Exception:
                log.exception("extension %s failed to shut down", extension.name)
