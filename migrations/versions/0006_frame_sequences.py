"""frame_sequence: an imported video or frame folder (every stored frame trains depth, a sample joins the pool);
image.sequence_id: the sequence a pool image was sampled from; job kind `import_frames`

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("plan", "pretrain_depth", "train", "score", "select", "predict", "queue", "validate_images")
NEW_KINDS = (*OLD_KINDS, "import_frames")


def _set_kinds(kinds: Sequence[str]) -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_job_kind_valid"), type_="check")
        batch_op.create_check_constraint("kind_valid", "kind IN ({})".format(", ".join(f"'{k}'" for k in kinds)))


def upgrade() -> None:
    _set_kinds(NEW_KINDS)
    op.create_table(
        "frame_sequence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("frames_dir", sa.String(length=1024), nullable=False),
        sa.Column("frame_count", sa.Integer(), nullable=False),
        sa.Column("frame_stride", sa.Integer(), nullable=False),
        sa.Column("pool_every", sa.Integer(), nullable=False),
        sa.Column("pool_images", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("intrinsics", sa.JSON(), nullable=False),
        sa.Column("intrinsics_source", sa.String(length=16), nullable=False),
        sa.Column("warning", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('video', 'frames', 'kitti_raw', 'cityscapes')", name=op.f("ck_frame_sequence_source_valid")
        ),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name=op.f("fk_frame_sequence_job_id_job"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_frame_sequence_project_id_project"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frame_sequence")),
        sa.UniqueConstraint("project_id", "checksum", name=op.f("uq_frame_sequence_project_id")),
    )
    with op.batch_alter_table("image") as batch:
        batch.add_column(sa.Column("sequence_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_image_sequence_id"), ["sequence_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_image_sequence_id_frame_sequence"), "frame_sequence", ["sequence_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("image") as batch:
        batch.drop_constraint(batch.f("fk_image_sequence_id_frame_sequence"), type_="foreignkey")
        batch.drop_index(batch.f("ix_image_sequence_id"))
        batch.drop_column("sequence_id")
    op.drop_table("frame_sequence")
    op.execute(sa.text("DELETE FROM job WHERE kind = 'import_frames'"))
    _set_kinds(OLD_KINDS)
