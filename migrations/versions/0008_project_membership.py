"""membership: a role per user and project (lead / annotator / viewer), which every project route checks (issue 19);
existing users become members of every existing project with their current role (admins need none: they may do
everything everywhere). api_token.prefix keeps `dal_` and 4 characters of the secret (was 8; an operator-chosen
token: its first 4 characters).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('lead', 'annotator', 'viewer')", name=op.f("ck_membership_role_valid")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_membership_project_id_project"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_membership_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership")),
        sa.UniqueConstraint("project_id", "user_id", name=op.f("uq_membership_project_id")),
    )
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_membership_user_id"), ["user_id"], unique=False)
    op.execute(
        "INSERT INTO membership (project_id, user_id, role, created_at) "
        'SELECT p.id, u.id, u.role, CURRENT_TIMESTAMP FROM project p CROSS JOIN "user" u '
        "WHERE u.role IN ('lead', 'annotator')"
    )
    op.execute(
        "UPDATE api_token SET prefix = CASE WHEN prefix LIKE 'dal\\_%' ESCAPE '\\' THEN substr(prefix, 1, 8) "
        "ELSE substr(prefix, 1, 4) END"
    )


def downgrade() -> None:
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_membership_user_id"))
    op.drop_table("membership")
