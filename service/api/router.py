"""All routers of the API."""

from fastapi import APIRouter

from service.api.routes import health, images, masks, projects, queue, users

api_router = APIRouter()
for module in (health, users, projects, images, queue, masks):
    api_router.include_router(module.router)
