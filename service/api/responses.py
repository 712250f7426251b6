"""Responses for the annotator's hot routes."""

from __future__ import annotations

from fastapi import Response, status
from pydantic import BaseModel


def json_response(model: BaseModel, status_code: int = status.HTTP_200_OK) -> Response:
    """The model serialised once by pydantic. Returning the model itself makes FastAPI validate it against the
    route's `response_model` again before serialising, which costs more than the serialising; the decorator's
    `response_model` still documents the body in the OpenAPI schema."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
