"""Docker token auth over HTTP: challenges, /token, bearer tokens and the ways to abuse them,
refresh tokens, key rotation, login lockout, and the audit log of it all."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.auth.passwords import Passwords
from dockyard.auth.secrets import digest, new_access_token, new_secret
from dockyard.meta.auth_records import (
    AccessTokenRecord,
    AuditQuery,
    AuditRecord,
    NewUser,
    ProjectRecord,
    RobotPermission,
    RobotRecord,
    SigningKeyRecord,
)
from dockyard.settings import Settings
from tests.api.helpers import (
    OCI_MANIFEST,
    assert_error,
    image_manifest,
    push_image,
    sha256,
)
from tests.conftest import ADMIN

BASE_URL = "http://registry.test"
REALM = f"{BASE_URL}/token"
TTL = 300
HASHER = Passwords(time_cost=1, memory_kib=8192, parallelism=1)
ALICE = ("alice", "alice-password-1")  # developer in team-a
GUS = ("gus", "gus-password-1")  # guest in team-a
BOB = ("bob", "bob-password-1")  # no grant anywhere
ROBOT_NAME = "robot$team-a+ci"


@dataclass
class Registry:
    client: TestClient
    robot_secret: str

    @property
    def store(self) -> Any:
        return self.client.app.state.registry.store  # type: ignore[attr-defined]

    def call(self, function: Any, *args: Any) -> Any:
        assert self.client.portal is not None
        return self.client.portal.call(function, *args)

    def get_token(
        self, *scopes: str, auth: tuple[str, str] | None = None, **params: str
    ) -> httpx.Response:
        query = [("service", "dockyard"), *(("scope", s) for s in scopes), *params.items()]
        return self.client.get("/token", params=query, auth=auth)

    def token(self, *scopes: str, auth: tuple[str, str] | None = None) -> str:
        response = self.get_token(*scopes, auth=auth)
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def audit(self, **query: Any) -> list[AuditRecord]:
        async def read() -> list[AuditRecord]:
            async with self.store.transaction(readonly=True) as tx:
                return await tx.audit.query(AuditQuery(**query))

        return list(self.call(read))

    def signing_key(self) -> SigningKeyRecord:
        async def read() -> list[SigningKeyRecord]:
            async with self.store.transaction(readonly=True) as tx:
                return await tx.keys.keys("es256")

        return next(k for k in self.call(read) if k.retired_at is None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


async def seed(store: Any) -> str:
    now = time.time()
    async with store.transaction() as tx:
        await tx.access.add_project(ProjectRecord("team-a", False, now))
        await tx.access.add_project(ProjectRecord("pub", True, now))
        await tx.access.add_grant("team-a", "user", "alice", "developer", "*")
        await tx.access.add_grant("team-a", "user", "gus", "guest", "*")
    for name, password in (ALICE, GUS, BOB):
        password_hash = await HASHER.hash(password)
        async with store.transaction() as tx:
            await tx.identities.add_user(NewUser(name, password_hash=password_hash))
    secret = new_secret()
    permissions = (RobotPermission("team-a/*", ("pull", "push")),)
    async with store.transaction() as tx:
        await tx.access.add_robot(
            RobotRecord(ROBOT_NAME, "team-a", permissions, False, now, digest(secret))
        )
    return secret


def start(data_dir: Path, address: str = "testclient") -> TestClient:
    app = create_app(Settings(data_dir=data_dir))
    return TestClient(app, base_url=BASE_URL, client=(address, 50000))


@contextmanager
def running(data_dir: Path) -> Iterator[Registry]:
    with start(data_dir) as client:
        assert client.portal is not None
        secret = client.portal.call(seed, client.app.state.registry.store)  # type: ignore[attr-defined]
        client.auth = ADMIN
        for repo in ("team-a/app", "team-a/other", "pub/app"):
            push_image(client, repo, "v1", seed=repo)
        client.auth = None  # type: ignore[assignment]
        yield Registry(client, secret)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry of its own, for tests that change state or fail logins."""
    with running(tmp_path) as registry:
        yield registry


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """One registry for the tests that only read and never fail a login (the attacks among
    them), so that they do not each pay for a start."""
    with running(tmp_path_factory.mktemp("shared")) as registry:
        yield registry


def assert_unauthorized_with_challenge(response: httpx.Response) -> None:
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"].startswith(
        f'Bearer realm="{REALM}",service="dockyard"'
    )


# -- the flow docker follows ---------------------------------------------------------------------


def test_anonymous_base_request_is_challenged(shared: Registry) -> None:
    response = shared.client.get("/v2/")
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"] == f'Bearer realm="{REALM}",service="dockyard"'
    assert shared.client.get("/v2/", auth=ALICE).status_code == 200
    assert shared.client.get("/v2/", headers=bearer(shared.token(auth=ALICE))).status_code == 200


def test_token_claims_are_requested_scopes_intersected_with_what_is_allowed(
    shared: Registry,
) -> None:
    before = time.time()
    response = shared.get_token(
        "repository:team-a/app:pull,push",
        "repository:pub/app:pull,push",
        "repository:team-b/app:pull",
        "registry:catalog:*",
        "nonsense",
        auth=ALICE,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == TTL
    issued_at = datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00")).timestamp()
    assert before - 1 <= issued_at <= time.time() + 1
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "ES256" and header["kid"] == shared.signing_key().kid
    claims = claims_of(body["token"])
    assert claims["iss"] == "dockyard" and claims["aud"] == "dockyard"
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == TTL
    # a scope with nothing allowed may be left out or listed with no actions
    assert [a for a in claims["access"] if a["actions"]] == [
        {"type": "repository", "name": "team-a/app", "actions": ["pull", "push"]},
        {"type": "repository", "name": "pub/app", "actions": ["pull"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    assert "refresh_token" not in body


def test_docker_delete_scope_covers_what_the_role_may_delete(shared: Registry) -> None:
    # docker knows one "delete"; a developer may delete tags but not manifests by digest
    token = shared.token("repository:team-a/app:delete", auth=ALICE)
    assert claims_of(token)["access"][0]["actions"] == ["tag-delete"]
    admin = shared.token("repository:team-a/app:*", auth=ADMIN)
    assert claims_of(admin)["access"][0]["actions"] == ["delete", "pull", "push", "tag-delete"]


def test_anonymous_token_for_a_public_project_carries_pull_only(shared: Registry) -> None:
    response = shared.get_token(
        "repository:pub/app:pull,push,delete",
        "repository:team-a/app:pull",
        "registry:catalog:*",
        offline_token="true",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body
    claims = claims_of(body["token"])
    assert claims["sub"] == "anonymous" and claims["kind"] == "anonymous"
    assert [a for a in claims["access"] if a["actions"]] == [
        {"type": "repository", "name": "pub/app", "actions": ["pull"]}
    ]
    token = bearer(body["token"])
    assert shared.client.get("/v2/pub/app/manifests/v1", headers=token).status_code == 200
    private = shared.client.get("/v2/team-a/app/manifests/v1", headers=token)
    assert_error(private, 401, "UNAUTHORIZED")
    assert 'scope="repository:team-a/app:pull"' in private.headers["www-authenticate"]


def test_token_for_another_service_is_not_issued(shared: Registry) -> None:
    response = shared.client.get(
        "/token", params={"service": "elsewhere", "scope": "repository:pub/app:pull"}
    )
    assert_error(response, 401, "UNAUTHORIZED")


def test_wrong_password_gets_no_token(registry: Registry) -> None:
    assert_error(registry.get_token(auth=("alice", "nope")), 401, "UNAUTHORIZED")
    assert_error(registry.get_token(auth=("nobody-here", "nope")), 401, "UNAUTHORIZED")


def test_bearer_token_works_for_its_repository_and_actions_only(shared: Registry) -> None:
    client = shared.client
    token = bearer(shared.token("repository:team-a/app:pull,push", auth=ALICE))
    assert client.get("/v2/team-a/app/manifests/v1", headers=token).status_code == 200
    layer = b"pushed with a token"
    upload = client.post(
        f"/v2/team-a/app/blobs/uploads/?digest={sha256(layer)}", content=layer, headers=token
    )
    assert upload.status_code == 201, upload.text

    # the same token on another repository: insufficient scope, and which scope is needed
    other = client.get("/v2/team-a/other/manifests/v1", headers=token)
    assert_error(other, 403, "DENIED")
    assert other.headers["www-authenticate"] == (
        f'Bearer realm="{REALM}",service="dockyard",'
        'scope="repository:team-a/other:pull",error="insufficient_scope"'
    )
    # an action the token does not carry, though alice may do it with a new token
    tag_delete = client.delete("/v2/team-a/app/manifests/v1", headers=token)
    assert_error(tag_delete, 403, "DENIED")
    assert 'scope="repository:team-a/app:delete"' in tag_delete.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in tag_delete.headers["www-authenticate"]
    # a pull-only token on a push: the challenge asks for pull,push (oras fetches it then)
    pull_only = bearer(shared.token("repository:team-a/app:pull", auth=ALICE))
    push = client.post("/v2/team-a/app/blobs/uploads/", headers=pull_only)
    assert_error(push, 403, "DENIED")
    assert 'scope="repository:team-a/app:pull,push"' in push.headers["www-authenticate"]


def test_catalog_with_a_token_needs_the_catalog_scope(shared: Registry) -> None:
    client = shared.client
    with_scope = bearer(shared.token("registry:catalog:*", auth=ALICE))
    listed = client.get("/v2/_catalog", headers=with_scope)
    assert listed.status_code == 200
    assert listed.json() == {"repositories": ["pub/app", "team-a/app", "team-a/other"]}
    bob = client.get("/v2/_catalog", headers=bearer(shared.token("registry:catalog:*", auth=BOB)))
    assert bob.json() == {"repositories": ["pub/app"]}
    without = client.get("/v2/_catalog", headers=bearer(shared.token(auth=ALICE)))
    assert_error(without, 403, "DENIED")


# -- attacks on tokens ---------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def private_key(record: SigningKeyRecord) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(record.material.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"


def forge(attack: str, genuine: str, key: SigningKeyRecord) -> str:
    """A token an attacker could make, aiming at push on team-a/other."""
    header, payload, signature = genuine.split(".")
    claims = claims_of(genuine) | {
        "access": [{"type": "repository", "name": "team-a/other", "actions": ["pull", "push"]}]
    }
    kid = {"kid": key.kid}
    real = private_key(key)
    now = int(time.time())
    if attack == "flipped-signature-byte":
        raw = bytearray(unb64(signature))
        raw[len(raw) // 2] ^= 0x80
        return f"{header}.{payload}.{b64(bytes(raw))}"
    if attack == "edited-payload":
        return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    if attack == "flipped-payload-byte":
        raw = bytearray(unb64(payload))
        index = raw.index(b"alice")
        raw[index] = ord("A")
        return f"{header}.{b64(bytes(raw))}.{signature}"
    if attack == "expired":
        expired = claims | {"iat": now - 2 * TTL, "nbf": now - 2 * TTL, "exp": now - TTL}
        return jwt.encode(expired, real, "ES256", headers=kid)
    if attack == "wrong-audience":
        return jwt.encode(claims | {"aud": "other"}, real, "ES256", headers=kid)
    if attack == "wrong-issuer":
        return jwt.encode(claims | {"iss": "evil"}, real, "ES256", headers=kid)
    if attack == "refresh-audience":
        return jwt.encode(claims | {"aud": "dockyard#refresh"}, real, "ES256", headers=kid)
    if attack == "alg-none":
        return unsigned({"alg": "none", "typ": "JWT", **kid}, claims) + "."
    if attack == "hs256-signed-with-the-public-key":
        public = real.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        text = unsigned({"alg": "HS256", "typ": "JWT", **kid}, claims)
        return f"{text}.{b64(hmac.new(public, text.encode(), hashlib.sha256).digest())}"
    if attack == "unknown-key-same-kid":
        stranger = ec.generate_private_key(ec.SECP256R1())
        return jwt.encode(claims, stranger, "ES256", headers=kid)
    if attack == "unknown-kid":
        return jwt.encode(claims, real, "ES256", headers={"kid": "0" * 32})
    assert attack == "not-a-jwt"
    return "Zm9v.YmFy.YmF6"


ATTACKS = [
    "flipped-signature-byte",
    "edited-payload",
    "flipped-payload-byte",
    "expired",
    "wrong-audience",
    "wrong-issuer",
    "refresh-audience",
    "alg-none",
    "hs256-signed-with-the-public-key",
    "unknown-key-same-kid",
    "unknown-kid",
    "not-a-jwt",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_forged_token_is_refused(shared: Registry, attack: str) -> None:
    client = shared.client
    genuine = shared.token("repository:team-a/app:pull", auth=ALICE)
    assert client.get("/v2/team-a/app/tags/list", headers=bearer(genuine)).status_code == 200
    forged = bearer(forge(attack, genuine, shared.signing_key()))
    for method, url in (
        ("GET", "/v2/team-a/other/tags/list"),
        ("GET", "/v2/team-a/app/tags/list"),
        ("POST", "/v2/team-a/other/blobs/uploads/"),
        ("GET", "/v2/"),
    ):
        assert_unauthorized_with_challenge(client.request(method, url, headers=forged))
    # nothing was uploaded on its strength
    assert client.get("/v2/_catalog", auth=ADMIN).json()["repositories"] == [
        "pub/app",
        "team-a/app",
        "team-a/other",
    ]


# -- refresh tokens and the OAuth2 form ----------------------------------------------------------


def post_token(registry: Registry, **form: str) -> httpx.Response:
    return registry.client.post("/token", data={"service": "dockyard", **form})


def test_password_grant(registry: Registry) -> None:
    response = post_token(
        registry,
        grant_type="password",
        username=ALICE[0],
        password=ALICE[1],
        scope="repository:team-a/app:pull repository:team-a/other:pull,push",
        client_id="containerd",
        access_type="offline",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert claims_of(body["access_token"])["access"] == [
        {"type": "repository", "name": "team-a/app", "actions": ["pull"]},
        {"type": "repository", "name": "team-a/other", "actions": ["pull", "push"]},
    ]
    assert body["refresh_token"]
    assert post_token(registry, grant_type="password", username="alice").status_code == 401
    wrong = post_token(registry, grant_type="password", username="alice", password="nope")
    assert_error(wrong, 401, "UNAUTHORIZED")
    assert post_token(registry, grant_type="client_credentials").status_code >= 400


def refresh(registry: Registry, token: str, scope: str) -> httpx.Response:
    return post_token(registry, grant_type="refresh_token", refresh_token=token, scope=scope)


def test_refresh_token_flow(registry: Registry) -> None:
    client = registry.client
    login = registry.get_token(auth=ALICE, offline_token="true", client_id="docker")
    assert login.status_code == 200
    refresh_token = login.json()["refresh_token"]
    refreshed = refresh(registry, refresh_token, "repository:team-a/app:pull")
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert "refresh_token" not in body
    access = body["access_token"]
    assert claims_of(access)["sub"] == "alice"
    assert client.get("/v2/team-a/app/manifests/v1", headers=bearer(access)).status_code == 200

    # neither kind of token stands in for the other
    assert_unauthorized_with_challenge(
        client.get("/v2/team-a/app/manifests/v1", headers=bearer(refresh_token))
    )
    assert_error(refresh(registry, access, "repository:team-a/app:pull"), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("change", ["password", "disabled"])
def test_refresh_token_dies_with_a_password_change_or_a_disabled_account(
    registry: Registry, change: str
) -> None:
    refresh_token = registry.get_token(auth=ALICE, offline_token="true").json()["refresh_token"]
    assert refresh(registry, refresh_token, "").status_code == 200

    async def update() -> None:
        if change == "password":
            new_hash = await HASHER.hash("alice-new-password")
            values: dict[str, Any] = {"password_hash": new_hash}
        else:
            values = {"disabled": True}
        async with registry.store.transaction() as tx:
            assert await tx.identities.update_user("alice", **values)

    registry.call(update)
    refused = refresh(registry, refresh_token, "repository:team-a/app:pull")
    assert_error(refused, 401, "UNAUTHORIZED")
    assert_error(registry.get_token(auth=ALICE), 401, "UNAUTHORIZED")


def test_robot_refresh_token_dies_when_the_robot_is_disabled(registry: Registry) -> None:
    robot = (ROBOT_NAME, registry.robot_secret)
    login = registry.get_token("repository:team-a/app:pull,push", auth=robot, offline_token="true")
    assert login.status_code == 200, login.text
    assert claims_of(login.json()["token"])["kind"] == "robot"
    refresh_token = login.json()["refresh_token"]
    assert refresh(registry, refresh_token, "repository:team-a/app:pull").status_code == 200

    async def disable() -> None:
        async with registry.store.transaction() as tx:
            await tx.access.update_robot(ROBOT_NAME, disabled=True)

    registry.call(disable)
    assert_error(refresh(registry, refresh_token, ""), 401, "UNAUTHORIZED")


def test_key_rotation(registry: Registry) -> None:
    client = registry.client
    old = registry.token("repository:team-a/app:pull", auth=ALICE)
    old_kid = jwt.get_unverified_header(old)["kid"]
    old_refresh = registry.get_token(auth=ALICE, offline_token="true").json()["refresh_token"]
    new_kid = registry.call(client.app.state.tokens.rotate)  # type: ignore[attr-defined]
    assert new_kid != old_kid
    new = registry.token("repository:team-a/app:pull", auth=ALICE)
    assert jwt.get_unverified_header(new)["kid"] == new_kid
    for token in (old, new):
        assert client.get("/v2/team-a/app/tags/list", headers=bearer(token)).status_code == 200
    assert refresh(registry, old_refresh, "repository:team-a/app:pull").status_code == 200


# -- lockout -------------------------------------------------------------------------------------


def test_lockout_per_user_then_per_address(registry: Registry, tmp_path: Path) -> None:
    client = registry.client
    for _ in range(4):
        assert_error(registry.get_token(auth=("alice", "guess")), 401, "UNAUTHORIZED")
    fifth = registry.get_token(auth=("alice", "guess"))
    assert_error(fifth, 429, "TOOMANYREQUESTS")
    assert 0 < int(fifth.headers["retry-after"]) <= 300

    # now even the right password is turned away, on /token and on /v2/
    for response in (registry.get_token(auth=ALICE), client.get("/v2/", auth=ALICE)):
        error = assert_error(response, 429, "TOOMANYREQUESTS")
        assert 0 < int(response.headers["retry-after"]) <= 300
        assert "this account" in error["message"]
    # another user from the same address is not affected...
    assert registry.get_token(auth=BOB).status_code == 200
    # ...until the address has failed 20 times (5 so far)
    for i in range(14):
        assert_error(registry.get_token(auth=(f"ghost{i}", "guess")), 401, "UNAUTHORIZED")
    assert registry.get_token(auth=BOB).status_code == 200
    assert_error(registry.get_token(auth=("ghost-last", "guess")), 429, "TOOMANYREQUESTS")
    locked = registry.get_token(auth=BOB)
    assert "your address" in assert_error(locked, 429, "TOOMANYREQUESTS")["message"]
    assert int(locked.headers["retry-after"]) > 0

    # a second replica on the same database: bob from another address is fine, alice is not
    with start(tmp_path, address="192.0.2.7") as replica:
        assert replica.get("/v2/", auth=BOB).status_code == 200
        assert_error(replica.get("/v2/", auth=ALICE), 429, "TOOMANYREQUESTS")

    outcomes = [r.outcome for r in registry.audit(action="login", actor="alice")]
    assert outcomes.count("failed") == 5
    assert "locked" in outcomes
    bob = registry.audit(actor="bob")
    assert {(r.action, r.outcome) for r in bob} >= {
        ("login", "ok"),
        ("token", "ok"),
        ("login", "locked"),
    }
    assert all(r.address == "testclient" for r in bob)


# -- the audit log -------------------------------------------------------------------------------


def test_pushes_deletes_and_denials_are_audited_with_the_actor(registry: Registry) -> None:
    client = registry.client
    client.auth = ALICE
    _, pushed = push_image(client, "team-a/app", "v2", seed="alice's")
    assert client.delete("/v2/team-a/app/manifests/v2").status_code == 202
    token = bearer(registry.token("repository:team-a/other:pull,push", auth=ALICE))
    client.auth = None  # type: ignore[assignment]
    config = b'{"by":"token"}'
    url = f"/v2/team-a/other/blobs/uploads/?digest={sha256(config)}"
    assert client.post(url, content=config, headers=token).status_code == 201
    body = image_manifest(config, [])
    headers = {**token, "Content-Type": OCI_MANIFEST}
    put = client.put("/v2/team-a/other/manifests/by-token", content=body, headers=headers)
    assert put.status_code == 201, put.text
    admin_delete = client.delete(f"/v2/team-a/app/manifests/{pushed}", auth=ADMIN)
    assert admin_delete.status_code == 202
    denied = put_manifest_as(client, GUS, "team-a/app", "gus", body)
    assert_error(denied, 403, "DENIED")

    by_alice = registry.audit(actor="alice")
    entries = {(r.action, r.target, r.outcome) for r in by_alice}
    assert ("push", f"team-a/app@{pushed}", "ok") in entries
    assert ("tag-delete", "team-a/app:v2", "ok") in entries
    assert ("push", f"team-a/other@{sha256(body)}", "ok") in entries
    assert all(r.actor_kind == "user" and r.address == "testclient" for r in by_alice)
    push = next(r for r in by_alice if r.target == f"team-a/app@{pushed}")
    assert push.detail is not None and push.detail["tag"] == "v2"
    assert [(r.target, r.outcome) for r in registry.audit(actor="admin", action="delete")] == [
        (f"team-a/app@{pushed}", "ok")
    ]
    [denial] = registry.audit(actor="gus")
    assert (denial.action, denial.target, denial.outcome) == ("access", "team-a/app", "denied")
    assert denial.detail == {"action": "push"}


def put_manifest_as(
    client: TestClient, auth: tuple[str, str], repo: str, tag: str, body: bytes
) -> httpx.Response:
    headers = {"Content-Type": OCI_MANIFEST}
    return client.put(f"/v2/{repo}/manifests/{tag}", content=body, headers=headers, auth=auth)


def test_no_secret_reaches_the_logs_or_the_audit_log(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = registry.client
    wrong = "wrong-but-close-alice-password-1"
    secrets = [ALICE[1], wrong, registry.robot_secret]
    assert registry.get_token(auth=("alice", wrong)).status_code == 401
    login = registry.get_token("repository:team-a/app:pull,push", auth=ALICE, offline_token="true")
    token, refresh_token = login.json()["token"], login.json()["refresh_token"]
    secrets += [token, refresh_token]
    headers = bearer(token)
    config = b'{"logged":"nothing"}'
    url = f"/v2/team-a/app/blobs/uploads/?digest={sha256(config)}"
    assert client.post(url, content=config, headers=headers).status_code == 201
    body = image_manifest(config, [])
    put = client.put(
        "/v2/team-a/app/manifests/quiet",
        content=body,
        headers={**headers, "Content-Type": OCI_MANIFEST},
    )
    assert put.status_code == 201
    refreshed = refresh(registry, refresh_token, "repository:team-a/app:pull")
    secrets.append(refreshed.json()["access_token"])
    robot = registry.get_token(
        "repository:team-a/app:pull", auth=(ROBOT_NAME, registry.robot_secret)
    )
    secrets.append(robot.json()["token"])
    assert client.get("/v2/team-a/app/tags/list", auth=ALICE).status_code == 200

    assert caplog.records, "the flow logged nothing at all: is logging captured?"
    logged = caplog.text + "".join(repr(r.args) + repr(r.__dict__) for r in caplog.records)
    audited = repr(registry.audit(limit=1000))
    for secret in secrets:
        assert secret not in logged
        assert secret not in audited
    # the signature alone would be enough to replay nothing, but neither it nor the claims leak
    assert token.split(".")[2] not in logged


# -- personal access tokens and revocation of refresh tokens ------------------------------------


def add_access_token(registry: Registry, username: str, expires_at: float | None = None) -> str:
    async def add() -> str:
        token_id, secret, whole = new_access_token()
        async with registry.store.transaction() as tx:
            user = await tx.identities.user(username)
            assert user is not None
            record = AccessTokenRecord(
                token_id, user.id, "laptop", time.time(), digest(secret), expires_at
            )
            await tx.identities.add_token(record)
        return whole

    return str(registry.call(add))


def test_personal_access_token_is_a_password(registry: Registry) -> None:
    client = registry.client
    pat = add_access_token(registry, "alice")
    assert client.get("/v2/team-a/app/tags/list", auth=("alice", pat)).status_code == 200
    token = registry.token("repository:team-a/app:pull", auth=("alice", pat))
    assert claims_of(token)["sub"] == "alice"
    # only for its own user, and not once expired
    assert_error(client.get("/v2/", auth=("bob", pat)), 401, "UNAUTHORIZED")
    expired = add_access_token(registry, "alice", expires_at=time.time() - 1)
    assert_error(client.get("/v2/", auth=("alice", expired)), 401, "UNAUTHORIZED")
    assert_error(client.get("/v2/", auth=("alice", pat[:-1] + "x")), 401, "UNAUTHORIZED")


def test_refresh_token_dies_when_the_robot_secret_is_rotated(registry: Registry) -> None:
    robot = (ROBOT_NAME, registry.robot_secret)
    refresh_token = registry.get_token(auth=robot, offline_token="true").json()["refresh_token"]

    async def rotate() -> None:
        async with registry.store.transaction() as tx:
            await tx.access.update_robot(ROBOT_NAME, secret_hash=digest(new_secret()))

    registry.call(rotate)
    assert_error(registry.get_token(auth=robot), 401, "UNAUTHORIZED")
    assert_error(refresh(registry, refresh_token, ""), 401, "UNAUTHORIZED")


def test_refresh_token_dies_when_the_personal_access_token_is_deleted(registry: Registry) -> None:
    pat = add_access_token(registry, "bob")
    login = registry.get_token(auth=("bob", pat), offline_token="true")
    refresh_token = login.json()["refresh_token"]

    async def revoke() -> None:
        async with registry.store.transaction() as tx:
            user = await tx.identities.user("bob")
            assert user is not None
            for token in await tx.identities.tokens_of(user.id):
                await tx.identities.delete_token(user.id, token.id)

    registry.call(revoke)
    assert_error(registry.get_token(auth=("bob", pat)), 401, "UNAUTHORIZED")
    assert_error(refresh(registry, refresh_token, ""), 401, "UNAUTHORIZED")


def test_refresh_token_of_a_deleted_user_does_not_open_a_new_namesake(registry: Registry) -> None:
    refresh_token = registry.get_token(auth=ALICE, offline_token="true").json()["refresh_token"]

    async def recreate() -> None:
        password_hash = await HASHER.hash("the-new-alice")
        async with registry.store.transaction() as tx:
            assert await tx.identities.delete_user("alice")
            await tx.identities.add_user(NewUser("alice", password_hash=password_hash))

    registry.call(recreate)
    assert_error(refresh(registry, refresh_token, ""), 401, "UNAUTHORIZED")


def test_a_push_token_for_a_missing_project_creates_it_for_its_holder(tmp_path: Path) -> None:
    # Created when the token is minted, not at the first push: otherwise someone else could
    # create the project meanwhile, and the token would pull and push in theirs.
    settings = Settings(data_dir=tmp_path, auth={"users_can_create_projects": True})
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        assert client.portal is not None
        store = client.app.state.registry.store  # type: ignore[attr-defined]
        client.portal.call(seed, store)

        def get(scope: str) -> str:
            query = {"service": "dockyard", "scope": scope}
            return str(client.get("/token", params=query, auth=BOB).json()["token"])

        pull_only = get("repository:looking/app:pull")
        assert [a["actions"] for a in claims_of(pull_only)["access"]] == [["pull"]]
        early = get("repository:newproj/app:pull,push")
        assert claims_of(early)["access"][0]["actions"] == ["pull", "push"]

        async def projects() -> dict[str, Any]:
            async with store.transaction(readonly=True) as tx:
                return {
                    name: (await tx.access.project(name), await tx.access.grants(name))
                    for name in ("looking", "newproj")
                }

        found = client.portal.call(projects)
        assert found["looking"][0] is None  # asking to pull creates nothing
        project, grants = found["newproj"]
        assert project is not None and not project.public and project.created_by == "bob"
        assert [(g.subject, g.role) for g in grants] == [("bob", "project-admin")]

        # alice comes second: the project is bob's
        assert_error(client.post("/v2/newproj/app/blobs/uploads/", auth=ALICE), 403, "DENIED")
        client.headers["Authorization"] = f"Bearer {early}"
        push_image(client, "newproj/app", "v1")
        assert client.get("/v2/newproj/app/manifests/v1").status_code == 200
