"""The pull token lent to an external scanner for one scan: signed like every registry token,
pull on the one repository only, kind `service`, and the adapter setting's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.auth.principal import Kind
from dockyard.auth.tokens import TokenService
from dockyard.ext.scanning.lending import PullCredentials
from dockyard.meta.sql import SqlMetadataStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def tokens(tmp_path: Path) -> AsyncIterator[TokenService]:
    store = SqlMetadataStore(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    await store.open(True)
    yield TokenService(store, "dockyard", "dockyard", 300, 3600)
    await store.close()


async def test_the_lent_token_pulls_one_repository_for_the_configured_time(
    tokens: TokenService,
) -> None:
    lend = PullCredentials(tokens, "trivy", ttl=1800)
    header = await lend("team/app")
    assert header.startswith("Bearer ")
    claims = await tokens.verify(header.removeprefix("Bearer "))  # signed, unexpired, ours

    assert claims["exp"] - claims["iat"] == 1800
    assert (claims["sub"], claims["kind"]) == ("scanner:trivy", Kind.SERVICE.value)
    assert claims["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull"]}]


async def test_each_scan_gets_a_token_of_its_own(tokens: TokenService) -> None:
    lend = PullCredentials(tokens, "trivy", ttl=600)
    assert await lend("team/app") != await lend("team/app")
