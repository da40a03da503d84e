"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 05:27:59.431121
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(length=150), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.create_index("ix_blobs_path", ["path"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["delivered_at", "id"], unique=False)

    op.create_table(
        "repositories",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("hash_state", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.create_index("ix_uploads_updated_at", ["updated_at"], unique=False)

    op.create_table(
        "blob_links",
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=150), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["digest"],
            ["blobs.digest"],
        ),
        sa.ForeignKeyConstraint(["repository"], ["repositories.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("repository", "digest"),
    )
    with op.batch_alter_table("blob_links", schema=None) as batch_op:
        batch_op.create_index("ix_blob_links_digest", ["digest"], unique=False)

    op.create_table(
        "manifests",
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=150), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("artifact_type", sa.String(length=255), nullable=True),
        sa.Column("subject", sa.String(length=150), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("annotations", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["repository"], ["repositories.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("repository", "digest"),
    )
    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.create_index("ix_manifests_subject", ["repository", "subject"], unique=False)

    op.create_table(
        "manifest_references",
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("manifest", sa.String(length=150), nullable=False),
        sa.Column("digest", sa.String(length=150), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository", "manifest"],
            ["manifests.repository", "manifests.digest"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository", "manifest", "digest"),
    )
    with op.batch_alter_table("manifest_references", schema=None) as batch_op:
        batch_op.create_index("ix_manifest_references_digest", ["digest"], unique=False)

    op.create_table(
        "tags",
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=150), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository", "digest"],
            ["manifests.repository", "manifests.digest"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository", "name"),
    )


def downgrade() -> None:
    op.drop_table("tags")
    with op.batch_alter_table("manifest_references", schema=None) as batch_op:
        batch_op.drop_index("ix_manifest_references_digest")

    op.drop_table("manifest_references")
    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.drop_index("ix_manifests_subject")

    op.drop_table("manifests")
    with op.batch_alter_table("blob_links", schema=None) as batch_op:
        batch_op.drop_index("ix_blob_links_digest")

    op.drop_table("blob_links")
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_index("ix_uploads_updated_at")

    op.drop_table("uploads")
    op.drop_table("repositories")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")

    op.drop_table("outbox")
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.drop_index("ix_blobs_path")

    op.drop_table("blobs")
