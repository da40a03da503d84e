"""usage statistics

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:10:27.423254
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daily_usage",
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("pulls", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("pushes", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("repository", "day"),
    )
    with op.batch_alter_table("daily_usage", schema=None) as batch_op:
        batch_op.create_index("ix_daily_usage_day", ["day"], unique=False)

    op.create_table(
        "manifest_pulls",
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=150), nullable=False),
        sa.Column("pulls", sa.BigInteger(), nullable=False),
        sa.Column("last_pulled_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("repository", "digest"),
    )
    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.drop_index("ix_manifests_subject")
        batch_op.create_index(
            "ix_manifests_subject", ["repository", "subject", "created_at", "digest"], unique=False
        )
        batch_op.create_index(
            "ix_manifests_pushed", ["repository", "created_at", "digest", "size"], unique=False
        )

    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("project", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("pulls", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("pushes", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("last_pushed_at", sa.Float(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("last_pulled_at", sa.Float(), nullable=True))
        batch_op.create_index("ix_repositories_project_name", ["project", "name"], unique=False)
        batch_op.create_index(
            "ix_repositories_project_pulls", ["project", "pulls", "name"], unique=False
        )
        batch_op.create_index(
            "ix_repositories_project_pushed", ["project", "last_pushed_at", "name"], unique=False
        )
        batch_op.create_index("ix_repositories_pulls", ["pulls", "name"], unique=False)

    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.create_index("ix_tags_digest", ["repository", "digest", "name"], unique=False)

    _backfill()
    if op.get_bind().dialect.name == "postgresql":  # see schema.TAG
        op.alter_column(
            "tags",
            "name",
            type_=sa.String(128, collation="C"),
            existing_type=sa.String(128),
            existing_nullable=False,
        )


def _backfill() -> None:
    """Existing repositories: their project, and their last push from their newest manifest."""
    if op.get_bind().dialect.name == "postgresql":
        project = "split_part(name, '/', 1)"
    else:
        project = (
            "CASE WHEN instr(name, '/') > 0 THEN substr(name, 1, instr(name, '/') - 1) "
            "ELSE name END"
        )
    op.execute(
        f"UPDATE repositories SET project = {project}, last_pushed_at = COALESCE("
        "(SELECT MAX(m.created_at) FROM manifests m WHERE m.repository = repositories.name), 0)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "tags",
            "name",
            type_=sa.String(128),
            existing_type=sa.String(128, collation="C"),
            existing_nullable=False,
        )
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_index("ix_tags_digest")

    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_index("ix_repositories_pulls")
        batch_op.drop_index("ix_repositories_project_pushed")
        batch_op.drop_index("ix_repositories_project_pulls")
        batch_op.drop_index("ix_repositories_project_name")
        batch_op.drop_column("last_pulled_at")
        batch_op.drop_column("last_pushed_at")
        batch_op.drop_column("pushes")
        batch_op.drop_column("pulls")
        batch_op.drop_column("project")

    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.drop_index("ix_manifests_pushed")
        batch_op.drop_index("ix_manifests_subject")
        batch_op.create_index("ix_manifests_subject", ["repository", "subject"], unique=False)

    op.drop_table("manifest_pulls")
    with op.batch_alter_table("daily_usage", schema=None) as batch_op:
        batch_op.drop_index("ix_daily_usage_day")

    op.drop_table("daily_usage")
