"""The sub-stores a SQL transaction carries; each is a few indexed statements."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from dockyard.meta import schema as t
from dockyard.meta.records import (
    BlobRecord,
    ManifestRecord,
    ManifestReference,
    OutboxEvent,
    UploadRecord,
)


class _SubStore:
    def __init__(self, conn: AsyncConnection, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect

    def _insert(self, table: Table) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def _lexical(self, column: Any) -> ColumnElement[Any]:
        # PostgreSQL's default collation is locale-aware; the spec wants plain lexical order.
        return column.collate("C") if self.dialect == "postgresql" else column


class SqlRepos(_SubStore):
    async def ensure(self, name: str) -> None:
        stmt = self._insert(t.repositories).values(
            name=name, created_at=time.time(), project=name.split("/", 1)[0]
        )
        await self.conn.execute(stmt.on_conflict_do_nothing())

    async def exists(self, name: str) -> bool:
        row = await self.conn.execute(
            select(t.repositories.c.name).where(t.repositories.c.name == name)
        )
        return row.first() is not None

    async def delete_if_empty(self, name: str) -> bool:
        """Forget a repository that holds no manifest and no blob any more."""
        in_use = [
            select(table.c.repository).where(table.c.repository == name).limit(1)
            for table in (t.manifests, t.blob_links)
        ]
        for query in in_use:
            if (await self.conn.execute(query)).first() is not None:
                return False
        stmt = delete(t.repositories).where(t.repositories.c.name == name)
        result = await self.conn.execute(stmt)
        return bool(result.rowcount)

    async def list(self, last: str | None, limit: int | None) -> list[str]:
        name = self._lexical(t.repositories.c.name)
        query = select(t.repositories.c.name).order_by(name)
        if last:
            query = query.where(name > last)
        if limit is not None:
            query = query.limit(limit)
        return list((await self.conn.execute(query)).scalars())


class SqlBlobs(_SubStore):
    async def add(self, digest: str, size: int, path: str) -> str:
        stmt = self._insert(t.blobs).values(
            digest=digest, size=size, path=path, created_at=time.time()
        )
        await self.conn.execute(stmt.on_conflict_do_nothing())
        query = select(t.blobs.c.path).where(t.blobs.c.digest == digest)
        return str((await self.conn.execute(query)).scalar_one())

    async def set_path(self, digest: str, path: str) -> None:
        await self.conn.execute(update(t.blobs).where(t.blobs.c.digest == digest).values(path=path))

    async def at_path(self, path: str) -> bool:
        query = select(t.blobs.c.digest).where(t.blobs.c.path == path).limit(1)
        return (await self.conn.execute(query)).first() is not None

    async def get(self, digest: str) -> BlobRecord | None:
        query = select(t.blobs.c.size, t.blobs.c.path).where(t.blobs.c.digest == digest)
        row = (await self.conn.execute(query)).first()
        return BlobRecord(digest, row.size, row.path) if row else None

    async def link(self, repository: str, digest: str) -> None:
        stmt = self._insert(t.blob_links).values(
            repository=repository, digest=digest, created_at=time.time()
        )
        await self.conn.execute(stmt.on_conflict_do_nothing())

    async def linked(self, repository: str, digest: str) -> BlobRecord | None:
        query = (
            select(t.blobs.c.size, t.blobs.c.path)
            .select_from(t.blob_links.join(t.blobs, t.blob_links.c.digest == t.blobs.c.digest))
            .where(t.blob_links.c.repository == repository, t.blob_links.c.digest == digest)
        )
        row = (await self.conn.execute(query)).first()
        return BlobRecord(digest, row.size, row.path) if row else None

    async def unlink(self, repository: str, digest: str) -> bool:
        result = await self.conn.execute(
            delete(t.blob_links).where(
                t.blob_links.c.repository == repository, t.blob_links.c.digest == digest
            )
        )
        return bool(result.rowcount)

    async def missing(self, repository: str, digests: Sequence[str]) -> list[str]:
        if not digests:
            return []
        query = select(t.blob_links.c.digest).where(
            t.blob_links.c.repository == repository, t.blob_links.c.digest.in_(set(digests))
        )
        present = set((await self.conn.execute(query)).scalars())
        return [d for d in dict.fromkeys(digests) if d not in present]


class SqlUploads(_SubStore):
    async def create(self, upload_id: str, repository: str) -> UploadRecord:
        stamp = time.time()
        await self.conn.execute(
            t.uploads.insert().values(
                id=upload_id, repository=repository, size=0, created_at=stamp, updated_at=stamp
            )
        )
        return UploadRecord(upload_id, repository, 0, stamp, stamp)

    async def get(self, upload_id: str, repository: str) -> UploadRecord | None:
        query = select(t.uploads).where(
            t.uploads.c.id == upload_id, t.uploads.c.repository == repository
        )
        return _upload((await self.conn.execute(query)).first())

    async def get_any(self, upload_id: str) -> UploadRecord | None:
        query = select(t.uploads).where(t.uploads.c.id == upload_id)
        return _upload((await self.conn.execute(query)).first())

    async def set_size(self, upload_id: str, size: int, hash_state: bytes) -> bool:
        result = await self.conn.execute(
            update(t.uploads)
            .where(t.uploads.c.id == upload_id)
            .values(size=size, hash_state=hash_state, updated_at=time.time())
        )
        return bool(result.rowcount)

    async def delete(self, upload_id: str) -> bool:
        result = await self.conn.execute(delete(t.uploads).where(t.uploads.c.id == upload_id))
        return bool(result.rowcount)

    async def older_than(self, cutoff: float) -> list[UploadRecord]:
        query = select(t.uploads).where(t.uploads.c.updated_at < cutoff)
        return [_upload(row) for row in await self.conn.execute(query)]  # type: ignore[misc]


def _upload(row: Any) -> UploadRecord | None:
    if row is None:
        return None
    return UploadRecord(
        row.id, row.repository, row.size, row.created_at, row.updated_at, row.hash_state
    )


def _manifest(row: Any) -> ManifestRecord:
    return ManifestRecord(
        repository=row.repository,
        digest=row.digest,
        media_type=row.media_type,
        artifact_type=row.artifact_type,
        subject=row.subject,
        size=row.size,
        payload=bytes(row.payload),
        annotations=json.loads(row.annotations) if row.annotations else None,
        created_at=row.created_at,
    )


class SqlManifests(_SubStore):
    async def add(self, record: ManifestRecord, references: Sequence[ManifestReference]) -> bool:
        stmt = self._insert(t.manifests).values(
            repository=record.repository,
            digest=record.digest,
            media_type=record.media_type,
            artifact_type=record.artifact_type,
            subject=record.subject,
            size=record.size,
            payload=record.payload,
            annotations=json.dumps(record.annotations) if record.annotations else None,
            created_at=time.time(),
        )
        result = await self.conn.execute(stmt.on_conflict_do_nothing())
        if not result.rowcount:
            return False
        unique = {ref.digest: ref.kind for ref in references}
        if unique:
            await self.conn.execute(
                self._insert(t.manifest_references).on_conflict_do_nothing(),
                [
                    {
                        "repository": record.repository,
                        "manifest": record.digest,
                        "digest": digest,
                        "kind": kind,
                    }
                    for digest, kind in unique.items()
                ],
            )
        return True

    async def get(self, repository: str, digest: str) -> ManifestRecord | None:
        query = select(t.manifests).where(
            t.manifests.c.repository == repository, t.manifests.c.digest == digest
        )
        row = (await self.conn.execute(query)).first()
        return _manifest(row) if row else None

    async def get_by_tag(self, repository: str, tag: str) -> ManifestRecord | None:
        join = t.tags.join(
            t.manifests,
            and_(
                t.tags.c.repository == t.manifests.c.repository,
                t.tags.c.digest == t.manifests.c.digest,
            ),
        )
        query = (
            select(t.manifests)
            .select_from(join)
            .where(t.tags.c.repository == repository, t.tags.c.name == tag)
        )
        row = (await self.conn.execute(query)).first()
        return _manifest(row) if row else None

    async def delete(self, repository: str, digest: str) -> bool:
        result = await self.conn.execute(
            delete(t.manifests).where(
                t.manifests.c.repository == repository, t.manifests.c.digest == digest
            )
        )
        return bool(result.rowcount)

    async def missing(self, repository: str, digests: Sequence[str]) -> list[str]:
        if not digests:
            return []
        query = select(t.manifests.c.digest).where(
            t.manifests.c.repository == repository, t.manifests.c.digest.in_(set(digests))
        )
        present = set((await self.conn.execute(query)).scalars())
        return [d for d in dict.fromkeys(digests) if d not in present]

    async def referrers(
        self, repository: str, subject: str, artifact_type: str | None
    ) -> list[ManifestRecord]:
        query = (
            select(t.manifests)
            .where(t.manifests.c.repository == repository, t.manifests.c.subject == subject)
            .order_by(t.manifests.c.created_at, t.manifests.c.digest)
        )
        if artifact_type is not None:
            query = query.where(t.manifests.c.artifact_type == artifact_type)
        return [_manifest(row) for row in await self.conn.execute(query)]


class SqlTags(_SubStore):
    async def set(self, repository: str, tag: str, digest: str) -> None:
        stmt = self._insert(t.tags).values(
            repository=repository, name=tag, digest=digest, updated_at=time.time()
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.tags.c.repository, t.tags.c.name],
            set_={"digest": stmt.excluded.digest, "updated_at": stmt.excluded.updated_at},
        )
        await self.conn.execute(stmt)

    async def get(self, repository: str, tag: str) -> str | None:
        query = select(t.tags.c.digest).where(
            t.tags.c.repository == repository, t.tags.c.name == tag
        )
        return (await self.conn.execute(query)).scalar()

    async def list(self, repository: str, last: str | None, limit: int | None) -> list[str]:
        name = self._lexical(t.tags.c.name)
        query = select(t.tags.c.name).where(t.tags.c.repository == repository).order_by(name)
        if last:
            query = query.where(name > last)
        if limit is not None:
            query = query.limit(limit)
        return list((await self.conn.execute(query)).scalars())

    async def delete(self, repository: str, tag: str) -> bool:
        result = await self.conn.execute(
            delete(t.tags).where(t.tags.c.repository == repository, t.tags.c.name == tag)
        )
        return bool(result.rowcount)

    async def delete_pointing_to(self, repository: str, digest: str) -> list[str]:
        where = (t.tags.c.repository == repository, t.tags.c.digest == digest)
        names = list((await self.conn.execute(select(t.tags.c.name).where(*where))).scalars())
        if names:
            await self.conn.execute(delete(t.tags).where(*where))
        return sorted(names)


class SqlOutbox(_SubStore):
    async def add(self, topic: str, payload: dict[str, Any]) -> None:
        await self.conn.execute(
            t.outbox.insert().values(
                topic=topic, payload=json.dumps(payload, sort_keys=True), created_at=time.time()
            )
        )

    async def pending(self, limit: int) -> list[OutboxEvent]:
        query = (
            select(t.outbox)
            .where(t.outbox.c.delivered_at.is_(None))
            .order_by(t.outbox.c.id)
            .limit(limit)
        )
        return [
            OutboxEvent(r.id, r.topic, json.loads(r.payload), r.created_at)
            for r in await self.conn.execute(query)
        ]


class SqlJobs(_SubStore):
    async def ensure(self, name: str, first_run_at: float) -> None:
        stmt = self._insert(t.jobs).values(name=name, next_run_at=first_run_at)
        await self.conn.execute(stmt.on_conflict_do_nothing())

    async def claim(
        self, name: str, owner: str, now: float, lease_until: float, interval: float
    ) -> bool:
        # One conditional UPDATE: whichever process commits it first owns this run. A shorter
        # interval than the one the last run scheduled with takes effect at once.
        last_run = func.coalesce(t.jobs.c.last_run_at, 0.0)
        result = await self.conn.execute(
            update(t.jobs)
            .where(
                t.jobs.c.name == name,
                or_(t.jobs.c.next_run_at <= now, last_run + interval <= now),
                or_(
                    t.jobs.c.lease_until.is_(None),
                    t.jobs.c.lease_until < now,
                    # Its own lease outlives only a lost `finish`: one owner runs one job at a time.
                    t.jobs.c.lease_owner == owner,
                ),
            )
            .values(lease_owner=owner, lease_until=lease_until)
        )
        return bool(result.rowcount)

    async def finish(
        self, name: str, owner: str, now: float, next_run_at: float, error: str | None
    ) -> None:
        await self.conn.execute(
            update(t.jobs)
            .where(t.jobs.c.name == name, t.jobs.c.lease_owner == owner)
            .values(
                lease_owner=None,
                lease_until=None,
                last_run_at=now,
                next_run_at=next_run_at,
                last_error=error,
            )
        )

    async def get(self, name: str) -> dict[str, Any] | None:
        row = (await self.conn.execute(select(t.jobs).where(t.jobs.c.name == name))).first()
        return dict(row._mapping) if row else None
