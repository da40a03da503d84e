"""Failed-login throttling on a real metadata store, with the clock under the test's control."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from dockyard.auth import throttle as throttle_module
from dockyard.auth.throttle import Lockout, LoginThrottle
from dockyard.meta.sql import SqlMetadataStore
from tests.conftest import PG_URL

pytestmark = pytest.mark.anyio

PER_USER, PER_ADDRESS, WINDOW, LOCKOUT = 3, 5, 100, 60


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(throttle_module, "time", SimpleNamespace(time=lambda: clock.now))
    return clock


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlMetadataStore]:
    store = SqlMetadataStore(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    await store.open(True)
    yield store
    await store.close()


@pytest.fixture
def throttle(store: SqlMetadataStore, clock: Clock) -> LoginThrottle:
    return LoginThrottle(store, PER_USER, PER_ADDRESS, WINDOW, LOCKOUT)


async def fail(throttle: LoginThrottle, times: int, user: str, address: str | None) -> list:
    return [await throttle.failed(user, address) for _ in range(times)]


async def test_the_failure_that_reaches_the_limit_locks_the_user(throttle: LoginThrottle) -> None:
    assert await fail(throttle, PER_USER - 1, "alice", "10.0.0.1") == [None] * (PER_USER - 1)
    assert await throttle.check("alice", "10.0.0.1") is None
    assert await throttle.failed("alice", "10.0.0.1") == Lockout("user", LOCKOUT)
    locked = await throttle.check("alice", "10.0.0.9")  # from anywhere
    assert locked is not None and locked.key_kind == "user"
    assert locked.message.startswith("too many failed logins for this account")
    assert await throttle.check("bob", "10.0.0.1") is None


async def test_user_names_are_counted_case_insensitively(throttle: LoginThrottle) -> None:
    await fail(throttle, 1, "Alice", None)
    await fail(throttle, 1, "ALICE", None)
    assert await throttle.failed("alice", None) == Lockout("user", LOCKOUT)


async def test_failures_older_than_the_window_are_forgotten(
    throttle: LoginThrottle, clock: Clock
) -> None:
    await fail(throttle, PER_USER - 1, "alice", None)
    clock.advance(WINDOW + 1)
    assert await fail(throttle, PER_USER - 1, "alice", None) == [None] * (PER_USER - 1)
    assert await throttle.check("alice", None) is None


async def test_lockout_counts_down_and_expires(throttle: LoginThrottle, clock: Clock) -> None:
    await fail(throttle, PER_USER, "alice", None)
    clock.advance(20)
    locked = await throttle.check("alice", None)
    assert locked is not None and locked.retry_after == LOCKOUT - 20 + 1
    clock.advance(LOCKOUT - 20 + 0.5)
    assert await throttle.check("alice", None) is None


async def test_a_success_clears_the_user_but_not_the_address(throttle: LoginThrottle) -> None:
    await fail(throttle, PER_USER - 1, "alice", "10.0.0.1")
    await throttle.succeeded("ALICE")
    assert await fail(throttle, PER_USER - 1, "alice", "10.0.0.1") == [None] * (PER_USER - 1)
    # 4 failures from the address so far; the fifth locks it, whoever it was for
    assert await throttle.failed("carol", "10.0.0.1") == Lockout("address", LOCKOUT)


async def test_one_address_guessing_many_accounts_is_locked(throttle: LoginThrottle) -> None:
    for i in range(PER_ADDRESS - 1):
        assert await throttle.failed(f"user{i}", "10.0.0.1") is None
    assert await throttle.check("bob", "10.0.0.1") is None
    assert await throttle.failed("user-last", "10.0.0.1") == Lockout("address", LOCKOUT)
    locked = await throttle.check("bob", "10.0.0.1")
    assert locked is not None and locked.key_kind == "address"
    assert "your address" in locked.message
    assert await throttle.check("bob", "10.0.0.2") is None
    assert await throttle.check("bob", None) is None


async def test_lockouts_are_shared_by_replicas(
    throttle: LoginThrottle, store: SqlMetadataStore
) -> None:
    other_replica = LoginThrottle(store, PER_USER, PER_ADDRESS, WINDOW, LOCKOUT)
    await fail(throttle, PER_USER - 1, "alice", None)
    assert await other_replica.failed("alice", None) == Lockout("user", LOCKOUT)
    assert await throttle.check("alice", None) is not None


@pytest.fixture(params=["sqlite", "postgresql"])
async def shared_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SqlMetadataStore]:
    if request.param == "sqlite":
        store = SqlMetadataStore(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    else:
        store = SqlMetadataStore(PG_URL, schema=request.getfixturevalue("pg_schema"))
    await store.open(True)
    yield store
    await store.close()


async def test_concurrent_failures_are_all_counted(shared_store: SqlMetadataStore) -> None:
    # an attacker guessing in parallel, from many addresses, through many replicas
    throttle = LoginThrottle(shared_store, PER_USER, 1000, WINDOW, LOCKOUT)
    results = await asyncio.gather(
        *(throttle.failed("alice", f"10.0.0.{i}") for i in range(4 * PER_USER))
    )
    assert any(r is not None for r in results)
    assert await throttle.check("alice", "10.0.1.1") is not None
    async with shared_store.transaction(readonly=True) as tx:
        record = await tx.throttle.get("user:alice")
    assert record is not None and record.failures == 4 * PER_USER
