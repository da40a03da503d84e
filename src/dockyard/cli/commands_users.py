"""`dockyard user …` and `dockyard group …` (system administrators)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import segment
from dockyard.cli.output import Output, OutputOption, ago, details, emit, table, yes_no
from dockyard.cli.remote import (
    InsecureOption,
    LimitOption,
    RegistryOption,
    YesOption,
    collect,
    connect,
    delete_confirmed,
    more_note,
    read_secret,
    stored_login,
)

user_app = typer.Typer(help="Users: list, show, create, delete, disable, passwords.")
group_app = typer.Typer(help="Local groups and their members.")
for _sub in (user_app, group_app):
    _sub.info.no_args_is_help = True

UserArg = Annotated[str, typer.Argument(help="user name", show_default=False)]
GroupArg = Annotated[str, typer.Argument(help="group name", show_default=False)]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from stdin")
]


def _render_users(data: dict[str, Any]) -> None:
    rows = (
        [
            u["username"],
            u.get("email") or "-",
            u.get("source") or "-",
            yes_no(u.get("admin")),
            yes_no(u.get("disabled")),
            ago(u.get("last_login_at")),
        ]
        for u in data["users"]
    )
    table(["USERNAME", "EMAIL", "SOURCE", "ADMIN", "DISABLED", "LAST LOGIN"], rows, "no users")


def _render_user(user: dict[str, Any]) -> None:
    details(
        [
            ("username", user["username"]),
            ("display name", user.get("display_name") or "-"),
            ("email", user.get("email") or "-"),
            ("source", user.get("source") or "-"),
            ("admin", yes_no(user.get("admin"))),
            ("disabled", yes_no(user.get("disabled"))),
            ("groups", ", ".join(user.get("groups") or []) or "-"),
            ("created", ago(user.get("created_at"))),
            ("last login", ago(user.get("last_login_at"))),
        ]
    )


@user_app.command("list")
def list_users(
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="names or emails containing this")
    ] = None,
    limit: LimitOption = 100,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Users, by name."""
    with connect(registry, insecure) as api:
        data, more = collect(api, "/users", "users", limit, {"q": search}, ("last", "username"))
    emit(output, data, _render_users)
    more_note(output, more, limit)


@user_app.command("show")
def show_user(
    username: UserArg,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """One user, with their groups."""
    with connect(registry, insecure) as api:
        data = api.get(f"/users/{segment(username)}")
    emit(output, data, _render_user)


@user_app.command("create")
def create_user(
    username: UserArg,
    email: Annotated[str | None, typer.Option("--email")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="a system administrator")] = False,
    password_stdin: PasswordStdin = False,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Create a local user.

    The password (12 characters at least) is asked for twice, or read from stdin."""
    password = read_secret(f"Password for {username}", password_stdin, twice=True)
    body = {"username": username, "password": password, "email": email, "admin": admin}
    with connect(registry, insecure) as api:
        data = api.post("/users", body)
    kind = "administrator" if data.get("admin") else "user"
    emit(output, data, lambda u: typer.echo(f"Created {kind} {u['username']}."))


@user_app.command("delete")
def delete_user(
    username: UserArg,
    yes: YesOption = False,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Delete a user, their grants and their access tokens."""
    delete_confirmed(f"user {username}", f"/users/{segment(username)}", yes, registry, insecure)


def _set_disabled(username: str, disabled: bool, registry: str | None, insecure: bool) -> None:
    with connect(registry, insecure) as api:
        api.patch(f"/users/{segment(username)}", {"disabled": disabled})
    typer.echo(f"{'Disabled' if disabled else 'Enabled'} user {username}.")


@user_app.command("disable")
def disable_user(
    username: UserArg, registry: RegistryOption = None, insecure: InsecureOption = False
) -> None:
    """Stop a user from logging in (with a password or a token) until enabled again."""
    _set_disabled(username, True, registry, insecure)


@user_app.command("enable")
def enable_user(
    username: UserArg, registry: RegistryOption = None, insecure: InsecureOption = False
) -> None:
    """Let a disabled user log in again."""
    _set_disabled(username, False, registry, insecure)


@user_app.command("passwd")
def change_password(
    username: Annotated[
        str | None, typer.Argument(help="whose (default: yours)", show_default=False)
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="read the new password from stdin (your own: the current one on the first "
            "line, the new one on the second)",
        ),
    ] = False,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Set a local user's password. Changing your own asks for the current one first."""
    me = stored_login(registry).username
    name = username or me
    body: dict[str, Any] = {}
    if name == me:
        body["current_password"] = read_secret("Current password", password_stdin)
    body["password"] = read_secret(f"New password for {name}", password_stdin, twice=True)
    with connect(registry, insecure) as api:
        api.put(f"/users/{segment(name)}/password", body)
    typer.echo(f"Changed the password of {name}; their sessions ended.")


# --- groups -----------------------------------------------------------------------------------


def _render_groups(data: dict[str, Any]) -> None:
    rows = (
        [g["name"], g.get("description") or "-", ", ".join(g.get("members") or []) or "-"]
        for g in data["groups"]
    )
    table(["NAME", "DESCRIPTION", "MEMBERS"], rows, "no groups")


@group_app.command("list")
def list_groups(
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Local groups and their members."""
    with connect(registry, insecure) as api:
        data = api.get("/groups")
    emit(output, data, _render_groups)


@group_app.command("create")
def create_group(
    name: GroupArg,
    description: Annotated[str | None, typer.Option("--description")] = None,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Create a local group."""
    with connect(registry, insecure) as api:
        data = api.post("/groups", {"name": name, "description": description})
    emit(output, data, lambda g: typer.echo(f"Created group {g['name']}."))


@group_app.command("delete")
def delete_group(
    name: GroupArg,
    yes: YesOption = False,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Delete a group (its members stay; the roles granted to the group go)."""
    delete_confirmed(f"group {name}", f"/groups/{segment(name)}", yes, registry, insecure)


def _membership(
    group: str, username: str, member: bool, registry: str | None, insecure: bool
) -> None:
    path = f"/groups/{segment(group)}/members/{segment(username)}"
    with connect(registry, insecure) as api:
        if member:
            api.put(path)
        else:
            api.delete(path)
    typer.echo(f"Added {username} to {group}." if member else f"Removed {username} from {group}.")


@group_app.command("add-member")
def add_group_member(
    group: GroupArg,
    username: UserArg,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Add a user to a group."""
    _membership(group, username, True, registry, insecure)


@group_app.command("remove-member")
def remove_group_member(
    group: GroupArg,
    username: UserArg,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Remove a user from a group."""
    _membership(group, username, False, registry, insecure)
