"""Real clients against access control (docs/auth/README.md) on a real `dockyard serve`.

skopeo and oras follow the Bearer challenge to /token with the credentials they were given and
use the token on /v2/. Who may do what is set up before the server starts, in its SQLite
database (there is no management API yet): a public project, a private one with a developer, a
user with no grants there, and a robot account of the private project.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import oras.provider
import pytest
import requests

from dockyard.auth.passwords import Passwords
from dockyard.auth.secrets import digest as secret_digest
from dockyard.meta.auth_records import NewUser, ProjectRecord, RobotPermission, RobotRecord
from dockyard.meta.sql import SqlMetadataStore
from tests.conftest import ADMIN
from tests.e2e.conftest import DockyardServer, Servers, Skopeo
from tests.e2e.images import OCI_MANIFEST, Image, Layout, simple_image

PUBLIC = "public-proj"
PRIVATE = "team"
DEV = ("dev", "dev-password")
OUTSIDER = ("outsider", "outsider-password")
ROBOT = ("robot$team+ci", "a-robot-secret-the-test-knows")
FILE_TYPE = "application/vnd.dockyard.test.file.v1"
CONFIG_TYPE = "application/vnd.dockyard.test.config.v1+json"


def _creds(credentials: tuple[str, str]) -> str:
    return ":".join(credentials)


async def _seed(database: Path) -> None:
    """The identities and projects of the tests, written before the server first starts (so it
    bootstraps nobody: `admin` is seeded here, with the password every e2e server expects)."""
    passwords = Passwords(time_cost=1, memory_kib=8192, parallelism=1)
    store = SqlMetadataStore(f"sqlite+aiosqlite:///{database}")
    await store.open(auto_upgrade=True)
    try:
        async with store.transaction() as tx:
            for (name, password), admin in [(ADMIN, True), (DEV, False), (OUTSIDER, False)]:
                password_hash = await passwords.hash(password)
                await tx.identities.add_user(
                    NewUser(name, password_hash=password_hash, is_admin=admin)
                )
            now = time.time()
            await tx.access.add_project(ProjectRecord(PUBLIC, True, now, "admin"))
            await tx.access.add_project(ProjectRecord(PRIVATE, False, now, "admin"))
            await tx.access.add_grant(PRIVATE, "user", DEV[0], "developer", "*")
            await tx.access.add_robot(
                RobotRecord(
                    name=ROBOT[0],
                    project=PRIVATE,
                    permissions=(RobotPermission(f"{PRIVATE}/*", ("pull", "push")),),
                    disabled=False,
                    created_at=now,
                    secret_hash=secret_digest(ROBOT[1]),
                    created_by="admin",
                )
            )
    finally:
        await store.close()


@pytest.fixture
def registry(servers: Servers, tmp_path: Path) -> DockyardServer:
    """An embedded registry (filesystem + SQLite) started on a pre-seeded database."""
    data_dir = tmp_path / "auth-data"  # the data dir `servers.start("auth")` gives the server
    data_dir.mkdir()
    asyncio.run(_seed(data_dir / "dockyard.db"))
    server = servers.start("auth")
    assert not (data_dir / "admin-password").exists(), "the server bootstrapped another admin"
    return server


# -- what the server saw ---------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    actor: str
    actor_kind: str
    action: str
    target: str | None
    outcome: str
    detail: dict[str, Any] | None


def _audit(server: DockyardServer) -> list[Audit]:
    db = sqlite3.connect(server.data_dir / "dockyard.db", timeout=30)
    try:
        rows = db.execute(
            "SELECT actor, actor_kind, action, target, outcome, detail FROM audit_log ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    return [Audit(*row[:5], json.loads(row[5]) if row[5] else None) for row in rows]


def _granted(server: DockyardServer, actor: str) -> list[str]:
    """The scopes of every token issued to `actor`, in order."""
    return [
        str(a.detail["granted"])
        for a in _audit(server)
        if a.action == "token" and a.actor == actor and a.detail
    ]


def _pushes(server: DockyardServer) -> list[tuple[str, str, str | None]]:
    return [(a.actor, a.actor_kind, a.target) for a in _audit(server) if a.action == "push"]


# -- helpers ---------------------------------------------------------------------------------


def _layout(tmp_path: Path, name: str) -> tuple[Layout, Image]:
    image = simple_image(name)
    layout = Layout(tmp_path / f"src-{name}")
    layout.add_image(image, "src")
    return layout, image


def _copy(
    skopeo: Skopeo, source: str, destination: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    """A skopeo copy that may fail: the result, for the test to judge."""
    return skopeo(
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        *extra,
        source,
        destination,
        check=False,
    )


def _manifest(server: DockyardServer, repository: str, reference: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}/v2/{repository}/manifests/{reference}",
        headers={"Accept": OCI_MANIFEST},
        auth=ADMIN,
        timeout=30,
    )


def _assert_pulled(layout_root: Path, tag: str, image: Image) -> None:
    back = Layout(layout_root)
    assert back.resolve(tag)["digest"] == image.digest
    assert back.blob(image.digest) == image.manifest
    for digest, data in image.blobs.items():
        assert back.blob(digest) == data


# -- skopeo ----------------------------------------------------------------------------------


def test_skopeo_with_creds_pushes_and_pulls_through_tokens(
    skopeo: Skopeo, registry: DockyardServer, tmp_path: Path
) -> None:
    layout, image = _layout(tmp_path, "dev-app")
    reference = f"docker://{registry.address}/{PRIVATE}/app:v1"

    skopeo.copy(f"oci:{layout.root}:src", reference, "--dest-creds", _creds(DEV))
    assert _granted(registry, DEV[0]) == [f"repository:{PRIVATE}/app:pull,push"]

    pulled = tmp_path / "pulled"
    skopeo.copy(reference, f"oci:{pulled}:v1", "--src-creds", _creds(DEV))
    _assert_pulled(pulled, "v1", image)
    info = skopeo("inspect", "--tls-verify=false", "--creds", _creds(DEV), reference).stdout
    assert json.loads(info)["Digest"] == image.digest

    # The pulls asked for (and got) pull only; the push is on record under the developer's
    # name; every login of theirs was at /token (basic auth on /v2/ is not audited as one).
    granted = _granted(registry, DEV[0])
    assert granted[1:] and set(granted[1:]) == {f"repository:{PRIVATE}/app:pull"}
    assert _pushes(registry) == [(DEV[0], "user", f"{PRIVATE}/app@{image.digest}")]
    logins = [a for a in _audit(registry) if a.action == "login" and a.actor == DEV[0]]
    assert len(logins) == len(granted)
    assert {a.outcome for a in logins} == {"ok"}


def test_skopeo_login_stores_credentials_for_later_commands(
    skopeo: Skopeo, registry: DockyardServer, tmp_path: Path
) -> None:
    wrong = skopeo(
        "login",
        "--tls-verify=false",
        "-u",
        DEV[0],
        "--password-stdin",
        registry.address,
        input="not-the-password\n",
        check=False,
    )
    assert wrong.returncode != 0
    assert "invalid username/password" in wrong.stderr.lower(), wrong.stderr
    assert registry.address not in json.loads(skopeo.authfile.read_text())["auths"]

    login = skopeo(
        "login",
        "--tls-verify=false",
        "-u",
        DEV[0],
        "--password-stdin",
        registry.address,
        input=f"{DEV[1]}\n",
    )
    assert "login succeeded" in login.stdout.lower()
    assert registry.address in json.loads(skopeo.authfile.read_text())["auths"]

    layout, image = _layout(tmp_path, "logged-in")
    reference = f"docker://{registry.address}/{PRIVATE}/logged-in:v1"
    skopeo.copy(f"oci:{layout.root}:src", reference)  # no --creds: the auth file has them
    assert _manifest(registry, f"{PRIVATE}/logged-in", "v1").content == image.manifest
    assert _pushes(registry) == [(DEV[0], "user", f"{PRIVATE}/logged-in@{image.digest}")]


def test_skopeo_with_a_wrong_password_is_refused(
    skopeo: Skopeo, registry: DockyardServer, tmp_path: Path
) -> None:
    layout, _image = _layout(tmp_path, "refused")
    reference = f"docker://{registry.address}/{PRIVATE}/app:v1"

    push = _copy(skopeo, f"oci:{layout.root}:src", reference, "--dest-creds", f"{DEV[0]}:wrong")
    assert push.returncode != 0
    assert "invalid username or password" in push.stderr.lower(), push.stderr
    inspect = skopeo(
        "inspect", "--tls-verify=false", "--creds", "nobody:wrong", reference, check=False
    )
    assert inspect.returncode != 0
    assert "invalid username or password" in inspect.stderr.lower(), inspect.stderr

    failed = [
        (a.actor, a.detail)
        for a in _audit(registry)
        if a.action == "login" and a.outcome == "failed"
    ]
    assert (DEV[0], {"reason": "wrong password"}) in failed
    assert ("nobody", {"reason": "unknown user"}) in failed
    assert _pushes(registry) == []
    assert _manifest(registry, f"{PRIVATE}/app", "v1").status_code == 404
    # The right password still works: a failure or two locks nobody out.
    skopeo.copy(f"oci:{layout.root}:src", reference, "--dest-creds", _creds(DEV))


def test_anonymous_pulls_a_public_project_and_may_not_push(
    skopeo: Skopeo, registry: DockyardServer, tmp_path: Path
) -> None:
    layout, image = _layout(tmp_path, "public")
    public = f"docker://{registry.address}/{PUBLIC}/base:v1"
    private = f"docker://{registry.address}/{PRIVATE}/secret:v1"
    skopeo.copy(f"oci:{layout.root}:src", public, "--dest-creds", _creds(ADMIN))
    skopeo.copy(f"oci:{layout.root}:src", private, "--dest-creds", _creds(ADMIN))

    # No credentials anywhere: skopeo gets an anonymous token, good for pulling public-proj.
    assert json.loads(skopeo.authfile.read_text())["auths"] == {}
    pulled = tmp_path / "anonymous"
    skopeo.copy(public, f"oci:{pulled}:v1")
    _assert_pulled(pulled, "v1", image)
    assert (
        json.loads(skopeo("inspect", "--tls-verify=false", public).stdout)["Digest"] == image.digest
    )
    # Plain HTTP without credentials too: public means anonymous may pull, with or without a
    # token; the private project answers with a challenge.
    direct = httpx.get(f"{registry.url}/v2/{PUBLIC}/base/manifests/v1", timeout=30)
    assert direct.status_code == 200
    assert direct.content == image.manifest
    challenged = httpx.get(f"{registry.url}/v2/{PRIVATE}/secret/manifests/v1", timeout=30)
    assert challenged.status_code == 401
    assert challenged.headers["www-authenticate"].startswith(
        f'Bearer realm="{registry.url}/token",service="dockyard"'
    )

    # ...but not for the private project, which does not even say whether the image exists.
    hidden = skopeo("inspect", "--tls-verify=false", private, check=False)
    assert hidden.returncode != 0
    assert "unauthorized" in hidden.stderr.lower() or "denied" in hidden.stderr.lower(), (
        hidden.stderr
    )

    # Pushing anonymously is refused, saying why, and changes nothing.
    other, _ = _layout(tmp_path, "anonymous-push")
    push = _copy(skopeo, f"oci:{other.root}:src", f"docker://{registry.address}/{PUBLIC}/base:v2")
    assert push.returncode != 0
    stderr = push.stderr.lower()
    assert "unauthorized" in stderr or "denied" in stderr, push.stderr
    assert f"push on {PUBLIC}/base" in push.stderr or f"push {PUBLIC}/base" in push.stderr, (
        push.stderr
    )
    assert _manifest(registry, f"{PUBLIC}/base", "v2").status_code == 404
    assert [actor for actor, _kind, _target in _pushes(registry)] == ["admin", "admin"]


def test_a_user_without_a_role_is_denied_with_a_clear_message(
    skopeo: Skopeo, registry: DockyardServer, tmp_path: Path
) -> None:
    layout, image = _layout(tmp_path, "outsider")
    private = f"docker://{registry.address}/{PRIVATE}/app:v1"
    skopeo.copy(f"oci:{layout.root}:src", private, "--dest-creds", _creds(DEV))

    pull = _copy(skopeo, private, f"oci:{tmp_path / 'nope'}:v1", "--src-creds", _creds(OUTSIDER))
    assert pull.returncode != 0
    assert "denied" in pull.stderr.lower(), pull.stderr
    assert f"pull on {PRIVATE}/app" in pull.stderr or f"pull {PRIVATE}/app" in pull.stderr

    # A public project: the outsider pulls like anyone, but pushes nothing.
    public = f"docker://{registry.address}/{PUBLIC}/app:v1"
    skopeo.copy(f"oci:{layout.root}:src", public, "--dest-creds", _creds(ADMIN))
    pulled = tmp_path / "outsider-pulled"
    skopeo.copy(public, f"oci:{pulled}:v1", "--src-creds", _creds(OUTSIDER))
    _assert_pulled(pulled, "v1", image)
    push = _copy(
        skopeo,
        f"oci:{layout.root}:src",
        f"docker://{registry.address}/{PUBLIC}/app:v2",
        "--dest-creds",
        _creds(OUTSIDER),
    )
    assert push.returncode != 0
    assert "denied" in push.stderr.lower(), push.stderr
    assert _manifest(registry, f"{PUBLIC}/app", "v2").status_code == 404


def test_robot_account_pushes_and_pulls_only_within_its_project(
    skopeo: Skopeo, registry: DockyardServer, tmp_path: Path
) -> None:
    layout, image = _layout(tmp_path, "robot")
    reference = f"docker://{registry.address}/{PRIVATE}/robot-built:v1"

    skopeo.copy(f"oci:{layout.root}:src", reference, "--dest-creds", _creds(ROBOT))
    pulled = tmp_path / "robot-pulled"
    skopeo.copy(reference, f"oci:{pulled}:v1", "--src-creds", _creds(ROBOT))
    _assert_pulled(pulled, "v1", image)
    assert _pushes(registry) == [(ROBOT[0], "robot", f"{PRIVATE}/robot-built@{image.digest}")]
    assert f"repository:{PRIVATE}/robot-built:pull,push" in _granted(registry, ROBOT[0])

    # Outside its project it is refused; a wrong secret is refused before anything else.
    elsewhere = f"docker://{registry.address}/{PUBLIC}/robot-built:v1"
    refused = _copy(skopeo, f"oci:{layout.root}:src", elsewhere, "--dest-creds", _creds(ROBOT))
    assert refused.returncode != 0
    assert "denied" in refused.stderr.lower(), refused.stderr
    wrong = _copy(skopeo, reference, f"oci:{tmp_path / 'x'}:v1", "--src-creds", f"{ROBOT[0]}:nope")
    assert wrong.returncode != 0
    assert "invalid username or password" in wrong.stderr.lower(), wrong.stderr
    assert len(_pushes(registry)) == 1


# -- oras ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    scheme: str  # of the Authorization header sent: "Basic", "Bearer" or ""
    challenge: str


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """oras only pushes files under the working directory."""
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(previous)


def _oras(
    registry: DockyardServer, workdir: Path, credentials: tuple[str, str]
) -> tuple[oras.provider.Registry, list[Seen]]:
    """oras logged in with `credentials`, and a record of every HTTP exchange it makes (its
    token requests share the session)."""
    client = oras.provider.Registry(hostname=registry.address, insecure=True)
    client.login(*credentials, hostname=registry.address, config_path=str(workdir / ".oras.json"))
    seen: list[Seen] = []

    def record(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        url = urlsplit(str(response.request.url))
        scheme = str(response.request.headers.get("Authorization", "")).split(" ", 1)[0]
        seen.append(
            Seen(
                str(response.request.method),
                url.path,
                parse_qs(url.query),
                response.status_code,
                scheme,
                response.headers.get("WWW-Authenticate", ""),
            )
        )

    client.session.hooks["response"].append(record)
    return client, seen


def test_oras_pushes_and_pulls_through_the_token_flow(
    registry: DockyardServer, workdir: Path
) -> None:
    """oras keeps the first (pull) token it gets and fetches a new one only on a 403 with a
    Bearer challenge (DESIGN.md): Dockyard's insufficient_scope answer is what lets it push."""
    (workdir / "notes.txt").write_bytes(b"release notes\n" * 100)
    (workdir / "config.json").write_text(json.dumps({"purpose": "auth e2e"}))
    client, seen = _oras(registry, workdir, DEV)
    target = f"{registry.address}/{PRIVATE}/artifact:v1"

    pushed = client.push(
        target,
        files=[f"notes.txt:{FILE_TYPE}"],
        manifest_config=f"config.json:{CONFIG_TYPE}",
        quiet=True,
    )
    assert pushed.status_code == 201
    digest = pushed.headers["Docker-Content-Digest"]
    assert (
        _manifest(registry, f"{PRIVATE}/artifact", "v1").headers["docker-content-digest"] == digest
    )

    # Its first question went unauthenticated, was challenged, and answered with a pull token.
    v2 = [s for s in seen if s.path.startswith("/v2/")]
    tokens = [s for s in seen if s.path == "/token"]
    assert v2[0].scheme == "" and v2[0].status == 401
    assert f'scope="repository:{PRIVATE}/artifact:pull"' in v2[0].challenge
    assert tokens[0].query["scope"] == [f"repository:{PRIVATE}/artifact:pull"]
    # Starting the upload with it was refused for its scope, with the scope that would do...
    refused = [s for s in v2 if s.status == 403]
    assert refused and refused[0].method == "POST" and refused[0].scheme == "Bearer"
    assert 'error="insufficient_scope"' in refused[0].challenge
    assert f'scope="repository:{PRIVATE}/artifact:pull,push"' in refused[0].challenge
    # ...so oras asked /token again, with its password, and pushed with the new token.
    assert [t.query["scope"] for t in tokens] == [
        [f"repository:{PRIVATE}/artifact:pull"],
        [f"repository:{PRIVATE}/artifact:pull,push"],
    ]
    assert {t.scheme for t in tokens} == {"Basic"} and {t.status for t in tokens} == {200}
    # Its password never went to /v2/: every answered request there carried a token.
    assert {s.scheme for s in v2} <= {"", "Bearer"}
    assert {s.scheme for s in v2 if s.status < 400} == {"Bearer"}
    assert _granted(registry, DEV[0]) == [
        f"repository:{PRIVATE}/artifact:pull",
        f"repository:{PRIVATE}/artifact:pull,push",
    ]
    assert _pushes(registry) == [(DEV[0], "user", f"{PRIVATE}/artifact@{digest}")]

    out = workdir / "pulled"
    files = client.pull(target, outdir=str(out))
    assert [Path(f).name for f in files] == ["notes.txt"]
    assert (out / "notes.txt").read_bytes() == (workdir / "notes.txt").read_bytes()
    assert client.get_tags(f"{registry.address}/{PRIVATE}/artifact") == ["v1"]

    # A fresh client pulls it back too (anonymous first, then a pull token with the password).
    fresh, fresh_seen = _oras(registry, workdir, DEV)
    again = workdir / "again"
    fresh.pull(target, outdir=str(again))
    assert (again / "notes.txt").read_bytes() == (workdir / "notes.txt").read_bytes()
    assert [t.query["scope"] for t in fresh_seen if t.path == "/token"] == [
        [f"repository:{PRIVATE}/artifact:pull"]
    ]


def test_oras_without_the_right_role_cannot_push(registry: DockyardServer, workdir: Path) -> None:
    (workdir / "a.txt").write_text("a")
    client, seen = _oras(registry, workdir, OUTSIDER)
    with pytest.raises(ValueError, match="session url"):
        client.push(f"{registry.address}/{PRIVATE}/forbidden:v1", files=["a.txt"], quiet=True)

    # It logged in fine and got tokens, but they carry nothing (an empty granted scope); the
    # upload was denied, and the denial is on record.
    assert set(_granted(registry, OUTSIDER[0])) == {""}
    posts = [s for s in seen if s.method == "POST" and s.path.startswith("/v2/")]
    assert posts and {s.status for s in posts} == {403}
    assert all('error="insufficient_scope"' in s.challenge for s in posts)
    denied = [a for a in _audit(registry) if a.action == "access" and a.outcome == "denied"]
    assert {(a.actor, a.target) for a in denied} >= {(OUTSIDER[0], f"{PRIVATE}/forbidden")}
    assert _manifest(registry, f"{PRIVATE}/forbidden", "v1").status_code == 404
    assert _pushes(registry) == []
