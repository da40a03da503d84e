"""One schema for SQLite and PostgreSQL (SQLAlchemy Core), every table as `t.<name>`.

The registry's content tables are defined here; the access-control and supply-chain tables in
meta/schema_access.py and meta/schema_supply_chain.py, all on one MetaData
(meta/schema_base.py). Callers import every table from here
(`from dockyard.meta import schema as t`), and `metadata` here holds them all, which is what
Alembic compares the migrations with.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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

from dockyard.meta.schema_access import (
    access_tokens,
    audit_log,
    groups,
    login_failures,
    project_grants,
    projects,
    robots,
    roles,
    sessions,
    signing_keys,
    user_groups,
    users,
)
from dockyard.meta.schema_base import DIGEST, NAME, metadata
from dockyard.meta.schema_supply_chain import (
    advisories,
    advisory_packages,
    project_policies,
    scan_findings,
    scan_reports,
    scan_status,
    vulndb_imports,
    vulnerability_allowlist,
)

__all__ = [
    "DIGEST",
    "NAME",
    "TAG",
    "access_tokens",
    "advisories",
    "advisory_packages",
    "audit_log",
    "blob_links",
    "blobs",
    "daily_usage",
    "groups",
    "jobs",
    "login_failures",
    "manifest_pulls",
    "manifest_references",
    "manifests",
    "metadata",
    "outbox",
    "project_grants",
    "project_policies",
    "projects",
    "repositories",
    "robots",
    "roles",
    "scan_findings",
    "scan_reports",
    "scan_status",
    "sessions",
    "signing_keys",
    "tags",
    "uploads",
    "user_groups",
    "users",
    "vulndb_imports",
    "vulnerability_allowlist",
]

repositories = Table(
    "repositories",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("created_at", Float, nullable=False),
    # Usage, kept up to date by registry/usage.py: pushes in the push's transaction, pulls
    # counted in memory and added every few seconds. 0 in last_pushed_at means never.
    Column("project", NAME),  # the first path segment of the name
    Column("pulls", BigInteger, nullable=False, server_default="0"),
    Column("pushes", BigInteger, nullable=False, server_default="0"),
    Column("last_pushed_at", Float, nullable=False, server_default="0"),
    Column("last_pulled_at", Float),
    Index("ix_repositories_project_name", "project", "name"),
    Index("ix_repositories_project_pulls", "project", "pulls", "name"),
    Index("ix_repositories_project_pushed", "project", "last_pushed_at", "name"),
    Index("ix_repositories_pulls", "pulls", "name"),
)

blobs = Table(
    "blobs",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("path", String(300), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_blobs_path", "path"),
)

blob_links = Table(
    "blob_links",
    metadata,
    Column("repository", NAME, primary_key=True),
    Column("digest", DIGEST, primary_key=True),
    Column("created_at", Float, nullable=False),
    ForeignKeyConstraint(["repository"], ["repositories.name"], ondelete="CASCADE"),
    ForeignKeyConstraint(["digest"], ["blobs.digest"]),
    Index("ix_blob_links_digest", "digest"),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("repository", NAME, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("hash_state", LargeBinary),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # No foreign key: a repository exists once content is in it, not when an upload starts.
    Index("ix_uploads_updated_at", "updated_at"),
)

manifests = Table(
    "manifests",
    metadata,
    Column("repository", NAME, primary_key=True),
    Column("digest", DIGEST, primary_key=True),
    Column("media_type", String(255), nullable=False),
    Column("artifact_type", String(255)),
    Column("subject", DIGEST),
    Column("size", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("annotations", Text),
    Column("created_at", Float, nullable=False),
    ForeignKeyConstraint(["repository"], ["repositories.name"], ondelete="CASCADE"),
    # Referrers of a subject in push order, straight from the index.
    Index("ix_manifests_subject", "repository", "subject", "created_at", "digest"),
    # Newest first listings, and a repository's manifest bytes summed from the index alone.
    Index("ix_manifests_pushed", "repository", "created_at", "digest", "size"),
    # Whether any repository still holds a digest (what is kept per digest: scan reports).
    Index("ix_manifests_digest", "digest"),
)

manifest_references = Table(
    "manifest_references",
    metadata,
    Column("repository", NAME, primary_key=True),
    Column("manifest", DIGEST, primary_key=True),
    Column("digest", DIGEST, primary_key=True),
    Column("kind", String(16), nullable=False),
    ForeignKeyConstraint(
        ["repository", "manifest"],
        ["manifests.repository", "manifests.digest"],
        ondelete="CASCADE",
    ),
    Index("ix_manifest_references_digest", "digest"),
)

# Tags are listed in byte order (the spec's "lexical"); on PostgreSQL the column says so itself,
# so that the primary key serves `ORDER BY name COLLATE "C"` pages instead of a sort of them all.
TAG = String(128).with_variant(String(128, collation="C"), "postgresql")

tags = Table(
    "tags",
    metadata,
    Column("repository", NAME, primary_key=True),
    Column("name", TAG, primary_key=True),
    Column("digest", DIGEST, nullable=False),
    Column("updated_at", Float, nullable=False),
    ForeignKeyConstraint(
        ["repository", "digest"],
        ["manifests.repository", "manifests.digest"],
        ondelete="CASCADE",
    ),
    Index("ix_tags_digest", "repository", "digest", "name"),  # an artifact's tags, in order
)

# Pulls per manifest (no foreign key: counts flushed after a delete must not fail the flush).
manifest_pulls = Table(
    "manifest_pulls",
    metadata,
    Column("repository", NAME, primary_key=True),
    Column("digest", DIGEST, primary_key=True),
    Column("pulls", BigInteger, nullable=False),
    Column("last_pulled_at", Float, nullable=False),
)

# Pulls and pushes per repository and day (days since the epoch, UTC).
daily_usage = Table(
    "daily_usage",
    metadata,
    Column("repository", NAME, primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("pulls", BigInteger, nullable=False, server_default="0"),
    Column("pushes", BigInteger, nullable=False, server_default="0"),
    Index("ix_daily_usage_day", "day"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(100), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
    Index("ix_outbox_pending", "delivered_at", "id"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("next_run_at", Float, nullable=False),
    Column("lease_owner", String(200)),
    Column("lease_until", Float),
    Column("last_run_at", Float),
    Column("last_error", Text),
)
