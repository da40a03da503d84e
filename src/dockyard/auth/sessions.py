"""Browser sessions for the dashboard and the management API: a signed, timed cookie.

The signing secret lives in the metadata database (every replica shares it). The cookie names
the principal and the user's token version, so a password change or a disable ends every
session at once.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from dockyard.meta.auth_records import SigningKeyRecord
from dockyard.meta.base import MetadataStore

KIND = "session"


class SessionSigner:
    def __init__(self, store: MetadataStore, max_age_seconds: int) -> None:
        self._store = store
        self.max_age = max_age_seconds
        self._serializers: dict[str, URLSafeTimedSerializer] = {}

    async def _serializer(self, salt: str) -> URLSafeTimedSerializer:
        if salt not in self._serializers:
            async with self._store.transaction() as tx:
                keys = await tx.keys.keys(KIND)
                if not keys:
                    key = SigningKeyRecord(
                        secrets.token_hex(8), KIND, secrets.token_urlsafe(48), time.time()
                    )
                    await tx.keys.add(key)
                    keys = await tx.keys.keys(KIND)  # another replica may have won the race
            # The oldest key, so that two replicas racing at first start agree.
            secret = keys[-1].material
            self._serializers[salt] = URLSafeTimedSerializer(secret, salt=f"dockyard-{salt}")
        return self._serializers[salt]

    async def dumps(self, data: dict[str, Any], salt: str = "session") -> str:
        return str((await self._serializer(salt)).dumps(data))

    async def loads(
        self, value: str, salt: str = "session", max_age: int | None = None
    ) -> dict[str, Any] | None:
        try:
            data = (await self._serializer(salt)).loads(value, max_age=max_age or self.max_age)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None
