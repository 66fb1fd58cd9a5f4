"""FastAPI dependencies that hand routers the shared services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.services import Services
from storage import ReadingStore
from storage.registry import Registry


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_registry(services: ServicesDep) -> Registry:
    return services.registry


def get_store(services: ServicesDep) -> ReadingStore:
    return services.store


RegistryDep = Annotated[Registry, Depends(get_registry)]
StoreDep = Annotated[ReadingStore, Depends(get_store)]
