"""Registry tokens: ES256 JWTs signed with keys the replicas share through the metadata store."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dockyard.auth import tokens as tokens_module
from dockyard.auth.tokens import KIND, InvalidToken, ResourceAccess, TokenService
from dockyard.meta.auth_records import SigningKeyRecord
from dockyard.meta.sql import SqlMetadataStore

pytestmark = pytest.mark.anyio

TTL, REFRESH_TTL = 300, 3600
PULL = ResourceAccess("repository", "team-a/app", ("pull",))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlMetadataStore]:
    store = SqlMetadataStore(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    await store.open(True)
    yield store
    await store.close()


def service(
    store: SqlMetadataStore, issuer: str = "dockyard", aud: str = "dockyard"
) -> TokenService:
    return TokenService(store, issuer, aud, TTL, REFRESH_TTL)


async def stored_keys(store: SqlMetadataStore) -> list[SigningKeyRecord]:
    async with store.transaction(readonly=True) as tx:
        return await tx.keys.keys(KIND)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload)), signature


def signing_input(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"


def private_key(record: SigningKeyRecord) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(record.material.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": "dockyard",
        "sub": "alice",
        "aud": "dockyard",
        "iat": now,
        "exp": now + TTL,
        "kind": "user",
        "access": [PULL.claim()],
    }
    return {**base, **overrides}


async def test_issue_and_verify(store: SqlMetadataStore) -> None:
    tokens = service(store)
    token, expires_in, issued_at = await tokens.issue("alice", "user", [PULL])
    header, payload, _ = segments(token)
    assert header["alg"] == "ES256"
    assert header["kid"] == (await stored_keys(store))[0].kid
    assert expires_in == TTL
    assert payload["exp"] - payload["iat"] == TTL
    assert abs(payload["iat"] - issued_at) < 1
    verified = await tokens.verify(token)
    assert verified["sub"] == "alice" and verified["kind"] == "user"
    assert verified["iss"] == "dockyard" and verified["aud"] == "dockyard"
    assert verified["access"] == [{"type": "repository", "name": "team-a/app", "actions": ["pull"]}]
    assert verified["jti"] != segments((await tokens.issue("alice", "user", [PULL]))[0])[1]["jti"]


async def test_replicas_share_one_generated_key(store: SqlMetadataStore) -> None:
    one, two = service(store), service(store)
    token, _, _ = await one.issue("alice", "user", [])
    assert (await two.verify(token))["sub"] == "alice"
    other, _, _ = await two.issue("bob", "user", [])
    assert segments(other)[0]["kid"] == segments(token)[0]["kid"]
    assert len(await stored_keys(store)) == 1


async def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(
    store: SqlMetadataStore,
) -> None:
    tokens, replica = service(store), service(store)
    old, _, _ = await tokens.issue("alice", "user", [PULL])
    await replica.verify(old)  # the replica has loaded the old key
    kid = await tokens.rotate()
    assert kid != segments(old)[0]["kid"]
    new, _, _ = await tokens.issue("alice", "user", [PULL])
    assert segments(new)[0]["kid"] == kid
    for verifier in (tokens, replica):  # the replica learns the new key on first sight
        assert (await verifier.verify(old))["sub"] == "alice"
        assert (await verifier.verify(new))["sub"] == "alice"
    active = [k.kid for k in await stored_keys(store) if k.retired_at is None]
    assert active == [kid]


async def test_keys_retired_longer_than_a_refresh_token_lives_are_pruned(
    store: SqlMetadataStore,
) -> None:
    tokens = service(store)
    await tokens.issue("alice", "user", [])
    long_ago = time.time() - REFRESH_TTL - 10
    ancient = SigningKeyRecord("ancient", KIND, _pem(), long_ago - 100, retired_at=long_ago)
    async with store.transaction() as tx:
        await tx.keys.add(ancient)
    forged = jwt.encode(claims(), private_key(ancient), "ES256", headers={"kid": "ancient"})
    assert (await tokens.verify(forged))["sub"] == "alice"  # retired keys still verify
    await tokens.rotate()
    assert "ancient" not in {k.kid for k in await stored_keys(store)}
    with pytest.raises(InvalidToken, match="unknown key"):
        await tokens.verify(forged)


def _pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


async def test_expired_token_is_refused(
    store: SqlMetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = service(store)
    await tokens.issue("warm-up", "user", [])
    past = time.time() - TTL - 60
    clock = SimpleNamespace(time=lambda: past, monotonic=time.monotonic)
    monkeypatch.setattr(tokens_module, "time", clock)
    token, _, _ = await tokens.issue("alice", "user", [PULL])
    monkeypatch.undo()
    with pytest.raises(InvalidToken, match="expired"):
        await tokens.verify(token)


async def test_tokens_of_another_issuer_or_service_are_refused(store: SqlMetadataStore) -> None:
    # Same database, same keys: only the claims differ.
    ours = service(store)
    theirs_issuer = service(store, issuer="elsewhere")
    theirs_service = service(store, aud="other-registry")
    for other in (theirs_issuer, theirs_service):
        token, _, _ = await other.issue("alice", "user", [PULL])
        with pytest.raises(InvalidToken):
            await ours.verify(token)


async def test_refresh_and_access_tokens_are_not_interchangeable(store: SqlMetadataStore) -> None:
    tokens = service(store)
    refresh = await tokens.issue_refresh("alice", "user", 3)
    access, _, _ = await tokens.issue("alice", "user", [PULL])
    refreshed = await tokens.verify(refresh, refresh=True)
    assert refreshed["ver"] == 3 and refreshed["exp"] - refreshed["iat"] == REFRESH_TTL
    with pytest.raises(InvalidToken):
        await tokens.verify(refresh)
    with pytest.raises(InvalidToken):
        await tokens.verify(access, refresh=True)


@pytest.mark.parametrize(
    "forgery",
    [
        "alg-none",
        "hs256-with-public-key",
        "unknown-key-same-kid",
        "unknown-kid",
        "no-kid",
        "flipped-signature",
        "edited-payload",
        "missing-exp",
        "garbage",
    ],
)
async def test_forged_tokens_are_refused(store: SqlMetadataStore, forgery: str) -> None:
    tokens = service(store)
    genuine, _, _ = await tokens.issue("alice", "user", [PULL])
    assert await tokens.verify(genuine)
    record = (await stored_keys(store))[0]
    forged = forge(forgery, genuine, record)
    with pytest.raises(InvalidToken):
        await tokens.verify(forged)


def forge(forgery: str, genuine: str, record: SigningKeyRecord) -> str:
    header, payload, signature = genuine.split(".")
    kid = {"kid": record.kid}
    push = claims(access=[{"type": "repository", "name": "team-a/app", "actions": ["push"]}])
    if forgery == "alg-none":
        return signing_input({"alg": "none", **kid}, push) + "."
    if forgery == "hs256-with-public-key":
        public = (
            private_key(record)
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        unsigned = signing_input({"alg": "HS256", "typ": "JWT", **kid}, push)
        mac = hmac.new(public, unsigned.encode(), hashlib.sha256).digest()
        return f"{unsigned}.{b64(mac)}"
    if forgery == "unknown-key-same-kid":
        return jwt.encode(push, ec.generate_private_key(ec.SECP256R1()), "ES256", headers=kid)
    if forgery == "unknown-kid":
        return jwt.encode(push, private_key(record), "ES256", headers={"kid": "nope"})
    if forgery == "no-kid":
        return jwt.encode(push, private_key(record), "ES256")
    if forgery == "flipped-signature":
        raw = bytearray(unb64(signature))
        raw[10] ^= 0x01
        return f"{header}.{payload}.{b64(bytes(raw))}"
    if forgery == "edited-payload":
        edited = json.loads(unb64(payload)) | {"access": push["access"]}
        return f"{header}.{b64(json.dumps(edited).encode())}.{signature}"
    if forgery == "missing-exp":
        without = {k: v for k, v in claims().items() if k != "exp"}
        return jwt.encode(without, private_key(record), "ES256", headers=kid)
    return "not.a.token"


async def test_tokens_with_unknown_key_ids_take_no_write_lock(
    store: SqlMetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Anyone can send such a token; each one makes the service look for a new key.
    tokens = service(store)
    await tokens.issue("alice", "user", [])
    record = (await stored_keys(store))[0]
    real = store.transaction
    writes: list[bool] = []

    def counting(readonly: bool = False) -> Any:
        if not readonly:
            writes.append(True)
        return real(readonly=readonly)

    monkeypatch.setattr(store, "transaction", counting)
    for i in range(20):
        bogus = jwt.encode(claims(), private_key(record), "ES256", headers={"kid": f"k{i}"})
        with pytest.raises(InvalidToken, match="unknown key"):
            await tokens.verify(bogus)
    assert writes == []
