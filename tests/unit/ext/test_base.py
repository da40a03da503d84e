"""The Extension port: built-ins and third-party extensions load through the same door, each
with its own settings section and `enabled` switch."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.events.types import ManifestPushed
from dockyard.ext import base
from dockyard.ext.base import (
    DEFAULT_EXTENSIONS,
    GROUP,
    ExtensionContext,
    ExtensionError,
    ExtensionSettings,
    Subscription,
    Task,
    discovered,
    load_extensions,
)
from dockyard.settings import Settings
from tests.conftest import ADMIN
from tests.e2e.images import push_image, simple_image

HELLO = EntryPoint("hello", f"{__name__}:HelloExtension", GROUP)


class HelloSettings(ExtensionSettings):
    greeting: str = "hello"


class HelloExtension:
    """What a third-party package would ship."""

    name = "hello"
    settings_model = HelloSettings
    started: list[str] = []
    pushed: list[str] = []

    def __init__(self, context: ExtensionContext, settings: HelloSettings) -> None:
        self.context = context
        self.settings = settings

    async def greet(self, _request: Request) -> Response:
        return PlainTextResponse(self.settings.greeting)

    def routes(self) -> Sequence[BaseRoute]:
        return [Route("/hello", self.greet)]

    def tasks(self) -> Sequence[Task]:
        return [Task("noop", 3600, self.noop)]

    async def noop(self) -> None:
        return None

    def subscriptions(self) -> Sequence[Subscription]:
        return [Subscription(ManifestPushed, lambda e: self.pushed.append(e.repository))]

    async def startup(self) -> None:
        self.started.append("up")

    async def shutdown(self) -> None:
        self.started.append("down")


class NoSettings:
    name = "broken"


def test_builtins_come_first_and_a_name_means_one_extension() -> None:
    found = discovered(installed=[HELLO])
    assert [p.name for p in found] == [*(p.name for p in DEFAULT_EXTENSIONS), "hello"]
    assert discovered(installed=[DEFAULT_EXTENSIONS[0]]) == list(DEFAULT_EXTENSIONS)
    clash = EntryPoint("ui", "somewhere.else:Ui", GROUP)
    with pytest.raises(ExtensionError, match="two extensions are named 'ui'"):
        discovered(installed=[clash])


def test_sections_are_validated_by_each_extensions_model(tmp_path: Path) -> None:
    context: Any = object()
    (loaded,) = load_extensions(context, {"hello": {"greeting": "ahoy"}}, [HELLO])
    assert isinstance(loaded, HelloExtension)
    assert loaded.settings.greeting == "ahoy"
    assert load_extensions(context, {"hello": {"enabled": False}}, [HELLO]) == []
    with pytest.raises(ExtensionError, match=r"extensions\.hello: greting"):
        load_extensions(context, {"hello": {"greting": "typo"}}, [HELLO])
    with pytest.raises(ExtensionError, match=r"unknown extension.*helo"):
        load_extensions(context, {"helo": {}}, [HELLO])
    broken = EntryPoint("broken", f"{__name__}:NoSettings", GROUP)
    with pytest.raises(ExtensionError, match="no settings_model"):
        load_extensions(context, {}, [broken])
    missing = EntryPoint("gone", "dockyard.ext.no_such_module:Thing", GROUP)
    with pytest.raises(ExtensionError, match="fails to load"):
        load_extensions(context, {}, [missing])


def test_a_third_party_extension_is_served_like_a_builtin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "entry_points", lambda group: [HELLO] if group == GROUP else [])
    HelloExtension.started.clear()
    HelloExtension.pushed.clear()
    settings = Settings(data_dir=tmp_path, extensions={"hello": {"greeting": "ahoy"}})
    with TestClient(create_app(settings)) as client:
        assert HelloExtension.started == ["up"]
        assert client.get("/hello").text == "ahoy"
        client.auth = ADMIN
        push_image(client, "team/app", simple_image("app"), "v1")  # type: ignore[arg-type]
        assert client.get("/", follow_redirects=False).status_code == 303  # the ui, too
    assert HelloExtension.started == ["up", "down"]
    assert HelloExtension.pushed == ["team/app"]
