"""Registry bearer tokens (Docker token auth): short-lived ES256 JWTs.

The signing keys live in the metadata database, so every replica signs and verifies with the
same ones; a key is generated on first start. Rotation adds a new key and retires the old ones:
retired keys still verify until every token they signed has expired, then they are pruned.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dockyard.meta.auth_records import SigningKeyRecord
from dockyard.meta.base import MetadataStore

KIND = "es256"
RELOAD_SECONDS = 60.0


class InvalidToken(Exception):
    """Tampered, expired, for another audience or issuer, or signed by no key of ours."""


@dataclass(frozen=True)
class ResourceAccess:
    type: str  # repository, registry
    name: str
    actions: tuple[str, ...]

    def claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


@dataclass(frozen=True)
class _Key:
    kid: str
    private: ec.EllipticCurvePrivateKey
    retired: bool


def _new_key() -> SigningKeyRecord:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return SigningKeyRecord(uuid.uuid4().hex, KIND, pem, time.time())


def _load(record: SigningKeyRecord) -> _Key:
    private = serialization.load_pem_private_key(record.material.encode(), password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return _Key(record.kid, private, record.retired_at is not None)


class TokenService:
    def __init__(
        self,
        store: MetadataStore,
        issuer: str,
        service: str,
        ttl_seconds: int,
        refresh_ttl_seconds: int,
    ) -> None:
        self._store = store
        self.issuer = issuer
        self.service = service
        self.ttl = ttl_seconds
        self.refresh_ttl = refresh_ttl_seconds
        self._keys: dict[str, _Key] = {}
        self._signing: _Key | None = None
        self._loaded_at = 0.0

    async def _reload(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < RELOAD_SECONDS and self._signing:
            return
        # Read first: a token with an unknown kid forces a reload, and anyone can send one, so
        # it must not take the (SQLite: single) writer lock. Write only to make the first key.
        async with self._store.transaction(readonly=True) as tx:
            records = await tx.keys.keys(KIND)
        if not any(r.retired_at is None for r in records):
            async with self._store.transaction() as tx:
                records = await tx.keys.keys(KIND)
                if not any(r.retired_at is None for r in records):
                    fresh = _new_key()
                    await tx.keys.add(fresh)
                    records.insert(0, fresh)
        keys = [_load(r) for r in records]
        self._keys = {k.kid: k for k in keys}
        self._signing = next(k for k in keys if not k.retired)
        self._loaded_at = time.monotonic()

    async def rotate(self) -> str:
        """A new signing key; the old ones verify until what they signed has expired."""
        fresh = _new_key()
        async with self._store.transaction() as tx:
            await tx.keys.add(fresh)
            await tx.keys.retire(KIND, before=fresh.created_at, at=fresh.created_at)
            await tx.keys.prune(KIND, retired_before=time.time() - self.refresh_ttl)
        await self._reload(force=True)
        return fresh.kid

    async def _sign(self, claims: dict[str, Any]) -> str:
        await self._reload()
        assert self._signing is not None
        key = self._signing
        return jwt.encode(claims, key.private, algorithm="ES256", headers={"kid": key.kid})

    async def issue(
        self,
        subject: str,
        kind: str,
        access: Iterable[ResourceAccess],
        ttl: int | None = None,
    ) -> tuple[str, int, float]:
        """(token, expires_in, issued_at) for the given access claims; `ttl` overrides the
        configured lifetime (a credential lent to a slow external service)."""
        ttl = ttl or self.ttl
        now = time.time()
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "iat": int(now),
            "nbf": int(now) - 5,
            "exp": int(now) + ttl,
            "jti": uuid.uuid4().hex,
            "kind": kind,
            "access": [a.claim() for a in access],
        }
        return await self._sign(claims), ttl, now

    async def issue_refresh(self, subject: str, kind: str, stamp: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": f"{self.service}#refresh",
            "iat": now,
            "exp": now + self.refresh_ttl,
            "jti": uuid.uuid4().hex,
            "kind": kind,
            "ver": stamp,  # the credential's fingerprint: the token dies with it
        }
        return await self._sign(claims)

    async def verify(self, token: str, refresh: bool = False) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from None
        if header.get("alg") != "ES256":
            raise InvalidToken("token is not signed with ES256")
        kid = header.get("kid")
        await self._reload()
        if kid not in self._keys:
            await self._reload(force=True)  # another replica may have rotated
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("token is signed by an unknown key")
        audience = f"{self.service}#refresh" if refresh else self.service
        try:
            return jwt.decode(
                token,
                key.private.public_key(),
                algorithms=["ES256"],
                audience=audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
                leeway=5,
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
