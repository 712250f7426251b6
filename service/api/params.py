"""Path and query parameters shared by the routes.

Ids and offsets are bounded by the database's integer range (`INT32_MAX`): a number beyond it in a URL would reach
the driver and fail there as a 500 ("integer out of range" on PostgreSQL, an OverflowError on SQLite); here it is
a 422 that names the parameter. Found by fuzzing the OpenAPI schema (docs/api.md, "Fuzzing").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from service.db.tables import INT32_MAX

RowId = Annotated[int, Path(ge=1, le=INT32_MAX, description="a row id (positive)")]
Offset = Annotated[int, Query(ge=0, le=INT32_MAX, description="rows to skip")]
Limit = Annotated[int, Query(ge=1, le=1000, description="rows to return (at most 1000)")]
