"""Copying metadata rows from one store to another (for `dockyard migrate`).

Rows stream out of the source in batches and go into the target with "insert unless present",
so a copy can be interrupted and run again; tags take the source's current value. Rows keyed by
a number the database handed out (users, grants, audit entries) are matched by what they say,
and a user's groups and tokens follow the user of that name (see NATURAL_KEYS).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.meta import schema as t
from dockyard.meta.sql import SqlMetadataStore

# Parents before children, so foreign keys hold at every step.
ROW_TABLES: list[Table] = [
    t.repositories,
    t.blob_links,
    t.manifests,
    t.manifest_references,
    t.tags,
    t.manifest_pulls,
    t.daily_usage,
    t.users,
    t.groups,
    t.user_groups,
    t.projects,
    t.roles,
    t.project_grants,
    t.robots,
    t.access_tokens,
    t.audit_log,
    t.signing_keys,
]
BATCH = 500


async def stream_rows(store: SqlMetadataStore, table: Table) -> AsyncIterator[list[dict[str, Any]]]:
    order = list(table.primary_key.columns)
    async with store.engine.connect() as conn:
        result = await conn.stream(select(table).order_by(*order))
        async for partition in result.partitions(BATCH):
            yield [dict(row._mapping) for row in partition]


async def count_rows(store: SqlMetadataStore, table: Table) -> int:
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
    user_ids = await _user_ids(source, target) if _refers_to_users(table) else None
    if table.name in NATURAL_KEYS:
        await _advance_sequence(target, table, await _max_id(source, table))
    written = 0
    async for rows in stream_rows(source, table):
        kept = [row for row in rows if keep(row)]
        if user_ids is not None:  # the same person may have another id in the target
            kept = [
                {**row, "user_id": user_ids[row["user_id"]]}
                for row in kept
                if row["user_id"] in user_ids
            ]
        if kept:
            async with target.transaction() as tx:
                for statement in await _inserts(tx.connection, target, table, kept):
                    await tx.connection.execute(statement)
        written += len(kept)
        progress(len(rows))
    if "id" in table.c and table.c.id.autoincrement is True:
        await _advance_sequence(target, table, 0)
    return written


# Tables whose primary key is a number each database hands out on its own: the same number may
# name different rows on both sides (the target was tried out between two runs), so rows are
# matched by what they say instead, and a row whose number is taken gets a new one.
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "users": ("username",),
    "project_grants": ("project", "subject_kind", "subject", "role", "repositories"),
    "audit_log": ("at", "actor", "actor_kind", "address", "action", "target", "outcome", "detail"),
}


async def _inserts(
    conn: AsyncConnection, target: SqlMetadataStore, table: Table, rows: list[dict[str, Any]]
) -> list[Any]:
    natural = NATURAL_KEYS.get(table.name)
    if natural is None:
        return [_insert(target, table, rows)]
    first = table.c[natural[0]]
    held_query = select(*(table.c[k] for k in natural)).where(
        first.in_({row[natural[0]] for row in rows})
    )
    held = {tuple(found) for found in await conn.execute(held_query)}
    new = [row for row in rows if tuple(row[k] for k in natural) not in held]
    if not new:
        return []
    taken_query = select(table.c.id).where(table.c.id.in_([row["id"] for row in new]))
    taken = set((await conn.execute(taken_query)).scalars())
    keep_id = [row for row in new if row["id"] not in taken]
    renumber = [{k: v for k, v in row.items() if k != "id"} for row in new if row["id"] in taken]
    return [_insert(target, table, part) for part in (keep_id, renumber) if part]


def _refers_to_users(table: Table) -> bool:
    return any(fk.column.table is t.users for fk in table.foreign_keys)


async def _user_ids(source: SqlMetadataStore, target: SqlMetadataStore) -> dict[int, int]:
    """Each source user's id → the id of the user of that name in the target."""
    query = select(t.users.c.id, t.users.c.username)
    async with source.engine.connect() as conn:
        names = {row.id: row.username for row in await conn.execute(query)}
    async with target.engine.connect() as conn:
        ids = {row.username: row.id for row in await conn.execute(query)}
    return {user_id: ids[name] for user_id, name in names.items() if name in ids}


async def _max_id(store: SqlMetadataStore, table: Table) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.max(table.c.id)))).scalar() or 0)


async def _advance_sequence(target: SqlMetadataStore, table: Table, floor: int) -> None:
    """Move PostgreSQL's id sequence past every id in the table and past `floor`: copied rows
    keep their ids, and the next insert must not collide with them. (SQLite takes the
    largest id plus one by itself.)"""
    if target.is_sqlite:
        return
    name = target.engine.dialect.identifier_preparer.quote(table.name)
    async with target.transaction() as tx:
        await tx.connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:table, 'id'), "
                f"GREATEST(COALESCE((SELECT MAX(id) FROM {name}), 0), :floor) + 1, false)"
            ),
            {"table": name, "floor": floor},
        )


def _insert(target: SqlMetadataStore, table: Table, rows: list[dict[str, Any]]) -> Any:
    insert = (sqlite.insert if target.is_sqlite else postgresql.insert)(table).values(rows)
    if table is t.tags:
        return insert.on_conflict_do_update(
            index_elements=[t.tags.c.repository, t.tags.c.name],
            set_={"digest": insert.excluded.digest, "updated_at": insert.excluded.updated_at},
        )
    return insert.on_conflict_do_nothing()
