"""`dockyard migrate --to scale.yaml`: move a registry (typically the embedded one) to another
deployment shape, e.g. S3 + PostgreSQL.

Every blob is streamed from the source store to the target and hashed on the way; only a blob
whose digest checks out is recorded in the target. Blobs already in the target are skipped, so
an interrupted run continues where it stopped, and a second run right before the switch copies
only what was pushed meanwhile. The source registry keeps serving throughout.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table as RichTable
from sqlalchemy import select

from dockyard.app import build_metadata, build_storage
from dockyard.cli.options import load_or_exit
from dockyard.meta import schema as t
from dockyard.meta import transfer
from dockyard.meta.sql import SqlMetadataStore
from dockyard.oci.digest import Digest
from dockyard.registry.hashing import new_hash
from dockyard.settings import Settings
from dockyard.storage import layout
from dockyard.storage.base import PathNotFound, StorageDriver, SupportsClose


@dataclass
class Report:
    copied: int = 0
    skipped: int = 0
    bytes_copied: int = 0
    failed: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)


def migrate(
    to: Annotated[Path, typer.Option(help="settings file of the target deployment")],
    config: Annotated[Path | None, typer.Option(help="settings of the source")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="source data directory")] = None,
) -> None:
    """Copy every blob, repository, manifest and tag to the deployment `--to` describes."""
    source = load_or_exit(config, data_dir)
    target = load_or_exit(to, None)
    started = time.monotonic()
    report = asyncio.run(_migrate(source, target))
    _print_report(report, time.monotonic() - started)
    if report.failed:
        raise typer.Exit(1)


async def _migrate(source_settings: Settings, target_settings: Settings) -> Report:
    source, target = build_metadata(source_settings), build_metadata(target_settings)
    source_blobs, target_blobs = build_storage(source_settings), build_storage(target_settings)
    report = Report()
    try:
        await source.open(auto_upgrade=False)
        await target.upgrade()
        await _copy_blobs(source, target, source_blobs, target_blobs, report)
        failed = set(report.failed)
        with _progress() as progress:
            for table in transfer.ROW_TABLES:
                task = progress.add_task(table.name, total=await transfer.count_rows(source, table))
                report.rows[table.name] = await transfer.copy_table(
                    source,
                    target,
                    table,
                    lambda n, task=task: progress.advance(task, n),
                    # A blob that could not be copied must not be linked anywhere.
                    keep=lambda row, table=table: (
                        table is not t.blob_links or row["digest"] not in failed
                    ),
                )
    finally:
        for store in (source, target):
            await store.close()
        for storage in (source_blobs, target_blobs):
            if isinstance(storage, SupportsClose):
                await storage.close()
    return report


async def _copy_blobs(
    source: SqlMetadataStore,
    target: SqlMetadataStore,
    source_blobs: StorageDriver,
    target_blobs: StorageDriver,
    report: Report,
) -> None:
    async with target.engine.connect() as conn:
        present = set((await conn.execute(select(t.blobs.c.digest))).scalars())
    todo = []
    async for rows in transfer.stream_rows(source, t.blobs):
        for row in rows:
            if row["digest"] in present:
                report.skipped += 1
            else:
                todo.append(row)
    with _progress(bytes_=True) as progress:
        task = progress.add_task("blobs", total=sum(row["size"] for row in todo))
        for row in todo:
            if await _copy_blob(row, source_blobs, target_blobs, target):
                report.copied += 1
                report.bytes_copied += row["size"]
            else:
                report.failed.append(row["digest"])
            progress.advance(task, row["size"])


async def _copy_blob(
    row: dict[str, object], source: StorageDriver, target: StorageDriver, store: SqlMetadataStore
) -> bool:
    digest = Digest.parse(str(row["digest"]))
    path = layout.blob_path(digest)
    hasher = new_hash(digest.algorithm)
    writer = await target.writer(path)
    try:
        async for chunk in await source.read(str(row["path"])):
            hasher.update(bytes(chunk))
            await writer.write(chunk)
    except PathNotFound:
        await writer.cancel()
        return False
    if hasher.finalize() != digest.hex or writer.size != row["size"]:
        await writer.cancel()
        return False
    await writer.commit()
    async with store.transaction() as tx:
        await tx.blobs.add(str(digest), writer.size, path)
    return True


def _progress(bytes_: bool = False) -> Progress:
    columns = [TextColumn("{task.description:>20}"), BarColumn()]
    columns += [DownloadColumn()] if bytes_ else [TextColumn("{task.completed}/{task.total}")]
    return Progress(*columns, TimeRemainingColumn(), console=Console(stderr=True))


def _print_report(report: Report, seconds: float) -> None:
    table = RichTable(title=f"migration finished in {seconds:.1f} s")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("blobs copied (digest verified)", str(report.copied))
    table.add_row("bytes copied", f"{report.bytes_copied:,}")
    table.add_row("blobs already there (skipped)", str(report.skipped))
    table.add_row("blobs that failed", str(len(report.failed)))
    for name, rows in report.rows.items():
        table.add_row(f"{name} rows", str(rows))
    console = Console()
    console.print(table)
    for digest in report.failed:
        console.print(f"[red]failed:[/red] {digest} (missing or corrupt in the source)")
