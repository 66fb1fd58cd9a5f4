"""Signing in with an API key, the session cookie, signing out, and forms refused without CSRF."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.keys import issue_key
from api.pages.session import COOKIE, MAX_AGE_S
from api.pages.signin import safe_next
from api.roles import Role
from api.services import Services
from storage.registry import NewApiKey
from tests.api_support import make_key
from tests.pages.conftest import SignedIn


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def test_a_page_sends_an_anonymous_visitor_to_sign_in_and_back(
    anonymous: TestClient, page_services: Services
) -> None:
    token = make_key(page_services, Role.highways, "Night duty")

    asked = anonymous.get("/board?x=1", follow_redirects=False)
    form = anonymous.get(asked.headers["location"])
    signed = anonymous.post(
        "/signin", data={"api_key": token, "next": "/board?x=1"}, follow_redirects=False
    )

    assert asked.status_code == 303
    assert asked.headers["location"] == "/signin?next=/board%3Fx%3D1"
    assert 'name="next" value="/board?x=1"' in form.text
    assert signed.status_code == 303
    assert signed.headers["location"] == "/board?x=1"
    board = anonymous.get("/board")
    assert board.status_code == 200
    assert "Night duty" in board.text and "<h1>Gritting board</h1>" in board.text


def test_the_cookie_is_http_only_strict_and_lasts_a_week_and_never_holds_the_key(
    page_app: FastAPI, page_services: Services
) -> None:
    token = make_key(page_services, Role.reader)
    plain = TestClient(page_app).post("/signin", data={"api_key": token}, follow_redirects=False)
    secure = TestClient(page_app, base_url="https://testserver").post(
        "/signin", data={"api_key": token}, follow_redirects=False
    )

    cookie = plain.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert f"Max-Age={MAX_AGE_S}" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert "Secure" in secure.headers["set-cookie"]
    assert token.split("_", 2)[2] not in cookie


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "Paste your API key"),
        ("not-a-key", "This is not a wherry API key"),
        ("wherry_0123456789ab_guessed", "This key is not known here"),
    ],
)
def test_a_bad_key_gets_the_form_back_with_the_reason_beside_the_field(
    anonymous: TestClient, typed: str, reason: str
) -> None:
    response = anonymous.post("/signin", data={"api_key": typed, "next": "/board"})

    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert 'aria-invalid="true"' in response.text
    assert 'aria-describedby="api_key-hint api_key-error"' in response.text
    error = re.search(r'<p class="field-error" id="api_key-error">(.*?)</p>', response.text, re.S)
    assert error is not None and reason in error.group(1)
    assert "<title>Error: sign in" in response.text
    assert 'name="next" value="/board"' in response.text


def test_a_right_key_id_with_a_wrong_secret_does_not_sign_in(
    anonymous: TestClient, page_services: Services
) -> None:
    token = make_key(page_services, Role.admin)
    key_id = token.split("_")[1]

    response = anonymous.post("/signin", data={"api_key": f"wherry_{key_id}_wrong-secret"})

    assert response.status_code == 401
    assert "This key is not known here" in response.text


def test_revoked_and_expired_keys_are_refused_with_why(
    anonymous: TestClient, page_services: Services
) -> None:
    revoked = make_key(page_services, Role.highways)
    page_services.registry.revoke_api_key(
        revoked.split("_")[1], actor="test", at=page_services.clock()
    )
    expired = issue_key()
    page_services.registry.create_api_key(
        NewApiKey(
            key_id=expired.key_id,
            label="old",
            role="reader",
            secret_hash=expired.secret_hash,
            expires_at=page_services.clock() - timedelta(days=1),
        ),
        actor="test",
    )

    one = anonymous.post("/signin", data={"api_key": revoked})
    two = anonymous.post("/signin", data={"api_key": expired.token})

    assert (one.status_code, two.status_code) == (401, 401)
    assert "This key was revoked on" in one.text
    assert "This key expired on" in two.text


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/board",
        "//evil.example/board",
        "/\\evil.example",
        "/\t/evil.example",
        "/%0a",  # harmless, kept
        "javascript:alert(1)",
        "evil.example",
        "/signin",
        "/signout",
    ],
)
def test_sign_in_only_returns_to_a_path_on_this_site(
    anonymous: TestClient, page_services: Services, target: str
) -> None:
    token = make_key(page_services, Role.reader)

    response = anonymous.post(
        "/signin", data={"api_key": token, "next": target}, follow_redirects=False
    )

    assert response.status_code == 303
    expected = target if target == "/%0a" else "/"
    assert response.headers["location"] == expected


def test_safe_next_keeps_local_paths_with_their_query() -> None:
    assert safe_next("/routes/a6-south?done=treatment") == "/routes/a6-south?done=treatment"
    assert safe_next(None) == "/"
    assert safe_next("/" + "a" * 3000) == "/"


def test_sign_in_posted_from_another_site_is_refused(
    anonymous: TestClient, page_services: Services
) -> None:
    token = make_key(page_services, Role.reader)

    response = anonymous.post(
        "/signin", data={"api_key": token}, headers={"Origin": "https://evil.example"}
    )

    assert response.status_code == 403
    assert "set-cookie" not in response.headers


def test_revoking_the_key_signs_its_sessions_out(
    signed_in: SignedIn, page_app: FastAPI, page_services: Services
) -> None:
    highways = signed_in(Role.highways)
    assert highways.get("/board").status_code == 200
    admin = TestClient(page_app, headers={"X-API-Key": make_key(page_services, Role.admin)})

    revoked = admin.post(f"/api/v1/keys/{highways.key_id}/revoke")
    after = highways.get("/board", follow_redirects=False)

    assert revoked.status_code == 200
    assert after.status_code == 303
    assert after.headers["location"].startswith("/signin?next=")


def test_the_session_cookie_does_not_open_the_json_api(signed_in: SignedIn) -> None:
    admin = signed_in(Role.admin)

    assert admin.get("/board").status_code == 200
    assert admin.get("/api/v1/board").status_code == 401


def test_signing_out_needs_the_form_token_and_this_site(signed_in: SignedIn) -> None:
    reader = signed_in(Role.reader)
    page = reader.get("/signout")
    token = csrf_token(page.text)

    without = reader.post("/signout", data={}, follow_redirects=False)
    forged = reader.post("/signout", data={"csrf_token": "x" * len(token)}, follow_redirects=False)
    elsewhere = reader.post(
        "/signout",
        data={"csrf_token": token},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    still = reader.get("/board", follow_redirects=False).status_code
    done = reader.post(
        "/signout",
        data={"csrf_token": token},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )

    assert page.status_code == 200 and "<button" in page.text
    assert [without.status_code, forged.status_code, elsewhere.status_code] == [403, 403, 403]
    assert "another site" in elsewhere.text
    assert still == 200
    assert done.status_code == 303 and done.headers["location"] == "/signin?out=1"
    assert (
        f'{COOKIE}=""' in done.headers["set-cookie"] and "Max-Age=0" in done.headers["set-cookie"]
    )
    assert reader.get("/board", follow_redirects=False).status_code == 303
    assert "You are signed out." in reader.get("/signin?out=1").text
