"""Keys are cached for a few seconds: a revocation elsewhere takes effect within the TTL,
one through this process at once, and unknown ids do not reach the registry each time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.key_cache import KeyCache
from api.keys import split_token
from api.roles import Role
from api.services import Services
from tests.api_support import client_for, make_app, make_key, make_services


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = make_services(tmp_path)
    yield services
    services.registry.close()
    services.store.close()


def test_a_key_revoked_by_another_process_stops_working_within_the_ttl(
    services: Services,
) -> None:
    clock = Clock()
    services.keys = KeyCache(services.registry, ttl_s=5.0, clock=clock)
    token = make_key(services, Role.reader)
    key_id = split_token(token)[0]  # type: ignore[index]
    reader = client_for(make_app(services), token)
    assert reader.get("/api/v1/routes").status_code == 200

    services.registry.revoke_api_key(key_id, actor="cli", at=datetime.now(UTC))
    still_cached = reader.get("/api/v1/routes").status_code
    clock.now += 5.0
    expired = reader.get("/api/v1/routes").status_code

    assert (still_cached, expired) == (200, 401)


def test_a_key_revoked_through_this_api_stops_at_once(services: Services) -> None:
    app = make_app(services)
    token = make_key(services, Role.reader)
    key_id = split_token(token)[0]  # type: ignore[index]
    reader = client_for(app, token)
    admin = client_for(app, make_key(services, Role.admin))
    assert reader.get("/api/v1/routes").status_code == 200

    assert admin.post(f"/api/v1/keys/{key_id}/revoke").status_code == 200

    assert reader.get("/api/v1/routes").status_code == 401


def test_unknown_key_ids_are_cached_too(services: Services) -> None:
    clock = Clock()
    cache = KeyCache(services.registry, ttl_s=5.0, clock=clock)
    asked: list[str] = []
    lookup = services.registry.api_key

    def counting(key_id: str) -> object:
        asked.append(key_id)
        return lookup(key_id)

    services.registry.api_key = counting  # type: ignore[method-assign,assignment]

    for _ in range(3):
        assert cache.get("ffffffffffff") is None
    clock.now += 6
    cache.get("ffffffffffff")

    assert asked == ["ffffffffffff", "ffffffffffff"]


def test_cached_says_whether_get_would_ask_the_registry(services: Services) -> None:
    clock = Clock()
    cache = KeyCache(services.registry, ttl_s=5.0, clock=clock)
    key_id = split_token(make_key(services, Role.reader))[0]  # type: ignore[index]

    before = cache.cached(key_id)
    record = cache.get(key_id)
    fresh, unknown = cache.cached(key_id), (cache.get("ffffffffffff"), cache.cached("ffffffffffff"))
    clock.now += 5.0

    assert before == (False, None)
    assert record is not None and fresh == (True, record)
    assert unknown == (None, (True, None))  # an unknown id is an answer too
    assert cache.cached(key_id) == (False, None)
