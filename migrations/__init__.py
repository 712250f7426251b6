"""Alembic migrations (`depthal db upgrade`). A package so that an installed depthal (a wheel, the API image) carries
them: `service.migrate` finds them here, not in a checkout."""
