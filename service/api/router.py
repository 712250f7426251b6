"""All routers of the API."""

from fastapi import APIRouter

from service.api.routes import export, health, images, jobs, masks, projects, queue, rounds, strategies, users, videos

api_router = APIRouter()
for module in (health, users, projects, images, queue, masks, rounds, strategies, jobs, export, videos):
    api_router.include_router(module.router)
