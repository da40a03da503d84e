"""The supply-chain tables: vulnerability database, scans, and the policies acting on them.

Advisories and their imports, scan status, reports and findings, per-project policies and
allow-lists. Apart from the registry's content tables (meta/schema.py, which re-exports these
as `t.<name>`) because they serve the scanning features and change with them, not with the
registry's storage of images.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from dockyard.meta.schema_base import DIGEST, NAME, metadata

# --- vulnerability database -----------------------------------------------------------------
# OSV advisories shared by every replica (dockyard.ext.scanning.vulndb imports them). An import
# replaces one ecosystem's advisories ("feed") in one transaction.

advisories = Table(
    "advisories",
    metadata,
    Column("id", String(100), primary_key=True),  # GHSA-…, PYSEC-…, GO-…, DSA-…
    Column("feed", String(50), nullable=False),  # the ecosystem whose import wrote the row
    Column("modified", String(40), nullable=False),  # RFC 3339, as the advisory says
    Column("published", String(40)),
    Column("withdrawn", String(40)),
    Column("summary", Text),
    Column("severity", String(16), nullable=False),  # CRITICAL … UNKNOWN
    Column("score", Float),  # CVSS base score, when the advisory has a vector
    Column("aliases", Text, nullable=False),  # JSON list: CVE-…, GHSA-…
    Column("body", Text, nullable=False),  # compact OSV JSON: what matching and reports use
    Index("ix_advisories_feed", "feed"),
)

# Where each advisory is found: (ecosystem without release, package name as matched: PEP 503
# for PyPI, the source package for distributions). Withdrawn advisories have no rows here.
advisory_packages = Table(
    "advisory_packages",
    metadata,
    Column("ecosystem", String(50), primary_key=True),
    Column("name", String(300), primary_key=True),
    Column("advisory_id", String(100), primary_key=True),
    ForeignKeyConstraint(["advisory_id"], ["advisories.id"], ondelete="CASCADE"),
    Index("ix_advisory_packages_advisory", "advisory_id"),
)

# One row per import; the newest row's db_version is the version every scan report cites.
vulndb_imports = Table(
    "vulndb_imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("imported_at", Float, nullable=False),
    Column("source", Text, nullable=False),
    Column("feeds", Text, nullable=False),  # JSON {ecosystem: {advisories, withdrawn, hash}}
    Column("state", Text, nullable=False),  # JSON {ecosystem: content hash} after the import
    Column("db_version", String(64), nullable=False),
)

# --- scanning: status, reports, findings -----------------------------------------------------
# One status row per artifact a scan was asked for; a worker claims a queued row with a lease
# (exactly once across replicas), like the jobs table. Gone with the manifest.
scan_status = Table(
    "scan_status",
    metadata,
    Column("repository", NAME, primary_key=True),
    Column("digest", DIGEST, primary_key=True),
    Column("state", String(16), nullable=False),  # queued, running, done, failed
    Column("reason", String(16), nullable=False),  # push, manual, rescan
    Column("queued_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("progress_done", Integer, nullable=False, server_default="0"),
    Column("progress_total", Integer, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("lease_owner", String(200)),
    Column("lease_until", Float),
    Column("error", Text),
    ForeignKeyConstraint(
        ["repository", "digest"],
        ["manifests.repository", "manifests.digest"],
        ondelete="CASCADE",
    ),
    Index("ix_scan_status_state", "state", "queued_at"),
    # Reports and findings are per digest: which repositories hold a reported image.
    Index("ix_scan_status_digest", "digest"),
)

# The newest report per image manifest (one platform) and scanner: content-addressed, so one
# report serves every repository holding the digest. Severity counts are columns so the
# registry-wide breakdown is one aggregate query.
scan_reports = Table(
    "scan_reports",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("scanner", String(100), primary_key=True),  # name/version
    Column("db_version", String(64), nullable=False),
    Column("scanned_at", Float, nullable=False),
    Column("packages", Integer, nullable=False),
    Column("critical", Integer, nullable=False),
    Column("high", Integer, nullable=False),
    Column("medium", Integer, nullable=False),
    Column("low", Integer, nullable=False),
    Column("unknown", Integer, nullable=False),  # UNKNOWN and NONE
    Column("report", LargeBinary, nullable=False),  # gzip JSON: inventory, findings, problems
    Index("ix_scan_reports_db_version", "db_version"),
    # The most exposed images, read in order instead of sorting every report.
    Index("ix_scan_reports_exposure", "critical", "high", "medium", "low"),
)

# Every finding of the newest reports, one row per (image, advisory, package): which images an
# advisory affects, the most exposed images, allow-lists applied in SQL. first_seen_at tells a
# newly imported advisory's findings from old ones.
scan_findings = Table(
    "scan_findings",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("advisory_id", String(100), primary_key=True),
    Column("package", String(300), primary_key=True),
    Column("version", String(255), primary_key=True),
    Column("ecosystem", String(50), nullable=False),
    Column("severity", Integer, nullable=False),  # Severity's value: 5 critical … 0 unknown
    Column("fixed", String(255)),
    Column("first_seen_at", Float, nullable=False),
    Index("ix_scan_findings_advisory", "advisory_id"),
    Index("ix_scan_findings_first_seen", "first_seen_at"),
)

# --- supply-chain policies -------------------------------------------------------------------

project_policies = Table(
    "project_policies",
    metadata,
    Column("project", NAME, primary_key=True),
    Column("scan_on_push", Boolean, nullable=False),
    Column("require_signature", Boolean, nullable=False),  # by one of trusted_keys
    Column("max_severity", String(16)),  # refuse pulls with a finding at or above; NULL: off
    Column("deny_unscanned", Boolean, nullable=False),
    Column("trusted_keys", Text, nullable=False),  # JSON list of PEM public keys
    Column("updated_at", Float, nullable=False),
    ForeignKeyConstraint(["project"], ["projects.name"], ondelete="CASCADE"),
)

# Advisories a project (or, with project "", the whole registry) accepts, until they expire.
vulnerability_allowlist = Table(
    "vulnerability_allowlist",
    metadata,
    Column("project", NAME, primary_key=True),
    Column("advisory_id", String(100), primary_key=True),
    Column("expires_at", Float),  # NULL: no expiry
    Column("reason", Text),
    Column("created_by", NAME),
    Column("created_at", Float, nullable=False),
)
