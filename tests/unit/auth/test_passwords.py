"""Password hashing: argon2id at the documented cost, and a cache that never says yes wrongly."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from dockyard.auth import passwords as passwords_module
from dockyard.auth.passwords import Passwords

pytestmark = pytest.mark.anyio


def cheap(**options: float) -> Passwords:
    return Passwords(time_cost=1, memory_kib=8192, parallelism=1, **options)  # type: ignore[arg-type]


async def test_default_cost_is_argon2id_64mib_3_passes_4_lanes() -> None:
    # tests/conftest.py lowers the cost for registries built from Settings; not this one.
    passwords = Passwords()
    hashed = await passwords.hash("correct horse")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "correct horse" not in hashed
    assert await passwords.verify(hashed, "correct horse")
    assert not await passwords.verify(hashed, "correct horsE")


async def test_same_password_hashes_differently_each_time() -> None:
    passwords = cheap()
    one, two = await passwords.hash("secret"), await passwords.hash("secret")
    assert one != two
    assert await passwords.verify(one, "secret") and await passwords.verify(two, "secret")


async def test_a_cached_success_does_not_accept_another_password() -> None:
    passwords = cheap(cache_seconds=60)
    hashed = await passwords.hash("right")
    assert await passwords.verify(hashed, "right")
    assert await passwords.verify(hashed, "right")  # now from the cache
    for wrong in ("wrong", "righ", "right ", "RIGHT", ""):
        assert not await passwords.verify(hashed, wrong), wrong


async def test_a_cached_success_does_not_survive_a_password_change() -> None:
    passwords = cheap(cache_seconds=60)
    old = await passwords.hash("old password")
    assert await passwords.verify(old, "old password")
    new = await passwords.hash("new password")
    assert not await passwords.verify(new, "old password")
    assert await passwords.verify(new, "new password")


async def test_a_cached_success_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    passwords = cheap(cache_seconds=60)
    hashed = await passwords.hash("pw")
    assert await passwords.verify(hashed, "pw")
    calls: list[str] = []
    real = passwords._verify

    def counting(password_hash: str, password: str) -> bool:
        calls.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "_verify", counting)
    assert await passwords.verify(hashed, "pw")
    assert calls == []  # remembered
    later = time.monotonic() + 61
    monkeypatch.setattr(passwords_module, "time", SimpleNamespace(monotonic=lambda: later))
    assert await passwords.verify(hashed, "pw")
    assert calls == ["pw"]  # verified again


async def test_no_hash_empty_password_and_garbage_hash_are_refused() -> None:
    passwords = cheap()
    empty_hash = await passwords.hash("")
    assert not await passwords.verify(None, "anything")
    assert not await passwords.verify("", "anything")
    assert not await passwords.verify(empty_hash, "")
    assert not await passwords.verify("not-a-hash", "anything")
    assert not await passwords.verify("$argon2id$v=19$m=65536,t=3,p=4$broken", "anything")


async def test_burn_spends_a_verification_and_refuses_nothing_else() -> None:
    passwords = cheap()
    await passwords.burn()
    await passwords.burn()  # the dummy hash is made once and reused
    assert passwords._dummy is not None
