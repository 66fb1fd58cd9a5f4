"""Every route × every role, anonymous included: who gets in, who gets 401, who gets 403.

The table below is the access policy written out by hand. The test fails when a route
is added without a line here, so nobody ships a route whose access was never decided.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from api.roles import ADMINS, ANY_KEY, ENGINEERS, Role
from api.services import Services
from tests.api_support import client_for, make_app, make_key, make_services

ANYONE = None
V1 = "/api/v1"

POLICY: dict[tuple[str, str], frozenset[Role] | None] = {
    ("GET", "/healthz"): ANYONE,
    ("GET", "/readyz"): ANYONE,
    ("GET", "/metrics"): ANYONE,
    # open data
    ("GET", f"{V1}/open/devices"): ANYONE,
    ("GET", f"{V1}/open/devices/{{device_id}}"): ANYONE,
    ("GET", f"{V1}/open/devices/{{device_id}}/readings"): ANYONE,
    ("GET", f"{V1}/open/devices/{{device_id}}/readings/latest"): ANYONE,
    ("GET", f"{V1}/open/readings/latest"): ANYONE,
    ("GET", f"{V1}/decoders"): ANYONE,
    # restricted reads
    ("GET", f"{V1}/devices"): ANY_KEY,
    ("GET", f"{V1}/devices/export.csv"): ANY_KEY,
    ("GET", f"{V1}/devices/{{device_id}}"): ANY_KEY,
    ("GET", f"{V1}/devices/{{device_id}}/readings"): ANY_KEY,
    ("GET", f"{V1}/devices/{{device_id}}/readings/latest"): ANY_KEY,
    ("GET", f"{V1}/readings/latest"): ANY_KEY,
    ("GET", f"{V1}/routes"): ANY_KEY,
    ("GET", f"{V1}/routes/export.csv"): ANY_KEY,
    ("GET", f"{V1}/routes/{{route_id}}"): ANY_KEY,
    # engineers
    ("POST", f"{V1}/devices"): ENGINEERS,
    ("POST", f"{V1}/devices/import"): ENGINEERS,
    ("PATCH", f"{V1}/devices/{{device_id}}"): ENGINEERS,
    ("POST", f"{V1}/devices/{{device_id}}/retire"): ENGINEERS,
    ("POST", f"{V1}/routes"): ENGINEERS,
    ("POST", f"{V1}/routes/import"): ENGINEERS,
    ("PATCH", f"{V1}/routes/{{route_id}}"): ENGINEERS,
    ("DELETE", f"{V1}/routes/{{route_id}}"): ENGINEERS,
    ("GET", f"{V1}/sightings"): ENGINEERS,
    ("GET", f"{V1}/sightings/{{device_id}}"): ENGINEERS,
    ("POST", f"{V1}/sightings/{{device_id}}/register"): ENGINEERS,
    ("GET", f"{V1}/dead-letters"): ENGINEERS,
    ("GET", f"{V1}/dead-letters/counts"): ENGINEERS,
    ("POST", f"{V1}/decoders/{{decoder_id}}/try"): ENGINEERS,
    # admins
    ("GET", f"{V1}/keys"): ADMINS,
    ("POST", f"{V1}/keys"): ADMINS,
    ("POST", f"{V1}/keys/{{key_id}}/revoke"): ADMINS,
    ("GET", f"{V1}/audit"): ADMINS,
}

PLACEHOLDERS = {
    "{device_id}": "no-such-device",
    "{route_id}": "no-such-route",
    "{key_id}": "ffffffffffff",
    "{decoder_id}": "cayenne-lpp",
}
CALLERS: list[Role | None] = [None, *Role]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, dict[Role, str]]]:
    services: Services = make_services(tmp_path_factory.mktemp("matrix"))
    tokens = {role: make_key(services, role) for role in Role}
    yield make_app(services), tokens
    services.registry.close()
    services.store.close()


def test_the_policy_covers_every_route(setup: tuple[FastAPI, dict[Role, str]]) -> None:
    app, _ = setup
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert documented == set(POLICY), (
        f"routes without a policy line: {sorted(documented - set(POLICY))}; "
        f"policy lines without a route: {sorted(set(POLICY) - documented)}"
    )


@pytest.mark.parametrize("caller", CALLERS, ids=lambda role: str(role or "anonymous"))
@pytest.mark.parametrize(("method", "path"), sorted(POLICY), ids=lambda v: str(v))
def test_access(
    setup: tuple[FastAPI, dict[Role, str]], method: str, path: str, caller: Role | None
) -> None:
    app, tokens = setup
    client = client_for(app, tokens[caller] if caller else None)
    url = path
    for placeholder, value in PLACEHOLDERS.items():
        url = url.replace(placeholder, value)
    body = {} if method in ("POST", "PATCH") else None
    status = client.request(method, url, json=body).status_code
    allowed = POLICY[(method, path)]
    if allowed is ANYONE or (caller is not None and caller in allowed):
        assert status not in (401, 403), f"{caller or 'anonymous'} refused ({status})"
        assert status < 500
    elif caller is None:
        assert status == 401
    else:
        assert status == 403
