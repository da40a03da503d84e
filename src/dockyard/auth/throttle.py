"""Failed logins, counted per user name and per client address across every replica.

Too many failures inside the window lock the key for a while. Counting per address stops one
client guessing many accounts; counting per user stops many clients guessing one account. A
success clears the user's counter but not the address's, so a botnet cannot launder its
failures through one account it knows.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from dockyard.meta.base import MetadataStore


@dataclass(frozen=True)
class Lockout:
    key_kind: str  # "user" or "address"
    retry_after: int

    @property
    def message(self) -> str:
        what = "this account" if self.key_kind == "user" else "your address"
        return f"too many failed logins for {what}; try again in {self.retry_after} seconds"


class LoginThrottle:
    def __init__(
        self,
        store: MetadataStore,
        per_user: int,
        per_address: int,
        window_seconds: int,
        lockout_seconds: int,
    ) -> None:
        self._store = store
        self._limits = {"user": per_user, "address": per_address}
        self._window = window_seconds
        self._lockout = lockout_seconds

    @staticmethod
    def _keys(username: str, address: str | None) -> list[tuple[str, str]]:
        keys = [("user", f"user:{username.lower()}")]
        if address:
            keys.append(("address", f"address:{address}"))
        return keys

    async def check(self, username: str, address: str | None) -> Lockout | None:
        now = time.time()
        async with self._store.transaction(readonly=True) as tx:
            for kind, key in self._keys(username, address):
                record = await tx.throttle.get(key)
                if record and record.locked_until and record.locked_until > now:
                    return Lockout(kind, int(record.locked_until - now) + 1)
        return None

    async def failed(self, username: str, address: str | None) -> Lockout | None:
        """Count a failure; the lockout it caused, if any."""
        now = time.time()
        caused: Lockout | None = None
        async with self._store.transaction() as tx:
            for kind, key in self._keys(username, address):
                record = await tx.throttle.record_failure(
                    key, now, self._window, self._limits[kind], self._lockout
                )
                locked = record.locked_until is not None and record.locked_until > now
                if locked and caused is None:
                    caused = Lockout(kind, math.ceil(record.locked_until - now))
        return caused

    async def succeeded(self, username: str) -> None:
        # Most logins follow no failure: look before taking the (SQLite: single) writer.
        key = f"user:{username.lower()}"
        async with self._store.transaction(readonly=True) as tx:
            if await tx.throttle.get(key) is None:
                return
        async with self._store.transaction() as tx:
            await tx.throttle.clear(key)
