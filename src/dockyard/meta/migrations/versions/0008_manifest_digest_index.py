"""manifests by digest

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 16:05:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_manifests_digest", "manifests", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_manifests_digest", table_name="manifests")
