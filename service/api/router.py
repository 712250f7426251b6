"""All routers of the API."""

from fastapi import APIRouter

from service.api.routes import (
    export,
    health,
    images,
    jobs,
    labelstudio,
    labelstudio_ml,
    masks,
    members,
    projects,
    queue,
    rounds,
    strategies,
    users,
    videos,
)

api_router = APIRouter()
for module in (
    health,
    users,
    projects,
    members,
    images,
    queue,
    masks,
    rounds,
    strategies,
    jobs,
    export,
    videos,
    labelstudio,
    labelstudio_ml,
):
    api_router.include_router(module.router)
