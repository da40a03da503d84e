"""tx.scans on SQLite and PostgreSQL (see meta/scan_store.py for the protocol).

One object API over two modules with one job each: the queue (meta/sql_scan_queue.py) and the
reports, findings and registry-wide views (meta/sql_scan_reports.py).
"""

from __future__ import annotations

from dockyard.meta.sql_scan_queue import SqlScanQueue
from dockyard.meta.sql_scan_reports import SqlScanReports


class SqlScans(SqlScanQueue, SqlScanReports):
    """tx.scans: the queue and the reports share a connection and a dialect."""
