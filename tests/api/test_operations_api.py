"""Health, readiness, metrics, CORS and the anonymous rate limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from api.services import RateLimit, Services
from tests.api_support import client_for, make_app, make_services


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = make_services(tmp_path)
    yield services
    services.registry.close()
    services.store.close()


@pytest.fixture
def app(services: Services) -> FastAPI:
    return make_app(services)


def test_healthz_and_readyz(app: FastAPI, services: Services) -> None:
    client = client_for(app)
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"registry": "ok", "store": "ok"}}


def test_readyz_is_503_when_the_store_is_gone(app: FastAPI, services: Services) -> None:
    services.store.close()
    answer = client_for(app).get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "not ready"
    assert answer.json()["checks"]["store"] != "ok"


def test_metrics_show_bridge_counts_and_api_latency(app: FastAPI, services: Services) -> None:
    services.counters.add("uplinks_received", 7)
    services.counters.add("dead_letters.malformed_json", 2)
    client = client_for(app)
    client.get("/healthz")
    text = client.get("/metrics").text
    assert "wherry_uplinks_received_total 7.0" in text
    assert 'wherry_dead_letters_total{reason="malformed_json"} 2.0' in text
    assert 'wherry_api_request_seconds_count{method="GET",route="/healthz",status="200"}' in text


def test_cors_lets_browser_projects_read(app: FastAPI) -> None:
    answer = client_for(app).get("/healthz", headers={"Origin": "https://scratch.mit.edu"})
    assert answer.headers["access-control-allow-origin"] == "*"


def test_anonymous_callers_are_rate_limited_with_retry_after(tmp_path: Path) -> None:
    services = make_services(tmp_path)
    services.rate_limit = RateLimit(per_minute=6, burst=3)
    client = client_for(make_app(services))
    answers = [client.get("/api/v1/keys").status_code for _ in range(5)]
    assert answers[:3] == [401, 401, 401]
    assert answers[3:] == [429, 429]
    limited = client.get("/api/v1/keys")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "wait" in limited.json()["detail"]
    assert client.get("/healthz").status_code == 200  # operations are never limited
    services.registry.close()
    services.store.close()


def test_latency_is_labelled_by_route_template_not_raw_path(app: FastAPI) -> None:
    client = client_for(app)
    for device in ("a-1", "b-2", "c-3"):
        client.get(f"/api/v1/open/devices/{device}/readings")
    client.get("/no/such/page")
    text = client.get("/metrics").text
    assert 'route="/api/v1/open/devices/{device_id}/readings",status="404"} 3.0' in text
    assert 'route="unmatched"' in text
    assert "a-1" not in text
