"""Project supply-chain policies and vulnerability allow-lists (tx.policies): records and the
sub-store protocol.

Implemented for SQLite and PostgreSQL in meta/sql_policies.py; every backend passes
testing/metadata_policies_suite.py.
"""

from __future__ import annotations

from typing import Protocol


class PolicyStore(Protocol):
    """Filled in by the policy work (see sql_policies.py)."""
