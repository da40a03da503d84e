"""The MetadataStore over SQLAlchemy Core: SQLite (embedded) and PostgreSQL (scale-out).

SQLite allows one writer at a time; concurrent async writers on separate connections collapse
to a few dozen transactions a second (DESIGN.md, facts), so on SQLite write transactions take a
process-wide lock and `BEGIN IMMEDIATE`, while read transactions run alongside them under WAL.

Read transactions on a SQLite file run inline in the event loop on plain `sqlite3` connections
(`PRAGMA query_only`): an indexed read takes tens of microseconds there, while each statement
through aiosqlite's thread costs a round trip of hundreds (bench/README.md: manifest GET).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, cast

from sqlalchemy import Connection, Engine, create_engine, event, exc, make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from dockyard.meta import migrate
from dockyard.meta.base import MetadataUnavailable
from dockyard.meta.migrate import SchemaStatus
from dockyard.meta.sql_access import SqlAccess
from dockyard.meta.sql_advisories import SqlAdvisories
from dockyard.meta.sql_auth import SqlAudit, SqlKeys, SqlSessions, SqlThrottle
from dockyard.meta.sql_identities import SqlIdentities
from dockyard.meta.sql_inventory import SqlInventory
from dockyard.meta.sql_policies import SqlPolicies
from dockyard.meta.sql_scans import SqlScans
from dockyard.meta.sql_stores import (
    SqlBlobs,
    SqlJobs,
    SqlManifests,
    SqlOutbox,
    SqlRepos,
    SqlTags,
    SqlUploads,
)
from dockyard.meta.sql_usage import SqlUsage


class SqlTransaction:
    def __init__(self, conn: AsyncConnection) -> None:
        dialect = conn.dialect.name
        self.connection = conn
        self.repos = SqlRepos(conn, dialect)
        self.blobs = SqlBlobs(conn, dialect)
        self.uploads = SqlUploads(conn, dialect)
        self.manifests = SqlManifests(conn, dialect)
        self.tags = SqlTags(conn, dialect)
        self.outbox = SqlOutbox(conn, dialect)
        self.jobs = SqlJobs(conn, dialect)
        self.identities = SqlIdentities(conn, dialect)
        self.access = SqlAccess(conn, dialect)
        self.audit = SqlAudit(conn, dialect)
        self.throttle = SqlThrottle(conn, dialect)
        self.keys = SqlKeys(conn, dialect)
        self.sessions = SqlSessions(conn, dialect)
        self.usage = SqlUsage(conn, dialect)
        self.inventory = SqlInventory(conn, dialect)
        self.advisories = SqlAdvisories(conn, dialect)
        self.scans = SqlScans(conn, dialect)
        self.policies = SqlPolicies(conn, dialect)
        self.after_commit: list[Any] = []


class _InlineConnection:
    """A synchronous connection behind the awaitable `execute` the sub-stores call."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.dialect = conn.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._conn.execute(statement, parameters)


class SqlMetadataStore:
    def __init__(
        self, url: str, *, schema: str | None = None, sqlite_synchronous: str = "FULL"
    ) -> None:
        self.url = url
        self.schema = schema
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._sqlite_synchronous = sqlite_synchronous
        self.engine: AsyncEngine = self._create_engine()
        self._reader: Engine | None = self._create_reader()

    def _create_reader(self) -> Engine | None:
        """Plain sqlite3 connections for inline read transactions (file databases only)."""
        url = make_url(self.url)
        if not self.is_sqlite or url.database in (None, "", ":memory:") or url.query.get("mode"):
            return None
        # Unbounded overflow: a pool that made the event loop wait for a connection would wait
        # forever. The short busy timeout only matters while SQLite recovers a crashed WAL.
        reader = create_engine(
            url.set(drivername="sqlite+pysqlite"),
            connect_args={"timeout": 5},
            pool_size=8,
            max_overflow=-1,
        )

        @event.listens_for(reader, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA query_only=ON")
            cursor.close()

        @event.listens_for(reader, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")  # one snapshot for every statement of the transaction

        return reader

    def _create_engine(self) -> AsyncEngine:
        if self.is_sqlite:
            engine = create_async_engine(
                self.url, connect_args={"timeout": 30}, pool_size=8, max_overflow=8
            )
            _configure_sqlite(engine, self._sqlite_synchronous)
            return engine
        connect_args: dict[str, Any] = {"command_timeout": 30, "timeout": 10}
        if self.schema:
            connect_args["server_settings"] = {"search_path": self.schema}
        return create_async_engine(
            self.url,
            connect_args=connect_args,
            pool_size=10,
            max_overflow=20,
            pool_pre_ping=True,
        )

    async def open(self, auto_upgrade: bool | None = None) -> SchemaStatus:
        """Connect and check the schema; upgrade it first when allowed.

        `auto_upgrade` defaults to True on SQLite (the embedded registry needs no setup step)
        and False on PostgreSQL, where `dockyard db upgrade` is a deliberate deployment step.
        """
        auto = self.is_sqlite if auto_upgrade is None else auto_upgrade
        return await self._with_schema(lambda conn: migrate.check(conn, auto))

    async def upgrade(self) -> SchemaStatus:
        """Bring the schema to the version this Dockyard needs."""

        def run(conn: Connection) -> SchemaStatus:
            migrate.upgrade(conn)
            return migrate.status(conn)

        return await self._with_schema(run)

    async def _with_schema(self, work: Callable[[Connection], SchemaStatus]) -> SchemaStatus:
        try:
            async with self._begin(immediate=True) as tx:
                # Several workers or replicas start at once; one migrates, the others wait.
                if not self.is_sqlite:
                    await tx.connection.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
                return await tx.connection.run_sync(work)
        except (exc.OperationalError, exc.InterfaceError, OSError) as err:
            raise MetadataUnavailable(f"cannot open the metadata database: {err}") from err

    async def close(self) -> None:
        await self.engine.dispose()
        if self._reader is not None:
            self._reader.dispose()

    @asynccontextmanager
    async def transaction(self, readonly: bool = False) -> AsyncIterator[SqlTransaction]:
        if self._write_lock is not None and not readonly:
            async with self._write_lock, self._begin(immediate=True) as tx:
                yield tx
        elif readonly and self._reader is not None:
            with self._read_inline() as tx:
                yield tx
        else:
            async with self._begin(immediate=False) as tx:
                yield tx
        for callback in tx.after_commit:
            callback()

    @asynccontextmanager
    async def _begin(self, immediate: bool) -> AsyncIterator[SqlTransaction]:
        try:
            conn = await self.engine.connect()
        except (exc.OperationalError, exc.InterfaceError, OSError) as err:
            raise MetadataUnavailable(f"metadata database unavailable: {err}") from err
        try:
            if immediate:
                await conn.execution_options(sqlite_immediate=True)
            async with conn.begin():
                yield SqlTransaction(conn)
        except exc.DBAPIError as err:
            if not _is_outage(err):
                raise
            raise MetadataUnavailable(f"metadata database error: {err.orig}") from err
        finally:
            await conn.close()

    @contextmanager
    def _read_inline(self) -> Iterator[SqlTransaction]:
        assert self._reader is not None
        try:
            with self._reader.connect() as conn, conn.begin():
                # Duck-typed: the sub-stores only call `await conn.execute(...)` and `.dialect`.
                yield SqlTransaction(cast(AsyncConnection, _InlineConnection(conn)))
        except exc.DBAPIError as err:
            if not _is_outage(err):
                raise
            raise MetadataUnavailable(f"metadata database error: {err.orig}") from err


def _is_outage(err: exc.DBAPIError) -> bool:
    # asyncpg reports a connection dropped mid-statement as a plain DBAPIError, which SQLAlchemy
    # flags as a disconnect; it is as much an outage as a refused connection.
    return err.connection_invalidated or isinstance(err, (exc.OperationalError, exc.InterfaceError))


def _configure_sqlite(engine: AsyncEngine, synchronous: str) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot start IMMEDIATE ones.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def now() -> float:
    return time.time()
