"""`dockyard vulndb …`: the offline vulnerability database, on a registry's metadata database
directly (like `dockyard db`; no login). Running registries notice an import on their next scan
queue run and queue the images whose reports it makes stale (docs/scanning.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.text import Text

from dockyard.cli.db import ConfigOption, DataDirOption
from dockyard.cli.options import load_or_exit
from dockyard.cli.output import console, details, note, stamp, table

if TYPE_CHECKING:
    from dockyard.ext.scanning.vulndb import ImportSummary
    from dockyard.meta.advisory_records import VulnDbVersion
    from dockyard.meta.sql import SqlMetadataStore

app = typer.Typer(help="The offline vulnerability database (OSV advisories).", no_args_is_help=True)

SourcesArg = Annotated[
    list[str],
    typer.Argument(
        help="OSV sources: <Ecosystem>-all.zip files, directories of advisory JSON, or "
        "http(s) URLs of such zips (e.g. https://osv-vulnerabilities.storage.googleapis.com/"
        "PyPI/all.zip)",
        show_default=False,
    ),
]


T = TypeVar("T")


async def _with_store(
    store: SqlMetadataStore, work: Callable[[SqlMetadataStore], Awaitable[T]]
) -> T:
    try:
        await store.open()
        return await work(store)
    finally:
        await store.close()


def _store(config: Path | None, data_dir: Path | None) -> SqlMetadataStore:
    from dockyard.app import build_metadata

    return build_metadata(load_or_exit(config, data_dir))


def _print_import(summary: ImportSummary) -> None:
    for feed, content in summary.feeds.items():
        withdrawn = f" ({content.withdrawn} withdrawn)" if content.withdrawn else ""
        typer.echo(f"  {feed}: {content.advisories} advisories{withdrawn}")
    if summary.skipped:
        note(f"  skipped {summary.skipped} file(s) that are not OSV advisories")
        for problem in summary.problems[:5]:
            note(f"    {problem}")


@app.command("import")
def import_(
    sources: SourcesArg, config: ConfigOption = None, data_dir: DataDirOption = None
) -> None:
    """Import OSV advisories; each source replaces the advisories of the ecosystems it holds."""
    from dockyard.ext.scanning.vulndb import VulnDbError, import_osv

    store = _store(config, data_dir)

    async def work(opened: SqlMetadataStore) -> str | None:
        version = None
        for source in sources:
            with console(stderr=True).status(Text(f"importing {source} …")):
                try:
                    summary = await import_osv(opened, source)
                except VulnDbError as err:
                    typer.echo(f"error: {err}", err=True)
                    raise typer.Exit(1) from None
            typer.echo(f"{source}: {summary.advisories} advisories")
            _print_import(summary)
            version = summary.db_version
        return version

    version = asyncio.run(_with_store(store, work))
    typer.echo(f"database version {version}")


@app.command()
def status(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    history: Annotated[int, typer.Option(min=0, max=100, help="imports to list")] = 5,
) -> None:
    """The database version, advisories per ecosystem, and the last imports."""
    store = _store(config, data_dir)

    async def work(opened: SqlMetadataStore) -> tuple[list[VulnDbVersion], dict[str, int]]:
        async with opened.transaction(readonly=True) as tx:
            return await tx.advisories.history(max(history, 1)), await tx.advisories.counts()

    imports, counts = asyncio.run(_with_store(store, work))
    if not imports:
        typer.echo("the vulnerability database is empty: run `dockyard vulndb import SOURCE`")
        raise typer.Exit(1)
    current = imports[0]
    details(
        [
            ("version", current.db_version),
            ("imported", stamp(current.imported_at)),
            ("from", current.source),
            ("advisories", str(sum(counts.values()))),
        ]
    )
    table(["ECOSYSTEM", "ADVISORIES"], ([k, str(v)] for k, v in counts.items()), "no advisories")
    if history:
        rows = (
            [stamp(v.imported_at), v.source, ", ".join(v.feeds), v.db_version[:12]]
            for v in imports[:history]
        )
        table(["IMPORTED", "SOURCE", "ECOSYSTEMS", "VERSION"], rows, "no imports")
