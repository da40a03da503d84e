"""`dockyard robot …`, `dockyard token …` (personal access tokens) and `dockyard role …`.

A new robot secret or access token is printed once: the secret alone on stdout (so
`SECRET=$(dockyard robot create …)` keeps just it), what it is and what to do with it on
stderr. The registry keeps only a hash; nothing can show it again."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import USAGE, segment
from dockyard.cli.output import Output, OutputOption, ago, emit, note, table, yes_no
from dockyard.cli.remote import (
    InsecureOption,
    RegistryOption,
    YesOption,
    connect,
    delete_confirmed,
    fail,
    stored_login,
)

robot_app = typer.Typer(help="Robot accounts: credentials for CI and other machines.")
token_app = typer.Typer(help="Your personal access tokens (for scripts and clients).")
role_app = typer.Typer(help="Roles: the built-in ones and custom ones.")
for _sub in (robot_app, token_app, role_app):
    _sub.info.no_args_is_help = True

ROBOT_PREFIX = "robot$"
RobotArg = Annotated[
    str,
    typer.Argument(help="robot name, e.g. 'robot$team+ci' (or team+ci)", show_default=False),
]
ProjectOption = Annotated[
    str | None, typer.Option("--project", "-p", help="a project's robots (default: system robots)")
]
ExpiresOption = Annotated[
    int | None, typer.Option("--expires-in-days", min=1, max=3650, help="default: never")
]


def show_secret(headline: str, secret: str, hint: str) -> None:
    note(f"{headline} It is shown only this once; store it now:")
    typer.echo(secret)
    note(hint)


# --- robots -----------------------------------------------------------------------------------


def _robot_name(name: str) -> str:
    return name if name.startswith(ROBOT_PREFIX) else f"{ROBOT_PREFIX}{name}"


def _permissions(robot: dict[str, Any]) -> str:
    return "; ".join(
        f"{p['repositories']}: {','.join(p['actions'])}" for p in robot.get("permissions") or []
    )


def _render_robots(data: dict[str, Any]) -> None:
    rows = (
        [
            r["name"],
            r.get("project") or "-",
            _permissions(r),
            yes_no(r.get("disabled")),
            ago(r.get("expires_at")),
            ago(r.get("created_at")),
        ]
        for r in data["robots"]
    )
    columns = ["NAME", "PROJECT", "PERMISSIONS", "DISABLED", "EXPIRES", "CREATED"]
    table(columns, rows, "no robot accounts")


@robot_app.command("list")
def list_robots(
    project: ProjectOption = None,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """A project's robot accounts, or the system ones (no secrets: those are shown once)."""
    path = f"/projects/{segment(project)}/robots" if project else "/robots"
    with connect(registry, insecure) as api:
        data = api.get(path)
    emit(output, data, _render_robots)


def _parse_permission(text: str) -> dict[str, Any]:
    pattern, sep, actions = text.partition(":")
    names = [a.strip() for a in actions.split(",") if a.strip()]
    if not sep or not pattern or not names:
        fail(f"--permission {text!r}: write REPOSITORIES:ACTIONS, e.g. 'team/*:pull,push'", USAGE)
    return {"repositories": pattern, "actions": names}


@robot_app.command("create")
def create_robot(
    name: Annotated[str, typer.Argument(help="lower-case letters and digits", show_default=False)],
    permission: Annotated[
        list[str],
        typer.Option(
            "--permission",
            help="REPOSITORIES:ACTIONS, e.g. 'team/*:pull,push' (repeatable)",
            show_default=False,
        ),
    ],
    project: ProjectOption = None,
    expires_in_days: ExpiresOption = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Create a robot account and print its secret, once."""
    body = {
        "name": name,
        "permissions": [_parse_permission(p) for p in permission],
        "expires_in_days": expires_in_days,
        "description": description,
    }
    path = f"/projects/{segment(project)}/robots" if project else "/robots"
    with connect(registry, insecure) as api:
        data = api.post(path, body)
    emit(output, data, lambda r: _robot_secret(f"Created robot {r['name']}.", r))


def _robot_secret(headline: str, robot: dict[str, Any]) -> None:
    show_secret(headline, robot["secret"], f"Log in as '{robot['name']}' with it.")


def _set_disabled(name: str, disabled: bool, registry: str | None, insecure: bool) -> None:
    name = _robot_name(name)
    with connect(registry, insecure) as api:
        api.patch(f"/robots/{segment(name)}", {"disabled": disabled})
    typer.echo(f"{'Disabled' if disabled else 'Enabled'} robot {name}.")


@robot_app.command("disable")
def disable_robot(
    name: RobotArg, registry: RegistryOption = None, insecure: InsecureOption = False
) -> None:
    """Stop a robot from logging in until enabled again."""
    _set_disabled(name, True, registry, insecure)


@robot_app.command("enable")
def enable_robot(
    name: RobotArg, registry: RegistryOption = None, insecure: InsecureOption = False
) -> None:
    """Let a disabled robot log in again."""
    _set_disabled(name, False, registry, insecure)


@robot_app.command("rotate")
def rotate_robot(
    name: RobotArg,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Give a robot a new secret (printed once); the old one stops working at once."""
    name = _robot_name(name)
    with connect(registry, insecure) as api:
        data = api.post(f"/robots/{segment(name)}/rotate")
    headline = f"New secret for {name}; the old one no longer works."
    emit(output, data, lambda r: _robot_secret(headline, r))


@robot_app.command("delete")
def delete_robot(
    name: RobotArg,
    yes: YesOption = False,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Delete a robot account."""
    name = _robot_name(name)
    delete_confirmed(f"robot {name}", f"/robots/{segment(name)}", yes, registry, insecure)


# --- personal access tokens -------------------------------------------------------------------


@token_app.command("list")
def list_tokens(
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Your personal access tokens (the one this CLI logs in with is marked)."""
    mine = stored_login(registry).token_id
    with connect(registry, insecure) as api:
        data = api.get("/me/tokens")

    def render(found: dict[str, Any]) -> None:
        rows = (
            [
                t["id"],
                t["name"] + (" (this CLI)" if t["id"] == mine else ""),
                ago(t.get("created_at")),
                ago(t.get("expires_at")),
                ago(t.get("last_used_at")),
            ]
            for t in found["tokens"]
        )
        table(["ID", "NAME", "CREATED", "EXPIRES", "LAST USED"], rows, "no access tokens")

    emit(output, data, render)


@token_app.command("create")
def create_token(
    name: Annotated[str, typer.Argument(help="what it is for", show_default=False)],
    expires_in_days: ExpiresOption = None,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Create a personal access token and print it, once.

    Use it as your password with docker, skopeo, oras or the API."""
    with connect(registry, insecure) as api:
        data = api.post("/me/tokens", {"name": name, "expires_in_days": expires_in_days})
    hint = f"Use it as the password of {stored_login(registry).username}; id {data['id']}."
    headline = f"Created access token {data['name']}."
    emit(output, data, lambda t: show_secret(headline, t["token"], hint))


@token_app.command("revoke")
def revoke_token(
    token: Annotated[str, typer.Argument(help="its ID (or its name)", show_default=False)],
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Revoke one of your personal access tokens."""
    login = stored_login(registry)
    with connect(registry, insecure) as api:
        found = api.get("/me/tokens")["tokens"]
        ids = [t["id"] for t in found if token in (t["id"], t["name"])]
        if len(ids) > 1:
            fail(f"{len(ids)} tokens are named {token!r}; give the ID ({', '.join(ids)})", USAGE)
        token_id = ids[0] if ids else token
        api.delete(f"/me/tokens/{segment(token_id)}")
    typer.echo(f"Revoked access token {token_id}.")
    if token_id == login.token_id:
        note(f"That was the token this CLI logs in with; run `dockyard login {login.url}`.")


# --- roles ------------------------------------------------------------------------------------


def _render_roles(data: dict[str, Any]) -> None:
    rows = (
        [r["name"], ", ".join(r.get("actions") or []), r.get("description") or "-"]
        for r in data["roles"]
    )
    table(["NAME", "ACTIONS", "DESCRIPTION"], rows, "no roles")


@role_app.command("list")
def list_roles(
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """The built-in roles and the custom ones, with the actions each allows."""
    with connect(registry, insecure) as api:
        data = api.get("/roles")
    emit(output, data, _render_roles)


@role_app.command("create")
def create_role(
    name: Annotated[str, typer.Argument(show_default=False)],
    action: Annotated[
        list[str],
        typer.Option(
            "--action", help="e.g. pull, push, read-project (repeatable, or comma-separated)"
        ),
    ],
    description: Annotated[str | None, typer.Option("--description")] = None,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Create a custom role from actions."""
    actions = [a.strip() for each in action for a in each.split(",") if a.strip()]
    body = {"name": name, "actions": actions, "description": description}
    with connect(registry, insecure) as api:
        data = api.post("/roles", body)
    emit(output, data, lambda r: typer.echo(f"Created role {r['name']}."))


@role_app.command("delete")
def delete_role(
    name: Annotated[str, typer.Argument(show_default=False)],
    yes: YesOption = False,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Delete a custom role (built-in ones stay)."""
    delete_confirmed(f"role {name}", f"/roles/{segment(name)}", yes, registry, insecure)
