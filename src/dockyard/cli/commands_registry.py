"""`dockyard repo …` and `dockyard tag …`: what is stored, through the management API's
repository endpoints (deleting behaves like the registry API: shared bytes stay)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from dockyard.cli.client import USAGE, segment
from dockyard.cli.output import Output, OutputOption, ago, details, emit, human_size, table
from dockyard.cli.remote import (
    InsecureOption,
    LimitOption,
    RegistryOption,
    YesOption,
    collect,
    confirm,
    connect,
    delete_confirmed,
    fail,
    more_note,
)

repo_app = typer.Typer(help="Repositories: list, show, delete.")
tag_app = typer.Typer(help="Tags: list, delete.")
for _sub in (repo_app, tag_app):
    _sub.info.no_args_is_help = True

RepoArg = Annotated[str, typer.Argument(help="repository, e.g. team/app", show_default=False)]
SearchOption = Annotated[str | None, typer.Option("--search", "-q", help="names containing this")]


def repository_path(name: str) -> str:
    return f"/repositories/{quote(name, safe='/')}"


def _render_repositories(data: dict[str, Any]) -> None:
    rows = (
        [
            r["name"],
            str(r.get("tag_count", "-")),
            str(r.get("artifact_count", "-")),
            human_size(r.get("size")),
            str(r.get("pulls", "-")),
            ago(r.get("last_pushed_at")),
            ago(r.get("last_pulled_at")),
        ]
        for r in data["repositories"]
    )
    columns = ["NAME", "TAGS", "ARTIFACTS", "SIZE", "PULLS", "LAST PUSH", "LAST PULL"]
    table(columns, rows, "no repositories")


def _render_repository(r: dict[str, Any]) -> None:
    details(
        [
            ("name", r["name"]),
            ("project", r.get("project") or "-"),
            ("size", human_size(r.get("size"))),
            ("tags", str(r.get("tag_count", "-"))),
            ("artifacts", str(r.get("artifact_count", "-"))),
            ("pulls", str(r.get("pulls", "-"))),
            ("pushes", str(r.get("pushes", "-"))),
            ("last push", ago(r.get("last_pushed_at"))),
            ("last pull", ago(r.get("last_pulled_at"))),
            ("created", ago(r.get("created_at"))),
        ]
    )


@repo_app.command("list")
def list_repositories(
    project: Annotated[str, typer.Argument(help="project name", show_default=False)],
    search: SearchOption = None,
    sort: Annotated[
        str, typer.Option("--sort", help="name, last_push or pulls (most first)")
    ] = "name",
    limit: LimitOption = 100,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """A project's repositories, with sizes, tag counts and pulls."""
    path = f"/projects/{segment(project)}/repositories"
    params = {"q": search, "sort": sort}
    with connect(registry, insecure) as api:
        data, more = collect(api, path, "repositories", limit, params, cursor=None)
    emit(output, data, _render_repositories)
    more_note(output, more, limit)


@repo_app.command("show")
def show_repository(
    name: RepoArg,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """One repository."""
    with connect(registry, insecure) as api:
        data = api.get(repository_path(name))
    emit(output, data, _render_repository)


@repo_app.command("delete")
def delete_repository(
    name: RepoArg,
    yes: YesOption = False,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Delete a repository: every tag and artifact in it (blobs other repositories use stay)."""
    confirm(f"Delete repository {name} with all its tags and artifacts?", yes)
    with connect(registry, insecure) as api:
        data = api.delete(repository_path(name))

    def done(d: dict[str, Any]) -> None:
        count = d.get("deleted_artifacts", 0)
        typer.echo(f"Deleted repository {name} ({count} artifact{'' if count == 1 else 's'}).")

    emit(output, data, done)


# --- tags -------------------------------------------------------------------------------------


def _short(digest: str) -> str:
    algorithm, _, hex_ = digest.partition(":")
    return f"{algorithm}:{hex_[:12]}" if hex_ else digest


_KINDS = {
    "application/vnd.oci.image.manifest.v1+json": "image (OCI)",
    "application/vnd.oci.image.index.v1+json": "index (OCI)",
    "application/vnd.docker.distribution.manifest.v2+json": "image (Docker)",
    "application/vnd.docker.distribution.manifest.list.v2+json": "index (Docker)",
}


def _kind(tag: dict[str, Any]) -> str:
    """What a tag points at, briefly: an artifact's type, or the kind of manifest."""
    media_type = tag.get("media_type") or "-"
    return str(tag.get("artifact_type") or _KINDS.get(media_type, media_type))


def _render_tags(data: dict[str, Any]) -> None:
    rows = (
        [
            t["name"],
            _short(t.get("digest", "")),
            human_size(t.get("size")),
            _kind(t),
            ago(t.get("updated_at")),
        ]
        for t in data["tags"]
    )
    table(["TAG", "DIGEST", "SIZE", "TYPE", "UPDATED"], rows, "no tags")


@tag_app.command("list")
def list_tags(
    repository: RepoArg,
    search: SearchOption = None,
    limit: LimitOption = 100,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """A repository's tags, by name."""
    path = f"{repository_path(repository)}/tags"
    with connect(registry, insecure) as api:
        data, more = collect(api, path, "tags", limit, {"q": search}, cursor=None)
    emit(output, data, _render_tags)
    more_note(output, more, limit)


@tag_app.command("delete")
def delete_tag(
    reference: Annotated[str, typer.Argument(help="REPOSITORY:TAG", show_default=False)],
    yes: YesOption = False,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Remove a tag; the artifact it pointed at stays (by digest, and under other tags)."""
    repository, sep, tag = reference.rpartition(":")
    if not sep or not repository or not tag or "/" in tag:
        fail(f"{reference!r}: write REPOSITORY:TAG, e.g. team/app:1.0", USAGE)
    delete_confirmed(
        f"tag {reference}",
        f"{repository_path(repository)}/tags/{segment(tag)}",
        yes,
        registry,
        insecure,
    )
