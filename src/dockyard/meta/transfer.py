"""Copying metadata rows from one store to another (for `dockyard migrate`).

Rows stream out of the source in batches and go into the target with "insert unless present",
so a copy can be interrupted and run again; tags take the source's current value.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite

from dockyard.meta import schema as t
from dockyard.meta.sql import SqlMetadataStore

# Parents before children, so foreign keys hold at every step.
ROW_TABLES: list[Table] = [
    t.repositories,
    t.blob_links,
    t.manifests,
    t.manifest_references,
    t.tags,
]
BATCH = 500


async def stream_rows(store: SqlMetadataStore, table: Table) -> AsyncIterator[list[dict[str, Any]]]:
    order = list(table.primary_key.columns)
    async with store.engine.connect() as conn:
        result = await conn.stream(select(table).order_by(*order))
        async for partition in result.partitions(BATCH):
            yield [dict(row._mapping) for row in partition]


async def count_rows(store: SqlMetadataStore, table: Table) -> int:
    from sqlalchemy import func

    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def copy_table(
    source: SqlMetadataStore,
    target: SqlMetadataStore,
    table: Table,
    progress: Callable[[int], None] = lambda _n: None,
    keep: Callable[[dict[str, Any]], bool] = lambda _row: True,
) -> int:
    """Insert every source row the target lacks (of those `keep` accepts); returns how many
    rows were written or already there."""
    written = 0
    async for rows in stream_rows(source, table):
        kept = [row for row in rows if keep(row)]
        if kept:
            async with target.transaction() as tx:
                await tx.connection.execute(_insert(target, table, kept))
        written += len(kept)
        progress(len(rows))
    return written


def _insert(target: SqlMetadataStore, table: Table, rows: list[dict[str, Any]]) -> Any:
    insert = (sqlite.insert if target.is_sqlite else postgresql.insert)(table).values(rows)
    if table is t.tags:
        return insert.on_conflict_do_update(
            index_elements=[t.tags.c.repository, t.tags.c.name],
            set_={"digest": insert.excluded.digest, "updated_at": insert.excluded.updated_at},
        )
    return insert.on_conflict_do_nothing()
