"""`dockyard db …`: the metadata schema."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from dockyard.cli.options import load_or_exit

app = typer.Typer(help="Metadata database schema.", no_args_is_help=True)

ConfigOption = Annotated[Path | None, typer.Option(help="YAML settings file")]
DataDirOption = Annotated[Path | None, typer.Option(help="data directory (embedded SQLite)")]


@app.command()
def upgrade(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Migrate the schema to the version this Dockyard needs (safe to run from many hosts)."""
    from dockyard.app import build_metadata

    settings = load_or_exit(config, data_dir)

    async def run() -> str:
        store = build_metadata(settings)
        try:
            return (await store.upgrade()).head
        finally:
            await store.close()

    typer.echo(f"schema is at revision {asyncio.run(run())}")


@app.command()
def status(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Show the schema revision and whether it is the one this Dockyard needs."""
    from dockyard.app import build_metadata
    from dockyard.meta import migrate

    settings = load_or_exit(config, data_dir)

    async def run() -> migrate.SchemaStatus:
        store = build_metadata(settings)
        try:
            async with store.engine.connect() as conn:
                return await conn.run_sync(migrate.status)
        finally:
            await store.close()

    found = asyncio.run(run())
    typer.echo(f"current: {found.current or 'none (empty database)'}\nneeded:  {found.head}")
    if not found.up_to_date:
        raise typer.Exit(1)
