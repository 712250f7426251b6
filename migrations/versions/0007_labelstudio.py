"""labelstudio_task: depthal images pushed to a linked Label Studio project as tasks (docs/labelstudio.md)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "labelstudio_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("lease_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("annotation_key", sa.String(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'labeled', 'released', 'removed')", name=op.f("ck_labelstudio_task_status_valid")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_labelstudio_task_project_id_project"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.id"], name=op.f("fk_labelstudio_task_image_id_image"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["round.id"], name=op.f("fk_labelstudio_task_round_id_round"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["lease_id"], ["lease.id"], name=op.f("fk_labelstudio_task_lease_id_lease"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labelstudio_task")),
        sa.UniqueConstraint("image_id", name=op.f("uq_labelstudio_task_image_id")),
        sa.UniqueConstraint("project_id", "task_id", name=op.f("uq_labelstudio_task_project_id")),
    )
    op.create_index(op.f("ix_labelstudio_task_project_id"), "labelstudio_task", ["project_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_labelstudio_task_project_id"), table_name="labelstudio_task")
    op.drop_table("labelstudio_task")
