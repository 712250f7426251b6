"""`next` reads a handful of rows, whatever the statistics: the queue index ends with the image id, the image table's
redundant project_id index goes, and `depthal_next_lease()` finds the caller's own lease from the lease side

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

Found with auto_explain on a freshly imported project (23,500 queued images, statistics not yet gathered, which is
how every project starts): each `next` cost ≈ 9 ms of PostgreSQL CPU, read every queued image of the project twice,
and grew with the pool.
- The queue order is (queue_rank ASC NULLS LAST, id), but the index was (project_id, state, queue_rank): the id
  tie-break was not in it, so PostgreSQL read and sorted every queued image (an incremental sort over the images
  sharing the first rank, at best). With the id as the index's last column the order is the index order.
- The index on image.project_id alone goes: ix_image_queue and uq_image_project_id (project_id, checksum) both lead
  with project_id, so every query it served keeps an index, and on a table whose statistics say "one row" the
  planner picked that smaller index and sorted, even with the id in ix_image_queue.
- The caller's-own-lease lookup joined lease to image on the project; with such statistics the planner drove the
  join from the image side (every image of the project, probing lease for each). It now reads the caller's open
  leases (at most one per project) and checks each one's project through its image's primary key.
"""

import runpy
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_COLUMNS = ["project_id", "state", "queue_rank"]
NEW_COLUMNS = [*OLD_COLUMNS, "id"]

# Revision 0002's function with one statement changed: the own-lease lookup (see the docstring).
_REVISION_0002 = runpy.run_path(str(Path(__file__).with_name("0002_queue_functions.py")))["NEXT_LEASE"]
_OWN_LEASE_0002 = """
    SELECT lease.* INTO v_lease
    FROM lease JOIN image ON image.id = lease.image_id
    WHERE lease.annotator_id = p_annotator_id AND lease.status = 'open' AND image.project_id = p_project_id
"""
_OWN_LEASE_0003 = """
    -- from the lease side: the caller's open leases (at most one per project), each one's project by primary key
    SELECT lease.* INTO v_lease
    FROM lease
    WHERE lease.annotator_id = p_annotator_id AND lease.status = 'open'
      AND (SELECT image.project_id FROM image WHERE image.id = lease.image_id) = p_project_id
"""
assert _OWN_LEASE_0002 in _REVISION_0002, "revision 0002's depthal_next_lease() is not the one this revision edits"
PREVIOUS_NEXT_LEASE = _REVISION_0002.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
NEXT_LEASE = PREVIOUS_NEXT_LEASE.replace(_OWN_LEASE_0002, _OWN_LEASE_0003)


def upgrade() -> None:
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.drop_index("ix_image_queue")
        batch_op.create_index("ix_image_queue", NEW_COLUMNS, unique=False)
        batch_op.drop_index("ix_image_project_id")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(NEXT_LEASE)


def downgrade() -> None:
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.create_index("ix_image_project_id", ["project_id"], unique=False)
        batch_op.drop_index("ix_image_queue")
        batch_op.create_index("ix_image_queue", OLD_COLUMNS, unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PREVIOUS_NEXT_LEASE)
