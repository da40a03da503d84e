"""Copying metadata between backends (what `dockyard migrate` does after the blobs): every row
arrives, ids keep counting past the copied ones, and a second copy brings over what both sides
wrote meanwhile without mixing one side's users up with the other's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, select

from dockyard.meta import schema as t
from dockyard.meta import transfer
from dockyard.meta.auth_records import (
    AccessTokenRecord,
    AuditQuery,
    AuditRecord,
    NewUser,
    ProjectRecord,
    RoleRecord,
    SigningKeyRecord,
)
from dockyard.meta.sql import SqlMetadataStore
from dockyard.testing.metadata_auth_suite import robot
from dockyard.testing.metadata_suite import audit_entries
from tests.conftest import PG_URL

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite-to-postgresql", "postgresql-to-sqlite"])
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path, pg_schema: str
) -> AsyncIterator[tuple[SqlMetadataStore, SqlMetadataStore]]:
    sqlite = SqlMetadataStore(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    postgresql = SqlMetadataStore(PG_URL, schema=pg_schema)
    for store in (sqlite, postgresql):
        await store.upgrade()
        await store.open()
    pair = (sqlite, postgresql) if request.param == "sqlite-to-postgresql" else (postgresql, sqlite)
    yield pair
    for store in pair:
        await store.close()


async def seed(store: SqlMetadataStore) -> None:
    async with store.transaction() as tx:
        ids, acc = tx.identities, tx.access
        admin = await ids.add_user(NewUser("admin", password_hash="argon", is_admin=True))
        alice = await ids.add_user(NewUser("alice", email="a@x.test", password_hash="argon2"))
        bob = await ids.add_user(NewUser("bob", source="oidc", subject="sub-bob"))
        await ids.add_group("devs", "Developers")
        await ids.add_member("devs", alice.id)
        await ids.set_groups(bob.id, "oidc", ["ops", "devs"])
        await ids.add_token(AccessTokenRecord("tok-alice", alice.id, "ci", 5.0, "h"))
        await ids.add_token(AccessTokenRecord("tok-admin", admin.id, "laptop", 6.0, "h"))
        await acc.add_project(ProjectRecord("team", False, 1.0, "admin"))
        await acc.add_project(ProjectRecord("pub", True, 2.0))
        await acc.add_role(RoleRecord("deployer", ("pull", "push")))
        await acc.add_grant("team", "user", "alice", "developer", "*")
        await acc.add_grant("team", "group", "ops", "guest", "team/web-*")
        await acc.add_grant("pub", "user", "bob", "maintainer", "*")
        await acc.add_robot(robot("robot$team+ci", "team"))
        await acc.add_robot(robot("robot$backup", None))
        for entry in audit_entries():
            await tx.audit.add(entry)
        await tx.keys.add(SigningKeyRecord("k1", "es256", "pem", 10.0))


async def copy_all(source: SqlMetadataStore, target: SqlMetadataStore) -> dict[str, int]:
    return {
        table.name: await transfer.copy_table(source, target, table)
        for table in transfer.ROW_TABLES
    }


async def rows(store: SqlMetadataStore, table: Table) -> list[dict[str, Any]]:
    async with store.engine.connect() as conn:
        found = await conn.execute(select(table).order_by(*table.primary_key.columns))
        return [dict(row._mapping) for row in found]


async def test_every_auth_row_arrives_and_new_ids_follow_the_copied_ones(
    stores: tuple[SqlMetadataStore, SqlMetadataStore],
) -> None:
    source, target = stores
    await seed(source)
    counts = await copy_all(source, target)
    assert (counts["users"], counts["audit_log"], counts["project_grants"]) == (3, 6, 3)
    for table in transfer.ROW_TABLES:
        assert await rows(target, table) == await rows(source, table), table.name
    assert await copy_all(source, target) == counts  # again: nothing new, nothing doubled
    for table in transfer.ROW_TABLES:
        assert await rows(target, table) == await rows(source, table), table.name

    async with target.transaction() as tx:
        carol = await tx.identities.add_user(NewUser("carol"))
        grant = await tx.access.add_grant("team", "user", "carol", "guest", "*")
        await tx.audit.add(AuditRecord(200.0, "carol", "user", "login", "ok"))
    async with target.transaction(readonly=True) as tx:
        assert carol.id > max(r["id"] for r in await rows(source, t.users))
        assert grant.id > max(r["id"] for r in await rows(source, t.project_grants))
        newest = (await tx.audit.query(AuditQuery(limit=1)))[0]
        assert (newest.actor, newest.id) == ("carol", 7)
        alice = await tx.identities.user("alice")
        assert await tx.identities.groups_of(alice.id) == ["devs"]
        assert [t.id for t in await tx.identities.tokens_of(alice.id)] == ["tok-alice"]


async def test_a_second_copy_brings_what_both_sides_wrote_meanwhile(
    stores: tuple[SqlMetadataStore, SqlMetadataStore],
) -> None:
    """Between a first run and the switch, people keep using the source, and someone tries the
    target out. Both hand out the same next ids."""
    source, target = stores
    await seed(source)
    await copy_all(source, target)
    for store, name, group in ((source, "dave", "devs"), (target, "tester", "qa")):
        async with store.transaction() as tx:
            user = await tx.identities.add_user(NewUser(name, password_hash=f"hash-{name}"))
            await tx.identities.add_member(group, user.id)
            await tx.identities.add_token(AccessTokenRecord(f"tok-{name}", user.id, "ci", 7.0, "h"))
            await tx.access.add_grant("team", "user", name, "developer", f"team/{name}")
            await tx.audit.add(AuditRecord(300.0, name, "user", "user.create", "ok"))

    await copy_all(source, target)
    await copy_all(source, target)  # and once more: still nothing doubled

    async with target.transaction(readonly=True) as tx:
        ids = tx.identities
        dave, tester = await ids.user("dave"), await ids.user("tester")
        assert dave is not None and dave.password_hash == "hash-dave"
        assert tester is not None and tester.password_hash == "hash-tester"
        assert dave.id != tester.id
        assert await ids.groups_of(dave.id) == ["devs"]
        assert await ids.groups_of(tester.id) == ["qa"]
        assert (await ids.token("tok-dave")).user_id == dave.id
        assert [t.id for t in await ids.tokens_of(tester.id)] == ["tok-tester"]
        grants = {(g.subject, g.repositories) for g in await tx.access.grants("team")}
        assert {("dave", "team/dave"), ("tester", "team/tester")} <= grants
        assert len(grants) == 4
        entries = await tx.audit.query(AuditQuery(action="user.create"))
        assert sorted(e.actor for e in entries) == ["dave", "tester"]
        assert len(await tx.audit.query(AuditQuery())) == len(audit_entries()) + 2
        assert await ids.count_users() == 5
