"""queue functions: `next` and the locked part of a mask submission in one round trip each (PostgreSQL only)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

The annotator's two hot requests each took 5–7 SQL statements, and on this server every round trip costs more
client CPU than the SQL itself. These PL/pgSQL functions do the same steps, in the same lock order (lease, then
image), as the Python in service/queue.py and service/crud/annotations.py, which stays the SQLite path and the
reference for the semantics. They are not in the ORM metadata, so autogenerate does not see them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Returns zero rows when nothing is queued (the caller then checks that the project exists), else one row: the
# lease (the caller's open one in the project, or a new one) and its image, both as they are after the call.
NEXT_LEASE = """
CREATE FUNCTION depthal_next_lease(p_project_id integer, p_annotator_id integer, p_now timestamptz,
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

    SELECT lease.* INTO v_lease
    FROM lease JOIN image ON image.id = lease.image_id
    WHERE lease.annotator_id = p_annotator_id AND lease.status = 'open' AND image.project_id = p_project_id
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

# The locked part of a mask submission (service.crud.annotations.submit_mask), after the PNG was validated: lock
# the image's open lease, mark the image labeled, compare with the newest version. One row: outcome `retry` (an
# identical re-submission: the caller's own lease closed, `a` = the newest version), `new` (the caller may store
# version `version`; its own lease, `lease_id`, closed) or `refused` (no, or a foreign, or an expired lease: the
# caller rolls back and the Python path names the reason). The caller writes the file and the annotation row,
# then commits: nothing is committed here.
SUBMIT_MASK = """
CREATE FUNCTION depthal_submit_mask(p_image_id integer, p_user_id integer, p_is_lead boolean,
                                    p_checksum varchar, p_now timestamptz)
RETURNS TABLE (outcome text, lease_id integer, version integer, a annotation)
LANGUAGE plpgsql AS $$
DECLARE
    v_lease lease;
    v_latest annotation;
    v_own integer;
BEGIN
    SELECT lease.* INTO v_lease FROM lease
    WHERE lease.image_id = p_image_id AND lease.status = 'open'
    FOR UPDATE;
    UPDATE image SET state = 'labeled' WHERE image.id = p_image_id;
    SELECT annotation.* INTO v_latest FROM annotation
    WHERE annotation.image_id = p_image_id
    ORDER BY annotation.version DESC
    LIMIT 1;
    IF v_lease.id IS NOT NULL AND v_lease.annotator_id = p_user_id THEN
        v_own := v_lease.id;
    END IF;
    IF v_latest.id IS NOT NULL AND v_latest.checksum = p_checksum
       AND (p_is_lead OR v_latest.annotator_id = p_user_id) THEN
        UPDATE lease SET status = 'submitted' WHERE lease.id = v_own;
        RETURN QUERY SELECT 'retry'::text, v_own, v_latest.version, v_latest;
        RETURN;
    END IF;
    IF NOT p_is_lead AND (v_own IS NULL OR v_lease.expires_at <= p_now) THEN
        RETURN QUERY SELECT 'refused'::text, NULL::integer, NULL::integer, NULL::annotation;
        RETURN;
    END IF;
    UPDATE lease SET status = 'submitted' WHERE lease.id = v_own;
    RETURN QUERY SELECT 'new'::text, v_own, coalesce(v_latest.version, 0) + 1, NULL::annotation;
END
$$
"""

FUNCTIONS = {
    "depthal_next_lease(integer, integer, timestamptz, integer)": NEXT_LEASE,
    "depthal_submit_mask(integer, integer, boolean, varchar, timestamptz)": SUBMIT_MASK,
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite runs the Python path
    for body in FUNCTIONS.values():
        op.execute(body)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
