"""Who may do what on the /v2/ API: every principal, action and repository, over real HTTP.

The facts (users, groups, grants, roles, robots, projects) are seeded straight into the metadata
store, since no management API exists yet. The expected table is written out below from the role
table in docs/auth/README.md; it is not computed from the code under test.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.auth.passwords import Passwords
from dockyard.auth.secrets import digest, new_secret
from dockyard.meta.auth_records import (
    NewUser,
    ProjectRecord,
    RobotPermission,
    RobotRecord,
    RoleRecord,
)
from dockyard.meta.base import MetadataStore
from dockyard.settings import Settings
from tests.api.helpers import (
    OCI_MANIFEST,
    assert_error,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
    sha256,
    with_query,
)
from tests.conftest import ADMIN

BASE_URL = "http://registry.test"
REALM = f"{BASE_URL}/token"
# The matrix logs in with expired and disabled robots hundreds of times from one address; it is
# about access, not about throttling (tests/api/test_token_auth.py covers that).
NO_LOCKOUT = {"max_failed_logins_per_user": 100_000, "max_failed_logins_per_address": 100_000}
HASHER = Passwords(time_cost=1, memory_kib=8192, parallelism=1)

PRIVATE, PRIVATE_CI, PUBLIC, SECRET = "team-a/app", "team-a/ci-app", "pub/app", "secret/app"
TARGETS = (PRIVATE, PRIVATE_CI, PUBLIC)
ACTIONS = ("pull", "push", "delete", "tag-delete")

ALL = "pull push delete tag-delete"
DEV = "pull push tag-delete"
BAD_LOGIN = "bad login"  # the credentials are refused: 401 whatever the action

# fmt: off
EXPECTED: dict[str, tuple[str, str, str] | str] = {
    # principal              team-a/app (private)  team-a/ci-app (private)  pub/app (public)
    "anonymous":            ("",                   "",                      "pull"),
    "system-admin":         (ALL,                  ALL,                     ALL),
    "no-grant":             ("",                   "",                      "pull"),
    "project-admin":        (ALL,                  ALL,                     ALL),
    "maintainer":           (ALL,                  ALL,                     ALL),
    "developer":            (DEV,                  DEV,                     DEV),
    "guest":                ("pull",               "pull",                  "pull"),
    "limited-guest":        ("pull",               "pull",                  "pull"),
    "developer-via-group":  (DEV,                  DEV,                     "pull"),
    "custom-ci-pusher":     ("pull push",          "pull push",             "pull"),
    "developer-on-ci-*":    ("",                   DEV,                     "pull"),
    "project-robot":        ("pull push",          "pull push",             "pull"),
    "system-robot":         ("pull",               "pull",                  "pull push delete"),
    "expired-robot":        BAD_LOGIN,
    "disabled-robot":       BAD_LOGIN,
}
# fmt: on

# The repositories each principal finds in the catalog (pull on them, public or granted).
CATALOG = {
    "system-admin": {PRIVATE, PRIVATE_CI, PUBLIC, SECRET},
    "no-grant": {PUBLIC},
    "developer": {PRIVATE, PRIVATE_CI, PUBLIC},
    "limited-guest": {PRIVATE, PRIVATE_CI, PUBLIC},
    "developer-on-ci-*": {PRIVATE_CI, PUBLIC},
    "project-robot": {PRIVATE, PRIVATE_CI, PUBLIC},
    "system-robot": {PRIVATE, PRIVATE_CI, PUBLIC, SECRET},
}

BUILTIN = ("project-admin", "maintainer", "developer", "guest", "limited-guest")


Credentials = dict[str, tuple[str, str] | None]  # principal → basic auth (None: anonymous)
Permissions = list[tuple[str, tuple[str, ...]]]


async def seed(store: MetadataStore) -> Credentials:
    """The projects, people and robots of the matrix, written as the management API would."""
    creds: Credentials = {"anonymous": None, "system-admin": ADMIN}
    now = time.time()

    async def user(label: str, name: str, groups: tuple[str, ...] = ()) -> None:
        password = f"{name}-password"
        password_hash = await HASHER.hash(password)
        async with store.transaction() as tx:
            record = await tx.identities.add_user(NewUser(name, password_hash=password_hash))
            for group in groups:
                await tx.identities.add_group(group, None)
                await tx.identities.add_member(group, record.id)
        creds[label] = (name, password)

    async def robot(
        label: str,
        name: str,
        project: str | None,
        permissions: Permissions,
        expires_at: float | None = None,
        disabled: bool = False,
    ) -> None:
        secret = new_secret()
        record = RobotRecord(
            name,
            project,
            tuple(RobotPermission(pattern, actions) for pattern, actions in permissions),
            disabled=disabled,
            created_at=now,
            secret_hash=digest(secret),
            expires_at=expires_at,
        )
        async with store.transaction() as tx:
            await tx.access.add_robot(record)
        creds[label] = (name, secret)

    async with store.transaction() as tx:
        for name, public in (("team-a", False), ("pub", True), ("secret", False)):
            await tx.access.add_project(ProjectRecord(name, public, now, "admin"))
        await tx.access.add_role(RoleRecord("ci-pusher", ("pull", "push"), "CI: no deletes"))
        for role in BUILTIN:
            for project in ("team-a", "pub"):
                await tx.access.add_grant(project, "user", role, role, "*")
        await tx.access.add_grant("team-a", "group", "devs", "developer", "*")
        await tx.access.add_grant("team-a", "user", "cici", "ci-pusher", "*")
        await tx.access.add_grant("team-a", "user", "scoped", "developer", "team-a/ci-*")
    for role in BUILTIN:
        await user(role, role)
    await user("no-grant", "nobody")
    await user("developer-via-group", "grace", groups=("devs",))
    await user("custom-ci-pusher", "cici")
    await user("developer-on-ci-*", "scoped")
    everything: Permissions = [("team-a/*", ACTIONS)]
    await robot(
        "project-robot", "robot$team-a+ci", "team-a", permissions=[("team-a/*", ("pull", "push"))]
    )
    await robot(
        "system-robot",
        "robot$sys",
        None,
        permissions=[("*", ("pull",)), ("pub/*", ("push", "delete"))],
    )
    await robot(
        "expired-robot", "robot$team-a+old", "team-a", permissions=everything, expires_at=now - 60
    )
    await robot(
        "disabled-robot", "robot$team-a+off", "team-a", permissions=everything, disabled=True
    )
    return creds


@dataclass
class Image:
    config: bytes
    layer: bytes
    manifest: bytes


@dataclass
class Matrix:
    client: TestClient
    credentials: Credentials
    images: dict[str, Image]

    def as_(self, who: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, url, auth=self.credentials[who], **kwargs)

    def admin(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, url, auth=ADMIN, **kwargs)


def admin_push(client: TestClient, repo: str, seed_text: str) -> Image:
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed_text}).encode()
    layer = f"layer of {seed_text}".encode() * 10
    push_blob(client, repo, config)
    push_blob(client, repo, layer)
    body = image_manifest(config, [layer])
    assert put_manifest(client, repo, "v1", body, OCI_MANIFEST).status_code == 201
    return Image(config, layer, body)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("matrix"), auth=NO_LOCKOUT)
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        assert client.portal is not None
        credentials = client.portal.call(seed, client.app.state.registry.store)  # type: ignore[attr-defined]
        client.auth = ADMIN
        images = {repo: admin_push(client, repo, repo) for repo in (*TARGETS, SECRET)}
        client.auth = None  # type: ignore[assignment]
        yield Matrix(client, credentials, images)


# -- the cells ----------------------------------------------------------------------------------

SCOPE = {"pull": "pull", "push": "pull,push", "delete": "delete", "tag-delete": "delete"}


def expect_denied(response: httpx.Response, who: str, repo: str, action: str) -> None:
    """Anonymous: 401 and a Bearer challenge for the scope needed; refused credentials: 401;
    anyone else: 403 DENIED."""
    outcome = EXPECTED[who]
    if outcome == BAD_LOGIN:
        assert_error(response, 401, "UNAUTHORIZED")
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith(f'Bearer realm="{REALM}",service="dockyard"'), challenge
    elif who == "anonymous":
        assert_error(response, 401, "UNAUTHORIZED")
        assert response.headers["www-authenticate"] == (
            f'Bearer realm="{REALM}",service="dockyard",scope="repository:{repo}:{SCOPE[action]}"'
        )
    else:
        assert_error(response, 403, "DENIED")


def allowed(who: str, repo: str) -> set[str]:
    outcome = EXPECTED[who]
    if outcome == BAD_LOGIN:
        return set()
    assert isinstance(outcome, tuple)
    return set(outcome[TARGETS.index(repo)].split())


def check_pull(m: Matrix, who: str, repo: str, may: bool) -> None:
    image = m.images[repo]
    responses = [
        m.as_(who, "GET", f"/v2/{repo}/manifests/v1"),
        m.as_(who, "HEAD", f"/v2/{repo}/manifests/{sha256(image.manifest)}"),
        m.as_(who, "GET", f"/v2/{repo}/blobs/{sha256(image.layer)}"),
        m.as_(who, "GET", f"/v2/{repo}/tags/list"),
    ]
    if not may:
        for response in responses:
            expect_denied(response, who, repo, "pull")
        return
    manifest, head, blob, tags = responses
    assert manifest.status_code == 200 and manifest.content == image.manifest
    assert head.status_code == 200
    assert blob.status_code == 200 and blob.content == image.layer
    assert tags.status_code == 200 and "v1" in tags.json()["tags"]


def check_push(m: Matrix, who: str, repo: str, may: bool) -> None:
    tag = f"pushed-{uuid.uuid4().hex[:12]}"
    layer = f"{who} pushed {tag}".encode()
    start = m.as_(who, "POST", f"/v2/{repo}/blobs/uploads/")
    image = m.images[repo]
    if may:
        assert start.status_code == 202, start.text
        done = m.as_(
            who, "PUT", with_query(start.headers["location"], digest=sha256(layer)), content=layer
        )
        assert done.status_code == 201, done.text
        body = image_manifest(image.config, [layer])
    else:
        expect_denied(start, who, repo, "push")
        body = image_manifest(image.config, [image.layer], annotations={"tag": tag})
    headers = {"Content-Type": OCI_MANIFEST}
    put = m.as_(who, "PUT", f"/v2/{repo}/manifests/{tag}", content=body, headers=headers)
    after = m.admin("GET", f"/v2/{repo}/manifests/{tag}")
    if may:
        assert put.status_code == 201, put.text
        assert after.status_code == 200 and after.content == body
    else:
        expect_denied(put, who, repo, "push")
        assert_error(after, 404, "MANIFEST_UNKNOWN")


def admin_push_extra(m: Matrix, repo: str, tag: str) -> tuple[str, str]:
    """A manifest only this cell uses (and a blob only it uses); returns their digests."""
    image = m.images[repo]
    extra = f"extra blob {tag}".encode()
    assert (
        m.admin(
            "POST", f"/v2/{repo}/blobs/uploads/?digest={sha256(extra)}", content=extra
        ).status_code
        == 201
    )
    body = image_manifest(image.config, [image.layer], annotations={"cell": tag})
    headers = {"Content-Type": OCI_MANIFEST}
    put = m.admin("PUT", f"/v2/{repo}/manifests/{tag}", content=body, headers=headers)
    assert put.status_code == 201, put.text
    return sha256(body), sha256(extra)


def check_delete(m: Matrix, who: str, repo: str, may: bool) -> None:
    tag = f"del-{uuid.uuid4().hex[:12]}"
    manifest, blob = admin_push_extra(m, repo, tag)
    deleted = m.as_(who, "DELETE", f"/v2/{repo}/manifests/{manifest}")
    blob_deleted = m.as_(who, "DELETE", f"/v2/{repo}/blobs/{blob}")
    manifest_after = m.admin("GET", f"/v2/{repo}/manifests/{manifest}")
    blob_after = m.admin("GET", f"/v2/{repo}/blobs/{blob}")
    if may:
        assert deleted.status_code == 202, deleted.text
        assert blob_deleted.status_code == 202, blob_deleted.text
        assert_error(manifest_after, 404, "MANIFEST_UNKNOWN")
        assert_error(blob_after, 404, "BLOB_UNKNOWN")
    else:
        expect_denied(deleted, who, repo, "delete")
        expect_denied(blob_deleted, who, repo, "delete")
        assert manifest_after.status_code == 200
        assert blob_after.status_code == 200


def check_tag_delete(m: Matrix, who: str, repo: str, may: bool) -> None:
    tag = f"tag-{uuid.uuid4().hex[:12]}"
    manifest, _ = admin_push_extra(m, repo, tag)
    deleted = m.as_(who, "DELETE", f"/v2/{repo}/manifests/{tag}")
    tag_after = m.admin("GET", f"/v2/{repo}/manifests/{tag}")
    assert m.admin("GET", f"/v2/{repo}/manifests/{manifest}").status_code == 200
    if may:
        assert deleted.status_code == 202, deleted.text
        assert_error(tag_after, 404, "MANIFEST_UNKNOWN")
    else:
        expect_denied(deleted, who, repo, "tag-delete")
        assert tag_after.status_code == 200


CHECKS = {
    "pull": check_pull,
    "push": check_push,
    "delete": check_delete,
    "tag-delete": check_tag_delete,
}
CELLS = [
    pytest.param(who, action, repo, id=f"{who}:{action}:{repo}")
    for who in EXPECTED
    for repo in TARGETS
    for action in ACTIONS
]


@pytest.mark.parametrize(("who", "action", "repo"), CELLS)
def test_matrix(matrix: Matrix, who: str, action: str, repo: str) -> None:
    CHECKS[action](matrix, who, repo, action in allowed(who, repo))


def test_every_principal_and_target_has_an_expectation() -> None:
    for who, outcome in EXPECTED.items():
        if outcome != BAD_LOGIN:
            for repo in TARGETS:
                assert allowed(who, repo) <= set(ACTIONS), who


# -- projects that do not exist -----------------------------------------------------------------


def project(client: TestClient, name: str) -> ProjectRecord | None:
    async def read() -> ProjectRecord | None:
        async with client.app.state.registry.store.transaction(readonly=True) as tx:  # type: ignore[attr-defined]
            return await tx.access.project(name)

    assert client.portal is not None
    return client.portal.call(read)


def test_admin_push_creates_a_missing_project_private(matrix: Matrix) -> None:
    client = matrix.client
    client.auth = ADMIN
    try:
        push_image(client, "fresh/app", "v1")
    finally:
        client.auth = None  # type: ignore[assignment]
    created = project(client, "fresh")
    assert created is not None and not created.public and created.created_by == "admin"
    expect_denied(
        matrix.as_("anonymous", "GET", "/v2/fresh/app/tags/list"), "anonymous", "fresh/app", "pull"
    )
    assert_error(matrix.as_("developer", "GET", "/v2/fresh/app/tags/list"), 403, "DENIED")


@pytest.mark.parametrize("who", ["no-grant", "developer", "project-robot"])
def test_others_may_not_push_into_a_missing_project(matrix: Matrix, who: str) -> None:
    response = matrix.as_(who, "POST", "/v2/brand-new/app/blobs/uploads/")
    error = assert_error(response, 403, "DENIED")
    if who != "project-robot":
        assert "'brand-new' does not exist" in error["message"]
        assert "administrator must create it first" in error["message"]
    put = matrix.as_(
        who,
        "PUT",
        "/v2/brand-new/app/manifests/v1",
        content=matrix.images[PRIVATE].manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert_error(put, 403, "DENIED")
    assert project(matrix.client, "brand-new") is None
    expect_denied(
        matrix.as_("anonymous", "POST", "/v2/brand-new/app/blobs/uploads/"),
        "anonymous",
        "brand-new/app",
        "push",
    )


def test_users_may_create_projects_when_configured(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("create"), auth={"users_can_create_projects": True}
    )
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        assert client.portal is not None
        store = client.app.state.registry.store  # type: ignore[attr-defined]
        client.portal.call(_add_users, store, ("maker", "other"))
        client.auth = ("maker", "maker-password")
        _, manifest = push_image(client, "mine/app", "v1")
        created = project(client, "mine")
        assert created is not None and not created.public and created.created_by == "maker"
        grants = client.portal.call(_grants, store, "mine")
        assert [(g.subject_kind, g.subject, g.role, g.repositories) for g in grants] == [
            ("user", "maker", "project-admin", "*")
        ]
        # the creator is its project admin: they may delete; others see nothing
        assert client.delete(f"/v2/mine/app/manifests/{manifest}").status_code == 202
        other = client.get("/v2/mine/app/tags/list", auth=("other", "other-password"))
        assert_error(other, 403, "DENIED")
        anonymous = client.get("/v2/mine/app/tags/list", auth=None)
        assert_error(anonymous, 401, "UNAUTHORIZED")
        # and the project now exists, so `other` cannot push into it either
        push = client.post("/v2/mine/app/blobs/uploads/", auth=("other", "other-password"))
        assert_error(push, 403, "DENIED")


async def _add_users(store: MetadataStore, names: tuple[str, ...]) -> None:
    for name in names:
        password_hash = await HASHER.hash(f"{name}-password")
        async with store.transaction() as tx:
            await tx.identities.add_user(NewUser(name, password_hash=password_hash))


async def _grants(store: MetadataStore, name: str) -> list:
    async with store.transaction(readonly=True) as tx:
        return await tx.access.grants(name)


# -- catalog ------------------------------------------------------------------------------------


def catalog_pages(m: Matrix, who: str, n: int | None) -> list[list[str]]:
    url: str | None = "/v2/_catalog" + (f"?n={n}" if n else "")
    pages = []
    while url is not None:
        response = m.as_(who, "GET", url)
        assert response.status_code == 200, response.text
        pages.append(response.json()["repositories"])
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else None
        assert len(pages) < 20
    return pages


@pytest.mark.parametrize("who", list(CATALOG))
def test_catalog_lists_what_the_principal_may_pull(matrix: Matrix, who: str) -> None:
    listed = catalog_pages(matrix, who, None)[0]
    if who in ("system-admin", "system-robot"):
        # they see everything, including what other tests in this module created
        assert set(listed) >= CATALOG[who]
        assert listed == catalog_pages(matrix, "system-admin", None)[0]
    else:
        assert set(listed) == CATALOG[who]
    assert listed == sorted(listed)
    # paging one name at a time finds the same names and no others
    paged = catalog_pages(matrix, who, 1)
    assert [name for page in paged for name in page] == listed
    assert all(len(page) <= 1 for page in paged)


def test_catalog_requires_login(matrix: Matrix) -> None:
    response = matrix.as_("anonymous", "GET", "/v2/_catalog")
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"].startswith(f'Bearer realm="{REALM}"')
    assert_error(matrix.as_("expired-robot", "GET", "/v2/_catalog"), 401, "UNAUTHORIZED")


# -- no data crosses projects -------------------------------------------------------------------


def test_mount_from_a_repository_the_pusher_may_not_pull_uploads_instead(matrix: Matrix) -> None:
    secret_layer = sha256(matrix.images[SECRET].layer)
    mount = matrix.as_(
        "developer", "POST", f"/v2/{PRIVATE}/blobs/uploads/?mount={secret_layer}&from={SECRET}"
    )
    assert mount.status_code == 202, mount.text  # a plain upload session, nothing mounted
    assert "location" in mount.headers
    assert_error(
        matrix.as_("developer", "GET", f"/v2/{PRIVATE}/blobs/{secret_layer}"), 404, "BLOB_UNKNOWN"
    )
    assert_error(matrix.admin("GET", f"/v2/{PRIVATE}/blobs/{secret_layer}"), 404, "BLOB_UNKNOWN")
    # nor can a manifest claim the blob without its bytes being pushed
    body = image_manifest(matrix.images[PRIVATE].config, [matrix.images[SECRET].layer])
    headers = {"Content-Type": OCI_MANIFEST}
    put = matrix.as_(
        "developer", "PUT", f"/v2/{PRIVATE}/manifests/stolen", content=body, headers=headers
    )
    assert_error(put, 404, "MANIFEST_BLOB_UNKNOWN")


def test_mount_from_a_repository_the_pusher_may_pull_mounts(matrix: Matrix) -> None:
    public_layer = matrix.images[PUBLIC].layer
    url = f"/v2/{PRIVATE_CI}/blobs/uploads/?mount={sha256(public_layer)}&from={PUBLIC}"
    mount = matrix.as_("developer-on-ci-*", "POST", url)
    assert mount.status_code == 201, mount.text
    blob = matrix.as_("developer-on-ci-*", "GET", f"/v2/{PRIVATE_CI}/blobs/{sha256(public_layer)}")
    assert blob.content == public_layer


def test_a_blob_is_only_readable_through_a_repository_that_holds_it(matrix: Matrix) -> None:
    secret_layer = sha256(matrix.images[SECRET].layer)
    for who in ("anonymous", "no-grant", "developer"):
        response = matrix.as_(who, "GET", f"/v2/{PUBLIC}/blobs/{secret_layer}")
        assert_error(response, 404, "BLOB_UNKNOWN")


def test_upload_sessions_are_guarded_by_their_repository(matrix: Matrix) -> None:
    start = matrix.as_("developer", "POST", f"/v2/{PRIVATE}/blobs/uploads/")
    assert start.status_code == 202
    location = start.headers["location"]
    for who in ("guest", "no-grant"):
        assert_error(matrix.as_(who, "GET", location), 403, "DENIED")
        assert_error(matrix.as_(who, "PATCH", location, content=b"x"), 403, "DENIED")
        assert_error(matrix.as_(who, "DELETE", location), 403, "DENIED")
    expect_denied(
        matrix.as_("anonymous", "PATCH", location, content=b"x"), "anonymous", PRIVATE, "push"
    )
    # the session id is not a key to another repository the pusher may write to
    upload_id = location.split("?")[0].rsplit("/", 1)[1]
    elsewhere = matrix.as_(
        "maintainer", "PATCH", f"/v2/{PUBLIC}/blobs/uploads/{upload_id}", content=b"x"
    )
    assert_error(elsewhere, 404, "BLOB_UPLOAD_UNKNOWN")
    assert matrix.as_("developer", "GET", location).status_code == 204


# -- a smoke subset in every deployment shape ---------------------------------------------------


def test_access_in_every_shape(settings: Settings) -> None:
    settings = settings.model_copy(update={"auth": settings.auth.model_copy(update=NO_LOCKOUT)})
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        assert client.portal is not None
        store = client.app.state.registry.store  # type: ignore[attr-defined]
        client.portal.call(_smoke_seed, store)
        client.auth = ADMIN
        _, private = push_image(client, PRIVATE, "v1")
        push_image(client, PUBLIC, "v1")
        client.auth = None  # type: ignore[assignment]
        dev, nobody = ("dev", "dev-password"), ("nobody", "nobody-password")

        assert client.get(f"/v2/{PRIVATE}/manifests/v1", auth=dev).status_code == 200
        assert client.get(f"/v2/{PUBLIC}/manifests/v1").status_code == 200
        anonymous = client.get(f"/v2/{PRIVATE}/manifests/v1")
        assert_error(anonymous, 401, "UNAUTHORIZED")
        assert f'scope="repository:{PRIVATE}:pull"' in anonymous.headers["www-authenticate"]
        assert_error(client.get(f"/v2/{PRIVATE}/manifests/v1", auth=nobody), 403, "DENIED")
        assert_error(client.post(f"/v2/{PUBLIC}/blobs/uploads/", auth=nobody), 403, "DENIED")
        assert client.post(f"/v2/{PRIVATE}/blobs/uploads/", auth=dev).status_code == 202
        denied = client.delete(f"/v2/{PRIVATE}/manifests/{private}", auth=dev)
        assert_error(denied, 403, "DENIED")
        assert client.delete(f"/v2/{PRIVATE}/manifests/v1", auth=dev).status_code == 202
        assert client.get("/v2/_catalog", auth=nobody).json() == {"repositories": [PUBLIC]}
        # registry tokens, signed with the keys this shape's database keeps
        query = {"service": "dockyard", "scope": f"repository:{PRIVATE}:pull"}
        token = client.get("/token", params=query, auth=dev).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get(f"/v2/{PRIVATE}/tags/list", headers=headers).status_code == 200
        assert_error(client.post(f"/v2/{PRIVATE}/blobs/uploads/", headers=headers), 403, "DENIED")


async def _smoke_seed(store: MetadataStore) -> None:
    async with store.transaction() as tx:
        await tx.access.add_project(ProjectRecord("team-a", False, time.time()))
        await tx.access.add_project(ProjectRecord("pub", True, time.time()))
        await tx.access.add_grant("team-a", "user", "dev", "developer", "*")
    await _add_users(store, ("dev", "nobody"))


def test_members_of_admin_groups_are_system_admins(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("admin-groups"),
        auth={"admin_groups": ["registry-admins"], "realm": "https://auth.example.org/token"},
    )
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        assert client.portal is not None
        store = client.app.state.registry.store  # type: ignore[attr-defined]

        async def seed_people() -> None:
            await _add_users(store, ("olga", "pete"))
            async with store.transaction() as tx:
                await tx.identities.add_group("registry-admins", None)
                olga = await tx.identities.user("olga")
                assert olga is not None
                await tx.identities.add_member("registry-admins", olga.id)

        client.portal.call(seed_people)
        olga, pete = ("olga", "olga-password"), ("pete", "pete-password")
        client.auth = ADMIN
        _, manifest = push_image(client, PRIVATE, "v1")
        client.auth = None  # type: ignore[assignment]
        assert client.get(f"/v2/{PRIVATE}/manifests/v1", auth=olga).status_code == 200
        assert client.delete(f"/v2/{PRIVATE}/manifests/{manifest}", auth=olga).status_code == 202
        assert client.get("/v2/_catalog", auth=olga).json() == {"repositories": [PRIVATE]}
        assert_error(client.get(f"/v2/{PRIVATE}/tags/list", auth=pete), 403, "DENIED")
        anonymous = client.get(f"/v2/{PRIVATE}/tags/list")
        assert anonymous.headers["www-authenticate"].startswith(
            'Bearer realm="https://auth.example.org/token",service="dockyard"'
        )
