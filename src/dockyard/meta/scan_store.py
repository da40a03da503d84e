"""The scan queue, reports and findings (tx.scans): records and the sub-store protocol.

Implemented for SQLite and PostgreSQL in meta/sql_scans.py; every backend passes
testing/metadata_scans_suite.py.
"""

from __future__ import annotations

from typing import Protocol


class ScanStore(Protocol):
    """Filled in by the scan service's work (see sql_scans.py)."""
