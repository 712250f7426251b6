"""All routers of the API."""

from fastapi import APIRouter

from service.api.routes import (
    export,
    health,
    images,
    jobs,
    masks,
    members,
    projects,
    queue,
    rounds,
    strategies,
    users,
)

api_router = APIRouter()
for module in (health, users, projects, members, images, queue, masks, rounds, strategies, jobs, export):
    api_router.include_router(module.router)
