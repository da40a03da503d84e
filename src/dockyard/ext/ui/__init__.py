"""The web dashboard: server-rendered pages (Jinja2), htmx for partial updates, uPlot for the
one chart. Every asset is served by Dockyard itself under /static/ (docs/dashboard.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import Field
from starlette.routing import BaseRoute

from dockyard import __version__
from dockyard.ext.base import ExtensionContext, ExtensionSettings, Subscription, Task
from dockyard.ext.ui import filters
from dockyard.ext.ui.routes import build_routes
from dockyard.ext.ui.web import Pages, json_script

HERE = Path(__file__).parent


class UiSettings(ExtensionSettings):
    title: str = Field("Dockyard", max_length=60, description="shown in the header and titles")
    page_size: int = Field(25, ge=5, le=200, description="rows per page in lists")


class UiExtension:
    name = "ui"
    settings_model = UiSettings

    def __init__(self, context: ExtensionContext, settings: UiSettings) -> None:
        self.context = context
        self.settings = settings
        env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        filters.install(env)
        env.filters["json_script"] = json_script
        self.pages = Pages(
            env,
            context.sessions,
            {"title": settings.title, "version": __version__, "page_size": settings.page_size},
        )

    def routes(self) -> Sequence[BaseRoute]:
        return build_routes(self.pages, self.context, self.settings.page_size, HERE / "static")

    def tasks(self) -> Sequence[Task]:
        return ()

    def subscriptions(self) -> Sequence[Subscription]:
        return ()

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None
