"""FastAPI dependencies that hand routers the shared services.

They are `async` only so FastAPI runs them without a thread hop: they do no I/O, and each
hop costs a request ~0.1 ms of CPU and a wait for a free worker thread.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.services import Services
from storage import ReadingStore
from storage.registry import Registry


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_registry(services: ServicesDep) -> Registry:
    return services.registry


async def get_store(services: ServicesDep) -> ReadingStore:
    return services.store


RegistryDep = Annotated[Registry, Depends(get_registry)]
StoreDep = Annotated[ReadingStore, Depends(get_store)]
