"""tx.policies on SQLite and PostgreSQL (see meta/policy_store.py)."""

from __future__ import annotations

from dockyard.meta.sql_stores import _SubStore


class SqlPolicies(_SubStore):
    pass
