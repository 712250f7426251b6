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

# Revision 0002's function, unchanged but for the own-lease SELECT (see the docstring).
NEXT_LEASE = """
CREATE OR REPLACE FUNCTION depthal_next_lease(p_project_id integer, p_annotator_id integer, p_now timestamptz,
                                              p_ttl_seconds integer)
RETURNS TABLE (l lease, i image)
LANGUAGE plpgsql AS $$
DECLARE
    v_lease lease;
    v_image image;
BEGIN
    -- losing this transaction in a crash only leaves its image queued: no need to wait for the WAL flush
    PERFORM set_config('synchronous_commit', 'off', true);
    -- lazy expiry (service.queue.expire_leases): overdue open leases expire, their images go back to the queue
    WITH expired AS (
        UPDATE lease SET status = 'expired'
        WHERE lease.status = 'open' AND lease.expires_at <= p_now
        RETURNING lease.image_id
    )
    UPDATE image SET state = 'queued'
    WHERE image.id IN (SELECT expired.image_id FROM expired) AND image.state = 'leased';

    -- from the lease side: the caller's open leases (at most one per project), each one's project by primary key
    SELECT lease.* INTO v_lease
    FROM lease
    WHERE lease.annotator_id = p_annotator_id AND lease.status = 'open'
      AND (SELECT image.project_id FROM image WHERE image.id = lease.image_id) = p_project_id
    ORDER BY lease.id
    LIMIT 1;
    IF FOUND THEN
        SELECT image.* INTO v_image FROM image WHERE image.id = v_lease.image_id;
        RETURN QUERY SELECT v_lease, v_image;
        RETURN;
    END IF;

    UPDATE image SET state = 'leased'
    WHERE image.id = (
        SELECT q.id FROM image q
        WHERE q.project_id = p_project_id AND q.state = 'queued'
        ORDER BY q.queue_rank ASC NULLS LAST, q.id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING image.* INTO v_image;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO lease (image_id, annotator_id, issued_at, expires_at, heartbeat_at, status, created_at)
    VALUES (v_image.id, p_annotator_id, p_now, p_now + make_interval(secs => p_ttl_seconds), NULL, 'open', p_now)
    RETURNING lease.* INTO v_lease;
    RETURN QUERY SELECT v_lease, v_image;
END
$$
"""


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
        previous = runpy.run_path(str(Path(__file__).with_name("0002_queue_functions.py")))["NEXT_LEASE"]
        op.execute(previous.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
