"""`dockyard project …` and `dockyard project members …`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.client import USAGE, Api, segment
from dockyard.cli.output import Output, OutputOption, ago, details, emit, human_size, table
from dockyard.cli.remote import (
    InsecureOption,
    LimitOption,
    RegistryOption,
    YesOption,
    collect,
    connect,
    delete_confirmed,
    fail,
    more_note,
)
from dockyard.sizes import parse_size

app = typer.Typer(help="Projects: list, show, create, delete; their members.", no_args_is_help=True)
members_app = typer.Typer(help="Who may do what in a project.", no_args_is_help=True)
app.add_typer(members_app, name="members")

ProjectArg = Annotated[str, typer.Argument(help="project name", show_default=False)]


def _visibility(project: dict[str, Any]) -> str:
    return "public" if project.get("public") else "private"


def _storage(project: dict[str, Any]) -> str:
    """`1.2 GiB of 10.0 GiB (12%)`, or just the usage when there is no quota."""
    used, quota = project.get("usage_bytes"), project.get("quota_bytes")
    if quota is None:
        return f"{human_size(used)} (no quota)"
    share = f" ({100 * (used or 0) / quota:.0f}%)" if quota else ""
    return f"{human_size(used)} of {human_size(quota)}{share}"


def _render_projects(data: dict[str, Any]) -> None:
    rows = (
        [
            p["name"],
            _visibility(p),
            _storage(p),
            ago(p.get("created_at")),
            p.get("created_by") or "-",
        ]
        for p in data["projects"]
    )
    table(["NAME", "VISIBILITY", "STORAGE", "CREATED", "CREATED BY"], rows, "no projects")


def _render_project(project: dict[str, Any]) -> None:
    known = {"name", "public", "created_at", "created_by", "usage_bytes", "quota_bytes"}
    pairs = [
        ("name", project["name"]),
        ("visibility", _visibility(project)),
        ("storage", _storage(project)),
        ("created", ago(project.get("created_at"))),
        ("created by", project.get("created_by") or "-"),
    ]
    # Whatever else the registry tells about a project (usage, quota, …), as it comes.
    pairs += [(k.replace("_", " "), str(v)) for k, v in project.items() if k not in known]
    details(pairs)


@app.command("list")
def list_projects(
    limit: LimitOption = 100,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Projects you may see."""
    with connect(registry, insecure) as api:
        data, more = collect(api, "/projects", "projects", limit)
    emit(output, data, _render_projects)
    more_note(output, more, limit)


@app.command("show")
def show_project(
    name: ProjectArg,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """One project."""
    with connect(registry, insecure) as api:
        data = api.get(f"/projects/{segment(name)}")
    emit(output, data, _render_project)


@app.command("create")
def create_project(
    name: ProjectArg,
    public: Annotated[
        bool, typer.Option("--public", help="anyone may pull (default: private)")
    ] = False,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Create a project (private unless --public)."""
    with connect(registry, insecure) as api:
        data = api.post("/projects", {"name": name, "public": public})
    emit(output, data, lambda p: typer.echo(f"Created {_visibility(p)} project {p['name']}."))


def _quota(text: str | None) -> int | None:
    if text is None or text.lower() in ("none", "unlimited"):
        return None
    try:
        return parse_size(text)
    except ValueError as exc:
        fail(str(exc), USAGE)


@app.command("update")
def update_project(
    name: ProjectArg,
    public: Annotated[
        bool | None,
        typer.Option("--public/--private", help="who may pull", show_default=False),
    ] = None,
    quota: Annotated[
        str | None,
        typer.Option(
            "--quota",
            help="storage limit, e.g. 500MiB, 10GiB, 2TB; 'none' removes it (system admins)",
            show_default=False,
        ),
    ] = None,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Change a project's visibility or storage quota."""
    changes: dict[str, Any] = {} if public is None else {"public": public}
    if quota is not None:
        changes["quota_bytes"] = _quota(quota)
    if not changes:
        fail("nothing to change: give --public, --private or --quota", USAGE)
    with connect(registry, insecure) as api:
        data = api.patch(f"/projects/{segment(name)}", changes)
    emit(output, data, _render_project)


@app.command("delete")
def delete_project(
    name: ProjectArg,
    yes: YesOption = False,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Delete an empty project (delete its repositories first)."""
    delete_confirmed(f"project {name}", f"/projects/{segment(name)}", yes, registry, insecure)


# --- members ----------------------------------------------------------------------------------


def _render_members(data: dict[str, Any]) -> None:
    rows = (
        [str(g["id"]), g["subject_kind"], g["subject"], g["role"], g["repositories"]]
        for g in data["members"]
    )
    table(["ID", "KIND", "NAME", "ROLE", "REPOSITORIES"], rows, "no members")


@members_app.command("list")
def list_members(
    project: ProjectArg,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """The roles granted in a project, to users and groups."""
    with connect(registry, insecure) as api:
        data = api.get(f"/projects/{segment(project)}/members")
    emit(output, data, _render_members)


UserOption = Annotated[str | None, typer.Option("--user", help="a user")]
GroupOption = Annotated[str | None, typer.Option("--group", help="a group")]


def _subject(user: str | None, group: str | None) -> tuple[str, str]:
    if (user is None) == (group is None):
        fail("give exactly one of --user or --group", USAGE)
    return ("user", user) if user is not None else ("group", str(group))


@members_app.command("add")
def add_member(
    project: ProjectArg,
    role: Annotated[str, typer.Option("--role", help="e.g. developer, maintainer, guest")],
    user: UserOption = None,
    group: GroupOption = None,
    repositories: Annotated[
        str, typer.Option("--repositories", help="'*' or a pattern such as 'team/ci-*'")
    ] = "*",
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Grant a role in a project to a user or a group.

    In every repository of the project, or in those that match --repositories."""
    kind, name = _subject(user, group)
    body = {kind: name, "role": role, "repositories": repositories}
    with connect(registry, insecure) as api:
        grant = api.post(f"/projects/{segment(project)}/members", body)

    def done(g: dict[str, Any]) -> None:
        where = "" if g["repositories"] == "*" else f" (repositories {g['repositories']})"
        typer.echo(f"Granted {g['role']} in {g['project']} to {kind} {name}{where}; id {g['id']}.")

    emit(output, grant, done)


def _matching(api: Api, project: str, kind: str, name: str, role: str | None) -> list[int]:
    grants = api.get(f"/projects/{segment(project)}/members")["members"]
    return [
        int(g["id"])
        for g in grants
        if g["subject_kind"] == kind and g["subject"] == name and role in (None, g["role"])
    ]


@members_app.command("remove")
def remove_member(
    project: ProjectArg,
    grant_id: Annotated[
        int | None, typer.Argument(help="the ID `members list` shows", show_default=False)
    ] = None,
    user: UserOption = None,
    group: GroupOption = None,
    role: Annotated[str | None, typer.Option("--role", help="only this role")] = None,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Take back a grant by its ID, or every grant of --user/--group (optionally only --role)."""
    if grant_id is not None and (user or group):
        fail("give an ID or --user/--group, not both", USAGE)
    with connect(registry, insecure) as api:
        if grant_id is not None:
            ids = [grant_id]
        else:
            kind, name = _subject(user, group)
            ids = _matching(api, project, kind, name, role)
            if not ids:
                fail(f"{kind} {name} has no {role or 'role'} in project {project}")
        for each in ids:
            api.delete(f"/projects/{segment(project)}/members/{each}")
    typer.echo(f"Removed {len(ids)} grant{'s' if len(ids) != 1 else ''} from project {project}.")
