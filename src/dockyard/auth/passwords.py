"""Password hashing with argon2, verified off the event loop and briefly remembered.

argon2 costs ~180 ms a verification here (DESIGN.md), and docker sends basic credentials to the
token endpoint on every push, so a successful verification is cached for a short time. The cache
key is an HMAC of the credentials under a key that never leaves this process, so the cache holds
nothing that would help anyone who could read memory dumps or logs guess a password.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from typing import Generic, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

T = TypeVar("T")


class SecretKeyedCache(Generic[T]):
    """Values remembered for a while under HMAC(secret parts), least recently used out first.
    Nothing stored would help anyone recover a secret."""

    def __init__(self, seconds: float, size: int = 1024) -> None:
        self.seconds = seconds
        self._size = size
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, tuple[float, T]] = OrderedDict()

    def _key_for(self, parts: tuple[str, ...]) -> bytes:
        return hmac.new(self._key, "\0".join(parts).encode(), hashlib.sha256).digest()

    def get(self, *parts: str) -> T | None:
        entry = self._entries.get(self._key_for(parts))
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, value: T, *parts: str) -> None:
        if self.seconds <= 0:
            return
        key = self._key_for(parts)
        self._entries[key] = (time.monotonic() + self.seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


class Passwords:
    def __init__(
        self,
        time_cost: int = 3,
        memory_kib: int = 65536,
        parallelism: int = 4,
        cache_seconds: float = 60.0,
        cache_size: int = 1024,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self.cache_seconds = cache_seconds
        # Keyed by the stored hash too: a password change misses the cache at once.
        self._verified: SecretKeyedCache[bool] = SecretKeyedCache(cache_seconds, cache_size)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        if not password_hash or not password:
            return False
        if self._verified.get(password_hash, password):
            return True
        ok = await asyncio.to_thread(self._verify, password_hash, password)
        if ok:
            self._verified.put(True, password_hash, password)
        return ok

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def burn(self) -> None:
        """Spend the time a verification would, so an unknown user name answers no faster
        than a wrong password."""
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_hex(8))
        await asyncio.to_thread(self._verify, self._dummy, "x")
