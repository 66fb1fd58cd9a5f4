"""API keys and roles: issued once, stored hashed, 401 for no or bad key, 403 for the wrong role."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI

from api.roles import Role
from api.services import Services
from tests.api_support import client_for, make_app, make_key, make_services


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = make_services(tmp_path)
    yield services
    services.registry.close()
    services.store.close()


@pytest.fixture
def app(services: Services) -> FastAPI:
    return make_app(services)


def test_an_admin_issues_a_key_that_works_and_is_shown_once(
    app: FastAPI, services: Services
) -> None:
    admin = client_for(app, make_key(services, Role.admin, "council admin"))
    created = admin.post("/api/v1/keys", json={"role": "reader", "label": "Ada, data team"})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("wherry_") and created.json()["role"] == "reader"

    listed = admin.get("/api/v1/keys").json()
    assert all("token" not in key and "secret_hash" not in key for key in listed)
    assert token not in admin.get("/api/v1/keys").text
    record = services.registry.api_key(created.json()["key_id"])
    assert record is not None and token.split("_", 2)[2] not in record.secret_hash

    reader = client_for(app, token)
    assert reader.get("/api/v1/keys").status_code == 403  # a reader may not manage keys


def test_no_key_is_401_and_the_wrong_role_is_403(app: FastAPI, services: Services) -> None:
    anonymous = client_for(app)
    answer = anonymous.get("/api/v1/keys")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert "admin" in answer.json()["detail"]
    engineer = client_for(app, make_key(services, Role.engineer))
    forbidden = engineer.get("/api/v1/keys")
    assert forbidden.status_code == 403
    assert "engineer key may not" in forbidden.json()["detail"]


@pytest.mark.parametrize(
    "token",
    [
        "not-a-key",
        "wherry_zzzzzzzzzzzz_secret",
        "wherry_0123456789ab_wrong-secret",
        "",
    ],
)
def test_a_bad_key_is_401_even_for_open_data(app: FastAPI, token: str) -> None:
    answer = client_for(app).get("/healthz", headers={"X-API-Key": token} if token else {})
    assert answer.status_code == 200  # health needs no key and reads none
    refused = client_for(app).get("/api/v1/keys", headers={"X-API-Key": token or "x"})
    assert refused.status_code == 401


def test_a_wrong_secret_for_a_real_key_id_is_refused(app: FastAPI, services: Services) -> None:
    token = make_key(services, Role.admin)
    prefix, key_id, _ = token.split("_", 2)
    forged = f"{prefix}_{key_id}_{'A' * 43}"
    assert client_for(app, forged).get("/api/v1/keys").status_code == 401


def test_revoked_and_expired_keys_stop_working(app: FastAPI, services: Services) -> None:
    admin = client_for(app, make_key(services, Role.admin))
    victim = admin.post("/api/v1/keys", json={"role": "engineer", "label": "lost laptop"}).json()
    revoked = admin.post(f"/api/v1/keys/{victim['key_id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    answer = client_for(app, victim["token"]).get("/api/v1/keys")
    assert answer.status_code == 401 and "revoked" in answer.json()["detail"]
    assert admin.post("/api/v1/keys/ffffffffffff/revoke").status_code == 404

    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    short = admin.post("/api/v1/keys", json={"role": "admin", "label": "temp", "expires_at": soon})
    assert client_for(app, short.json()["token"]).get("/api/v1/keys").status_code == 200
    services.clock = lambda: datetime.now(UTC) + timedelta(hours=2)
    expired = client_for(app, short.json()["token"]).get("/api/v1/keys")
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]


def test_expiry_in_the_past_or_without_zone_is_refused(app: FastAPI, services: Services) -> None:
    admin = client_for(app, make_key(services, Role.admin))
    past = admin.post(
        "/api/v1/keys", json={"role": "reader", "label": "x", "expires_at": "2020-01-01T00:00:00Z"}
    )
    assert past.status_code == 422 and "past" in past.text
    naive = admin.post(
        "/api/v1/keys", json={"role": "reader", "label": "x", "expires_at": "2030-01-01T00:00:00"}
    )
    assert naive.status_code == 422


def test_last_use_is_recorded(app: FastAPI, services: Services) -> None:
    token = make_key(services, Role.admin)
    key_id = token.split("_")[1]
    assert services.registry.api_key(key_id).last_used_at is None  # type: ignore[union-attr]
    client_for(app, token).get("/api/v1/keys")
    assert services.registry.api_key(key_id).last_used_at is not None  # type: ignore[union-attr]


def test_creating_and_revoking_keys_is_audited(app: FastAPI, services: Services) -> None:
    admin_token = make_key(services, Role.admin, "council admin")
    admin = client_for(app, admin_token)
    made = admin.post("/api/v1/keys", json={"role": "highways", "label": "duty officer"}).json()
    admin.post(f"/api/v1/keys/{made['key_id']}/revoke")
    entries = services.registry.audit_entries(entity="api_key", entity_id=made["key_id"])
    assert {e.action for e in entries} >= {"create", "revoke"}
    assert all(admin_token.split("_")[1] in e.actor for e in entries)
    assert all(made["token"].split("_", 2)[2] not in str(e.after) for e in entries)


def test_a_key_cannot_revoke_itself(app: FastAPI, services: Services) -> None:
    token = make_key(services, Role.admin)
    answer = client_for(app, token).post(f"/api/v1/keys/{token.split('_')[1]}/revoke")
    assert answer.status_code == 409
    assert client_for(app, token).get("/api/v1/keys").status_code == 200


@pytest.mark.parametrize("label", ["   ", "tab\there", "bell\x07", "c1\x97control"])
def test_labels_must_be_printable_text(app: FastAPI, services: Services, label: str) -> None:
    admin = client_for(app, make_key(services, Role.admin))
    answer = admin.post("/api/v1/keys", json={"role": "reader", "label": label})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "label"]
