"""Every route × every role, anonymous included: who gets in, who gets 401, who gets 403.

The table below is the access policy written out by hand. The test fails when a route
is added without a line here, so nobody ships a route whose access was never decided.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from api.roles import ADMINS, ANY_KEY, ENGINEERS, HIGHWAYS, RESPONDERS, Role
from api.services import Services
from tests.api_support import client_for, make_app, make_key, make_services
from wherry.bridge import build_bridge
from wherry.ingest import webhook_ingest
from wherry.settings import Settings

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
    ("GET", f"{V1}/stream"): ANY_KEY,
    ("GET", f"{V1}/board"): ANY_KEY,
    ("GET", f"{V1}/routes/{{route_id}}/status"): ANY_KEY,
    ("GET", f"{V1}/routes/{{route_id}}/transitions"): ANY_KEY,
    ("GET", f"{V1}/alerts"): ANY_KEY,
    ("GET", f"{V1}/alerts/{{alert_id}}"): ANY_KEY,
    ("GET", f"{V1}/treatments"): ANY_KEY,
    ("GET", f"{V1}/reports/season"): ANY_KEY,
    # highways (and engineers, for alerts off the road)
    ("POST", f"{V1}/alerts/{{alert_id}}/acknowledge"): RESPONDERS,
    ("POST", f"{V1}/treatments"): HIGHWAYS,
    ("DELETE", f"{V1}/treatments/{{treatment_id}}"): HIGHWAYS,
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
    ("GET", f"{V1}/subscriptions"): ADMINS,
    ("POST", f"{V1}/subscriptions"): ADMINS,
    ("PATCH", f"{V1}/subscriptions/{{subscription_id}}"): ADMINS,
    ("DELETE", f"{V1}/subscriptions/{{subscription_id}}"): ADMINS,
}

PLACEHOLDERS = {
    "{device_id}": "no-such-device",
    "{route_id}": "no-such-route",
    "{key_id}": "ffffffffffff",
    "{decoder_id}": "cayenne-lpp",
    "{alert_id}": "999999",
    "{treatment_id}": "999999",
    "{subscription_id}": "999999",
}
CALLERS: list[Role | None] = [None, *Role]

WEBHOOK_ROUTES = {("POST", "/ingest/ttn"), ("POST", "/ingest/chirpstack")}
"""Network servers' webhooks: opened by the shared webhook secret, never by an API key, so
not in POLICY (tests/api/test_ingest_api.py tests the secret itself)."""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, dict[Role, str]]]:
    directory = tmp_path_factory.mktemp("matrix")
    services: Services = make_services(directory)
    tokens = {role: make_key(services, role) for role in Role}
    settings = Settings(data_dir=directory, webhook_secret="matrix-webhook-secret-0123")
    bridge = build_bridge(settings, services.store, services.registry)
    services.webhooks = webhook_ingest(settings, bridge)
    yield make_app(services), tokens
    bridge.close(5)
    services.registry.close()
    services.store.close()


def test_the_policy_covers_every_route(setup: tuple[FastAPI, dict[Role, str]]) -> None:
    app, _ = setup
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    decided = set(POLICY) | WEBHOOK_ROUTES
    assert documented == decided, (
        f"routes without a policy line: {sorted(documented - decided)}; "
        f"policy lines without a route: {sorted(decided - documented)}"
    )


@pytest.mark.parametrize("caller", CALLERS, ids=lambda role: str(role or "anonymous"))
@pytest.mark.parametrize(("method", "path"), sorted(WEBHOOK_ROUTES), ids=lambda v: str(v))
def test_no_api_key_opens_a_webhook_route(
    setup: tuple[FastAPI, dict[Role, str]], method: str, path: str, caller: Role | None
) -> None:
    app, tokens = setup
    client = client_for(app, tokens[caller] if caller else None)
    assert client.request(method, path, json={}).status_code == 401


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
