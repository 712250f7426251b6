"""image.skip_reason: the annotator's words when they skip an image (`POST /leases/{id}/skip {"reason"}`), shown to
the lead beside the skipped images; cleared when the image is re-queued

Revision ID: 0004w
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004w"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("image") as batch:
        batch.add_column(sa.Column("skip_reason", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("image") as batch:
        batch.drop_column("skip_reason")
