"""Fixtures for the pages: the real app over a real SQLite registry and store, and browsers
(TestClients) signed in with a key of a given role through the real sign-in form."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.keys import split_token
from api.roles import Role
from api.services import RateLimit, Services
from storage import open_store
from storage.registry import Registry
from tests.api_support import make_app, make_key, make_services


class PageClient(TestClient):
    """A TestClient holding a session cookie, and the key it signed in with."""

    token: str = ""
    key_id: str = ""
    role: Role | None = None


SignedIn = Callable[[Role], PageClient]


@pytest.fixture(scope="session")
def migrated_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty registry migrated once per run: copying it is ~100× faster than migrating."""
    folder = tmp_path_factory.mktemp("pages-registry")
    make_services(folder).registry.close()
    return folder / "registry.db"


@pytest.fixture
def page_services(tmp_path: Path, migrated_registry: Path) -> Iterator[Services]:
    """A migrated SQLite registry and an SQLite readings store, both empty and this test's own."""
    shutil.copyfile(migrated_registry, tmp_path / "registry.db")
    services = Services(
        registry=Registry(f"sqlite:///{tmp_path / 'registry.db'}"),
        store=open_store(f"sqlite:///{tmp_path / 'readings.db'}"),
        rate_limit=RateLimit(per_minute=100_000, burst=100_000),
    )
    yield services
    services.registry.close()
    services.store.close()


@pytest.fixture(scope="session")
def _shared_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """One app for the whole run: FastAPI prepares its 60-odd routes on an app's first
    request (about a second on this machine), so a fresh app per test would cost minutes."""
    first = make_services(tmp_path_factory.mktemp("pages-app"))
    yield make_app(first)
    first.registry.close()
    first.store.close()


@pytest.fixture
def page_app(_shared_app: FastAPI, page_services: Services) -> FastAPI:
    """The app over this test's own services (every route reads `app.state.services`)."""
    _shared_app.state.services = page_services
    return _shared_app


@pytest.fixture
def signed_in(page_app: FastAPI, page_services: Services) -> Iterator[SignedIn]:
    """`signed_in(Role.highways)`: a new key of that role, signed in through POST /signin."""
    clients: list[PageClient] = []

    def sign_in(role: Role) -> PageClient:
        token = make_key(page_services, role, f"{role} person")
        client = PageClient(page_app)
        response = client.post(
            "/signin", data={"api_key": token, "next": "/"}, follow_redirects=False
        )
        assert response.status_code == 303, response.text
        parts = split_token(token)
        assert parts is not None
        client.token, client.key_id, client.role = token, parts[0], role
        clients.append(client)
        return client

    yield sign_in
    for client in clients:
        client.close()


@pytest.fixture
def anonymous(page_app: FastAPI) -> Iterator[TestClient]:
    """A browser that has not signed in."""
    with TestClient(page_app) as client:
        yield client
