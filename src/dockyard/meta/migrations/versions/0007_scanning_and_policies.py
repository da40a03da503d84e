"""scan status, reports and findings; project supply-chain policies and allow-lists

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NAME = sa.String(length=255)
DIGEST = sa.String(length=150)


def upgrade() -> None:
    op.create_table(
        "scan_status",
        sa.Column("repository", NAME, nullable=False),
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("queued_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("progress_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("progress_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["repository", "digest"],
            ["manifests.repository", "manifests.digest"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository", "digest"),
    )
    with op.batch_alter_table("scan_status", schema=None) as batch_op:
        batch_op.create_index("ix_scan_status_state", ["state", "queued_at"], unique=False)
        batch_op.create_index("ix_scan_status_digest", ["digest"], unique=False)

    op.create_table(
        "scan_reports",
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("scanner", sa.String(length=100), nullable=False),
        sa.Column("db_version", sa.String(length=64), nullable=False),
        sa.Column("scanned_at", sa.Float(), nullable=False),
        sa.Column("packages", sa.Integer(), nullable=False),
        sa.Column("critical", sa.Integer(), nullable=False),
        sa.Column("high", sa.Integer(), nullable=False),
        sa.Column("medium", sa.Integer(), nullable=False),
        sa.Column("low", sa.Integer(), nullable=False),
        sa.Column("unknown", sa.Integer(), nullable=False),
        sa.Column("report", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("digest", "scanner"),
    )
    with op.batch_alter_table("scan_reports", schema=None) as batch_op:
        batch_op.create_index("ix_scan_reports_db_version", ["db_version"], unique=False)
        batch_op.create_index(
            "ix_scan_reports_exposure", ["critical", "high", "medium", "low"], unique=False
        )

    op.create_table(
        "scan_findings",
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("advisory_id", sa.String(length=100), nullable=False),
        sa.Column("package", sa.String(length=300), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("ecosystem", sa.String(length=50), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("fixed", sa.String(length=255), nullable=True),
        sa.Column("first_seen_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("digest", "advisory_id", "package", "version"),
    )
    with op.batch_alter_table("scan_findings", schema=None) as batch_op:
        batch_op.create_index("ix_scan_findings_advisory", ["advisory_id"], unique=False)
        batch_op.create_index("ix_scan_findings_first_seen", ["first_seen_at"], unique=False)

    op.create_table(
        "project_policies",
        sa.Column("project", NAME, nullable=False),
        sa.Column("scan_on_push", sa.Boolean(), nullable=False),
        sa.Column("require_signature", sa.Boolean(), nullable=False),
        sa.Column("max_severity", sa.String(length=16), nullable=True),
        sa.Column("deny_unscanned", sa.Boolean(), nullable=False),
        sa.Column("trusted_keys", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["project"], ["projects.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project"),
    )
    op.create_table(
        "vulnerability_allowlist",
        sa.Column("project", NAME, nullable=False),
        sa.Column("advisory_id", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", NAME, nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("project", "advisory_id"),
    )


def downgrade() -> None:
    op.drop_table("vulnerability_allowlist")
    op.drop_table("project_policies")
    with op.batch_alter_table("scan_findings", schema=None) as batch_op:
        batch_op.drop_index("ix_scan_findings_first_seen")
        batch_op.drop_index("ix_scan_findings_advisory")
    op.drop_table("scan_findings")
    with op.batch_alter_table("scan_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_scan_reports_exposure")
        batch_op.drop_index("ix_scan_reports_db_version")
    op.drop_table("scan_reports")
    with op.batch_alter_table("scan_status", schema=None) as batch_op:
        batch_op.drop_index("ix_scan_status_digest")
        batch_op.drop_index("ix_scan_status_state")
    op.drop_table("scan_status")
