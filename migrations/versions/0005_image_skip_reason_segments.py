"""image.skip_reason: the annotator's words when they skip an image (`POST /leases/{id}/skip {"reason"}`), shown to
the lead beside the skipped images, cleared when the image is re-queued; image.segments_path: the superpixels the
round computed for a queued image (`GET /images/{id}/segments`), cold start included

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("image") as batch:
        batch.add_column(sa.Column("skip_reason", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("segments_path", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("image") as batch:
        batch.drop_column("segments_path")
        batch.drop_column("skip_reason")
