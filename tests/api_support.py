"""Build the real API over a real registry and store, for tests (no mocks)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import issue_key
from api.roles import Role
from api.services import RateLimit, Services
from storage import ReadingStore, open_store
from storage.registry import NewApiKey, Registry


def make_services(tmp_path: Path, store: ReadingStore | None = None) -> Services:
    """SQLite registry (migrated) and, unless given, an SQLite readings store in `tmp_path`."""
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.migrate()
    return Services(
        registry=registry,
        store=store or open_store(f"sqlite:///{tmp_path / 'readings.db'}"),
        rate_limit=RateLimit(per_minute=100_000, burst=100_000),
    )


def make_key(services: Services, role: Role, label: str | None = None) -> str:
    """A new key of `role`; returns the token a client sends."""
    issued = issue_key()
    services.registry.create_api_key(
        NewApiKey(
            key_id=issued.key_id,
            label=label or f"test {role}",
            role=role.value,
            secret_hash=issued.secret_hash,
            expires_at=None,
        ),
        actor="test",
    )
    return issued.token


def client_for(app: FastAPI, token: str | None = None) -> TestClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return TestClient(app, headers=headers)


def make_app(services: Services) -> FastAPI:
    return create_app(services)
