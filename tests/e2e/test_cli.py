"""`dockyard login`, `project`, `user`, `robot`, `token`, `audit` … as a person or a script runs
them: the CLI as a subprocess with its own HOME, against a real `dockyard serve`.

The CLI only speaks the management API, which is the same on both deployment shapes (tests/api
covers that), so these run on the embedded one. To keep the file quick, one server serves every
test that leaves it running; each test works with names of its own and logs in with a HOME of
its own."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, ADMIN_PASSWORD
from tests.e2e.conftest import DockyardServer, Servers
from tests.e2e.images import push_image, simple_image

NOT_FOUND = 1
NOT_LOGGED_IN = 3
UNREACHABLE = 4


class Cli:
    """`python -m dockyard …` with a private HOME; `config` is its credentials file."""

    def __init__(self, home: Path, config: Path | None = None) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        self.env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), COLUMNS="200")
        self.config = home / "config" / "dockyard" / "credentials.json"
        if config is not None:
            self.env["DOCKYARD_CONFIG"] = str(config)
            self.config = config

    def run(self, *args: str, input: str = "", ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "dockyard", *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )
        if ok and result.returncode != 0:
            pytest.fail(
                f"dockyard {' '.join(args)} exited with {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def login(self, server: DockyardServer, user: str, password: str) -> None:
        args = ("login", server.url, "--username", user, "--password-stdin")
        self.run(*args, input=f"{password}\n")

    def stored(self) -> dict[str, Any]:
        return dict(json.loads(self.config.read_text()))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    pool = Servers(tmp_path_factory.mktemp("cli-registry"))
    try:
        yield pool.start("registry")
    finally:
        pool.close()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home")


@pytest.fixture(scope="module")
def admin(server: DockyardServer, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The admin, logged in once for the tests that do not log out."""
    admin = Cli(tmp_path_factory.mktemp("admin-home"))
    admin.login(server, *ADMIN)
    return admin


def api(server: DockyardServer, auth: tuple[str, str] = ADMIN) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/api/v1", auth=auth, timeout=10)


def test_login_keeps_a_token_not_the_password_in_a_private_file(
    cli: Cli, server: DockyardServer
) -> None:
    done = cli.run(
        "login", server.url, "-u", "admin", "--password-stdin", input=f"{ADMIN_PASSWORD}\n"
    )
    assert f"Logged in to {server.url} as admin" in done.stdout

    assert stat.S_IMODE(cli.config.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.config.parent.stat().st_mode) == 0o700
    assert ADMIN_PASSWORD not in cli.config.read_text()
    assert cli.stored()["current"] == server.url
    entry = cli.stored()["registries"][server.url]
    assert entry["kind"] == "token" and entry["username"] == "admin"
    with api(server, ("admin", entry["secret"])) as client:
        assert client.get("/me").json()["username"] == "admin"
        tokens = {t["id"]: t["name"] for t in client.get("/me/tokens").json()["tokens"]}
    assert tokens[entry["token_id"]].startswith("dockyard-cli@")
    listed = cli.run("token", "list").stdout
    assert "(this CLI)" in listed and entry["secret"] not in listed

    cli.login(server, *ADMIN)  # again: the new token replaces the old one, which is revoked
    renewed = cli.stored()["registries"][server.url]
    assert renewed["token_id"] != entry["token_id"]
    with api(server, ("admin", entry["secret"])) as client:
        assert client.get("/me").status_code == 401


def test_logout_revokes_the_token_and_forgets_the_registry(
    cli: Cli, server: DockyardServer
) -> None:
    cli.login(server, *ADMIN)
    secret = cli.stored()["registries"][server.url]["secret"]

    done = cli.run("logout")

    assert f"Logged out of {server.url}" in done.stdout
    assert cli.stored()["registries"] == {}
    with api(server, ("admin", secret)) as client:
        assert client.get("/me").status_code == 401
    again = cli.run("project", "list", ok=False)
    assert again.returncode == NOT_LOGGED_IN
    assert "not logged in to any registry, run `dockyard login URL`" in again.stderr


def test_a_wrong_password_is_refused_and_nothing_is_stored(
    cli: Cli, server: DockyardServer
) -> None:
    args = ("login", server.url, "-u", "admin", "--password-stdin")
    refused = cli.run(*args, input="not-the-password\n", ok=False)

    assert refused.returncode != 0
    assert f"login to {server.url} failed" in refused.stderr
    assert "(401 Unauthorized)" in refused.stderr
    assert not cli.config.exists()


def test_projects_and_members_as_tables_and_json(admin: Cli, server: DockyardServer) -> None:
    assert "Created private project team" in admin.run("project", "create", "team").stdout
    admin.run("project", "create", "open", "--public")
    conflict = admin.run("project", "create", "team", ok=False)
    assert conflict.returncode == 1
    assert "error: project 'team' already exists (409 Conflict)" in conflict.stderr

    table = admin.run("project", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "VISIBILITY", "STORAGE", "CREATED", "CREATED", "BY"]
    rows = [line.split() for line in table]
    assert ["open", "public", "0", "B", "(no", "quota)", "just", "now", "admin"] in rows
    assert ["team", "private", "0", "B", "(no", "quota)", "just", "now", "admin"] in rows
    with api(server) as client:
        assert admin.json("project", "list") == client.get("/projects").json()
        assert admin.json("project", "show", "team") == client.get("/projects/team").json()

    limited = admin.run("project", "update", "team", "--quota", "10MiB").stdout
    assert "0 B of 10.0 MiB (0%)" in limited
    assert admin.json("project", "show", "team")["quota_bytes"] == 10 * 2**20
    typo = admin.run("project", "update", "team", "--quota", "lots", ok=False)
    assert typo.returncode == 2 and "'lots' is not a size" in typo.stderr
    nothing = admin.run("project", "update", "team", ok=False)
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr
    unlimited = admin.json("project", "update", "team", "--quota", "none", "--public")
    assert (unlimited["quota_bytes"], unlimited["public"]) == (None, True)

    admin.run("user", "create", "member", "--password-stdin", input="member-password-1\n")
    added = admin.run(
        "project", "members", "add", "team", "--user", "member", "--role", "developer"
    )
    assert "Granted developer in team to user member" in added.stdout
    [grant] = admin.json("project", "members", "list", "team")["members"]
    assert (grant["subject"], grant["role"], grant["repositories"]) == ("member", "developer", "*")
    admin.run("project", "members", "remove", "team", "--user", "member")
    assert admin.json("project", "members", "list", "team") == {"members": []}

    unconfirmed = admin.run("project", "delete", "open", ok=False)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    admin.run("project", "delete", "open", "--yes")
    assert "open" not in [p["name"] for p in admin.json("project", "list")["projects"]]


def test_users_groups_and_a_non_admin_sees_the_refusal(
    admin: Cli, server: DockyardServer, tmp_path: Path
) -> None:
    created = admin.run(
        "user", "create", "dev", "--email", "dev@example.com", "--password-stdin",
        input="dev-password-123\n",
    )  # fmt: skip
    assert "Created user dev" in created.stdout
    assert "dev-password-123" not in created.stdout + created.stderr
    short = admin.run("user", "create", "eve", "--password-stdin", input="short\n", ok=False)
    assert short.returncode == 1 and "12 characters" in short.stderr
    admin.run("group", "create", "devs", "--description", "the developers")
    admin.run("group", "add-member", "devs", "dev")
    dev = admin.json("user", "show", "dev")
    assert (dev["email"], dev["groups"], dev["admin"]) == ("dev@example.com", ["devs"], False)
    assert "dev@example.com" in admin.run("user", "list").stdout
    admin.run("user", "disable", "dev")
    assert admin.json("user", "show", "dev")["disabled"] is True
    admin.run("user", "enable", "dev")

    person = Cli(tmp_path / "dev-home", config=tmp_path / "elsewhere" / "dev.json")
    person.login(server, "dev", "dev-password-123")
    assert person.config.exists()
    refused = person.run("user", "create", "mallory", "--password-stdin", input="x" * 16, ok=False)

    assert refused.returncode == 1
    assert "error: only a system administrator may create users (403 Forbidden)" in refused.stderr
    with api(server) as client:
        assert client.get("/users/mallory").status_code == 404


def test_a_robot_secret_is_shown_once(admin: Cli, server: DockyardServer) -> None:
    admin.run("project", "create", "bots")
    created = admin.run(
        "robot", "create", "ci", "--project", "bots", "--permission", "bots/*:pull,push"
    )
    secret = created.stdout.strip()  # stdout holds the secret alone; the rest is on stderr
    assert len(secret) >= 32 and "shown only this once" in created.stderr
    assert "robot$bots+ci" in created.stderr

    listed = admin.run("robot", "list", "--project", "bots")
    assert "robot$bots+ci" in listed.stdout and "bots/*: pull,push" in listed.stdout
    assert secret not in listed.stdout + listed.stderr
    assert "secret" not in admin.json("robot", "list", "--project", "bots")["robots"][0]
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/v2/", auth=("robot$bots+ci", secret)).status_code == 200
        rotated = admin.json("robot", "rotate", "bots+ci")
        assert client.get("/v2/", auth=("robot$bots+ci", secret)).status_code == 401
        assert client.get("/v2/", auth=("robot$bots+ci", rotated["secret"])).status_code == 200
        admin.run("robot", "disable", "robot$bots+ci")
        assert client.get("/v2/", auth=("robot$bots+ci", rotated["secret"])).status_code == 401
    admin.run("robot", "delete", "bots+ci", "--yes")
    assert admin.json("robot", "list", "--project", "bots") == {"robots": []}


def test_personal_access_tokens_and_roles(admin: Cli, server: DockyardServer) -> None:
    created = admin.run("token", "create", "scripts", "--expires-in-days", "7")
    token = created.stdout.strip()
    assert token.startswith("dyp_") and "shown only this once" in created.stderr
    [listed] = [t for t in admin.json("token", "list")["tokens"] if t["name"] == "scripts"]
    with api(server, ("admin", token)) as client:
        assert client.get("/me").status_code == 200
        admin.run("token", "revoke", listed["id"])
        assert client.get("/me").status_code == 401

    admin.run("role", "create", "puller", "--action", "pull,read-project", "--description", "ci")
    roles = {r["name"]: r for r in admin.json("role", "list")["roles"]}
    assert roles["puller"]["actions"] == ["pull", "read-project"]
    assert "developer" in roles
    admin.run("role", "delete", "puller", "--yes")


def test_audit_list_and_export(admin: Cli, tmp_path: Path) -> None:
    for name in ("audit-a", "audit-b", "audit-c"):
        admin.run("project", "create", name)

    listed = admin.json("audit", "list", "--target", "audit-", "--limit", "2")["entries"]
    assert [(e["action"], e["target"]) for e in listed] == [
        ("project.create", "audit-c"),
        ("project.create", "audit-b"),
    ]
    table = admin.run("audit", "list", "--actor", "admin", "--since", "1h").stdout
    assert "project.create" in table and "audit-a" in table

    out = tmp_path / "audit.jsonl"
    done = admin.run("audit", "export", "--output", str(out), "--target", "audit-")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["target"] for e in lines] == ["audit-c", "audit-b", "audit-a"]
    assert "Exported 3 audit entries" in done.stderr
    everything = admin.run("audit", "export", "--action", "project.").stdout.splitlines()
    assert len(everything) >= 3 and all(json.loads(line)["id"] for line in everything)


def test_repositories_and_tags(admin: Cli, server: DockyardServer) -> None:
    with httpx.Client(base_url=server.url, auth=ADMIN, timeout=10) as client:
        app = simple_image("cli-app")
        push_image(client, "shop/app", app, "1.0")
        push_image(client, "shop/app", app, "latest")
        push_image(client, "shop/web", simple_image("cli-web"), "v2")

    table = [line.split() for line in admin.run("repo", "list", "shop").stdout.splitlines()]
    assert table[0][:4] == ["NAME", "TAGS", "ARTIFACTS", "SIZE"]
    assert table[2][:3] == ["shop/app", "2", "1"] and table[3][:3] == ["shop/web", "1", "1"]
    with api(server) as client:
        listed = client.get("/projects/shop/repositories", params={"limit": 100}).json()
        assert admin.json("repo", "list", "shop") == listed
        assert admin.json("repo", "show", "shop/app") == client.get("/repositories/shop/app").json()
        tags = client.get("/repositories/shop/app/tags", params={"limit": 100}).json()
        assert admin.json("tag", "list", "shop/app") == tags
    assert "image (OCI)" in admin.run("tag", "list", "shop/app").stdout

    admin.run("tag", "delete", "shop/app:1.0", "--yes")
    assert [t["name"] for t in admin.json("tag", "list", "shop/app")["tags"]] == ["latest"]
    gone = admin.run("tag", "delete", "shop/app:1.0", "--yes", ok=False)
    assert gone.returncode == 1 and "no tag '1.0' in 'shop/app' (404 Not Found)" in gone.stderr
    assert "(1 artifact)" in admin.run("repo", "delete", "shop/web", "--yes").stdout
    assert [r["name"] for r in admin.json("repo", "list", "shop")["repositories"]] == ["shop/app"]


# This one stops its server, so it has one of its own.
@pytest.mark.parametrize("shape", ["embedded"])
def test_failures_name_the_registry(cli: Cli, registry: DockyardServer) -> None:
    cli.login(registry, *ADMIN)
    missing = cli.run("project", "show", "nope", ok=False)
    assert missing.returncode == NOT_FOUND
    assert "error: no project 'nope' (404 Not Found)" in missing.stderr
    other = cli.run("project", "list", "--registry", "http://127.0.0.1:1", ok=False)
    assert other.returncode == NOT_LOGGED_IN
    login_hint = "not logged in to http://127.0.0.1:1, run `dockyard login http://127.0.0.1:1`"
    assert login_hint in other.stderr

    registry.stop()
    down = cli.run("project", "list", ok=False)

    assert down.returncode == UNREACHABLE
    assert f"error: cannot reach {registry.url}: connection refused" in down.stderr
