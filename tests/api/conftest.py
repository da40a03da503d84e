"""Fixtures for the HTTP contract tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.settings import RegistrySettings, Settings
from tests.conftest import admin_client

ClientFactory = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture
def make_client(settings: Settings) -> ClientFactory:
    """A client on a registry in the current deployment shape with other registry settings."""

    @contextmanager
    def factory(**registry: Any) -> Iterator[TestClient]:
        custom = settings.model_copy(update={"registry": RegistrySettings(**registry)})
        with admin_client(create_app(custom), base_url="http://registry.test") as client:
            yield client

    return factory
