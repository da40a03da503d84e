"""Schema versions: upgrade with Alembic, and refuse to serve on a schema that does not match.

Every replica checks at start; only `dockyard db upgrade` (or, on the embedded SQLite default,
the automatic upgrade) changes the schema, under a lock so concurrent starts cannot race.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection


class SchemaMismatch(Exception):
    """The database schema is not the one this version of Dockyard needs."""


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: str | None
    head: str
    known: bool  # whether `current` is a revision this version of Dockyard knows

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("dockyard.meta") / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def status(connection: Connection) -> SchemaStatus:
    script = ScriptDirectory.from_config(alembic_config())
    current = MigrationContext.configure(connection).get_current_revision()
    try:
        known = current is None or script.get_revision(current) is not None
    except CommandError:
        known = False
    head = script.get_current_head()
    assert head is not None
    return SchemaStatus(current, head, known)


def upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


def check(connection: Connection, auto_upgrade: bool) -> SchemaStatus:
    """Upgrade when allowed and needed; raise SchemaMismatch when the schema cannot serve."""
    found = status(connection)
    if found.up_to_date:
        return found
    if not found.known:
        raise SchemaMismatch(
            f"the database schema is at revision {found.current}, which is newer than this "
            f"version of Dockyard knows (it needs {found.head}); upgrade Dockyard, or point it "
            "at another database"
        )
    if not auto_upgrade:
        raise SchemaMismatch(
            f"the database schema is at revision {found.current or 'none (empty database)'}, "
            f"but this version of Dockyard needs {found.head}; run `dockyard db upgrade` "
            "with the same --config first"
        )
    upgrade(connection)
    return status(connection)
