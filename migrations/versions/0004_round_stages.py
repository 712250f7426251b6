"""a round is a list of stage jobs: `plan` (created by the API, creates the others) and `queue` (the only stage that
queues) join the job kinds; project settings are typed (`contracts.settings.ProjectSettings`)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

Settings stored before this revision were free JSON. Each project's settings are validated here: the `pipeline` key
(a test-only switch) goes, and so does any key the typed settings refuse (such a round failed in the worker anyway);
each removal is printed with the project, so an operator sees what changed. A round still running across the
upgrade must be cancelled and started again: its select job was the old planner.
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pydantic import ValidationError

from contracts.settings import ProjectSettings

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("pretrain_depth", "train", "score", "select", "predict", "validate_images")
NEW_KINDS = ("plan", *OLD_KINDS[:5], "queue", "validate_images")


def _check(kinds: Sequence[str]) -> str:
    return "kind IN ({})".format(", ".join(f"'{k}'" for k in kinds))


def _set_kinds(kinds: Sequence[str]) -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_job_kind_valid"), type_="check")
        batch_op.create_check_constraint("kind_valid", _check(kinds))


def _valid_settings(project_id: int, stored: dict) -> dict:
    """The stored settings without the keys the typed settings refuse (printed), `pipeline` included."""
    settings = dict(stored)
    while True:
        try:
            return ProjectSettings.model_validate(settings).stored()
        except ValidationError as err:
            bad = {str(e["loc"][0]) for e in err.errors() if e["loc"]}
            if not bad & set(settings):  # nothing left to remove: start from the defaults
                print(f"project {project_id}: settings {settings!r} reset to the defaults ({err.error_count()} errors)")
                return {}
            for key in sorted(bad & set(settings)):
                print(f"project {project_id}: setting {key}={settings.pop(key)!r} removed ({err.errors()[0]['msg']})")


def upgrade() -> None:
    _set_kinds(NEW_KINDS)
    conn = op.get_bind()
    project = sa.table("project", sa.column("id", sa.Integer), sa.column("settings", sa.JSON))
    for project_id, stored in conn.execute(sa.select(project.c.id, project.c.settings)).all():
        stored = stored if isinstance(stored, dict) else json.loads(stored or "{}")
        cleaned = _valid_settings(project_id, stored)
        if cleaned != stored:
            conn.execute(sa.update(project).where(project.c.id == project_id).values(settings=cleaned))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM job WHERE kind IN ('plan', 'queue')"))
    _set_kinds(OLD_KINDS)
