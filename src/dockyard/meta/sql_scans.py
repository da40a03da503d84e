"""tx.scans on SQLite and PostgreSQL (see meta/scan_store.py)."""

from __future__ import annotations

from dockyard.meta.sql_stores import _SubStore


class SqlScans(_SubStore):
    pass
