"""Distributed list jobs: MX routes cached per domain, results per worker, worker figures.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mx_routes",
        sa.Column("domain", sa.String(255), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("checked_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_table(
        "job_workers",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("worker", sa.String(100), primary_key=True),
        sa.Column("results", sa.Integer, nullable=False),
        sa.Column("first_at", sa.Float, nullable=False),
        sa.Column("last_at", sa.Float, nullable=False),
    )
    op.create_table(
        "workers",
        sa.Column("worker", sa.String(100), primary_key=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("seen_at", sa.Float, nullable=False),
        sa.Column("figures", sa.Text, nullable=False),  # JSON: the worker's /metrics values
    )


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_table("job_workers")
    op.drop_table("mx_routes")
