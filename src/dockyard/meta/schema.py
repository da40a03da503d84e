"""One schema for SQLite and PostgreSQL (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

NAME = String(255)
DIGEST = String(150)

repositories = Table(
    "repositories",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("created_at", Float, nullable=False),
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
    Index("ix_manifests_subject", "repository", "subject"),
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

tags = Table(
    "tags",
    metadata,
    Column("repository", NAME, primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("digest", DIGEST, nullable=False),
    Column("updated_at", Float, nullable=False),
    ForeignKeyConstraint(
        ["repository", "digest"],
        ["manifests.repository", "manifests.digest"],
        ondelete="CASCADE",
    ),
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
