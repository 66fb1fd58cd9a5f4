"""Every page route × every role, anonymous included, over a real uvicorn server.

Anonymous callers of a protected page are sent to /signin (303), a signed-in key of the
wrong role gets the 403 page, an allowed one gets the page. POLICY is the pages' access
written out by hand from their code; the test fails when a page route is added without a
line here (pages are the app's routes left out of the OpenAPI schema), so nobody ships a
page whose access was never decided.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Mount

from alerts.notify.broadcast import Broadcaster
from api.app import create_app
from api.keys import issue_key
from api.pages.session import COOKIE, CSRF_FIELD, csrf_token, issue, read
from api.roles import ANY_KEY, ENGINEERS, HIGHWAYS, RESPONDERS, Role
from api.services import Services
from storage.registry import NewApiKey, Sighting
from tests.api_support import make_services
from tests.servers import free_port
from wherry.api_server import ApiServer
from wherry.imports import import_devices_file, import_routes_file
from wherry.settings import Settings

ANYONE = None

POLICY: dict[tuple[str, str], frozenset[Role] | None] = {
    ("GET", "/"): ANYONE,
    # sign-in (api/pages/signin.py)
    ("GET", "/signin"): ANYONE,
    ("POST", "/signin"): ANYONE,
    ("GET", "/signout"): ANYONE,
    ("POST", "/signout"): ANYONE,
    # the board and routes (board.py, route_page.py): any key reads, as the JSON board allows
    ("GET", "/board"): ANY_KEY,
    ("GET", "/board/events"): ANY_KEY,
    ("GET", "/routes/{route_id}"): ANY_KEY,
    ("POST", "/routes/{route_id}/alerts/{alert_id}/acknowledge"): RESPONDERS,
    ("POST", "/routes/{route_id}/treatments"): HIGHWAYS,
    # devices (devices.py, tools.py): reading needs any key; sightings and changes, engineers
    ("GET", "/devices"): ANY_KEY,
    ("GET", "/devices/{device_id}"): ANY_KEY,
    ("GET", "/devices/new"): ENGINEERS,
    ("POST", "/devices/new"): ENGINEERS,
    ("GET", "/devices/import"): ENGINEERS,
    ("POST", "/devices/import"): ENGINEERS,
    ("GET", "/sightings"): ENGINEERS,
    ("GET", "/sightings/{device_id}/register"): ENGINEERS,
    ("POST", "/sightings/{device_id}/register"): ENGINEERS,
    ("GET", "/tools/decoder"): ENGINEERS,
    # open data (open_data.py): no key
    ("GET", "/open"): ANYONE,
    ("GET", "/open/{device_id}"): ANYONE,
}
ALLOWED_STATUS: dict[tuple[str, str], int] = {
    ("POST", "/signin"): 401,  # an empty key: the form again, saying why
    ("POST", "/signout"): 303,  # to /signin?out=1
}
"""Where an allowed caller gets something other than 200."""
ANONYMOUS_STATUS: dict[tuple[str, str], int] = {
    ("GET", "/board/events"): 401,  # EventSource cannot follow a sign-in redirect
}
"""Where an anonymous caller of a protected route gets something other than 303 to /signin."""
STREAMS = {("GET", "/board/events")}
"""Server-sent event streams: only the status and the content type are read."""

NOT_PAGES = {"/static", "/docs", "/openapi.json", "/docs/oauth2-redirect"}
PLACEHOLDERS = {
    "{device_id}": "rst-bank-road-lower",
    "{route_id}": "matlock-bank",
    "{alert_id}": "999999",
}
PATH_PLACEHOLDERS = {
    "/open/{device_id}": {"{device_id}": "aq-school"},
    "/sightings/{device_id}/register": {"{device_id}": "rst-heard-only"},
}
CALLERS: list[Role | None] = [None, *Role]

ROUTES_CSV = "route_id,name,length_km,priority,area\nmatlock-bank,Matlock Bank,6.4,1,Matlock\n"
DEVICES_CSV = (
    "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,field_map\n"
    "rst-bank-road-lower,70B3D57BA0000A11,Bank Road (lower),decentlab-dl-ds18,road,"
    "matlock-bank,53.139,-1.554,false,Highways,\n"
    "aq-school,A840410001817B01,Classroom,cayenne-lpp,air,,53.144,-1.556,true,School,\n"
)


@dataclass
class Served:
    app: FastAPI
    url: str
    cookies: dict[Role, str]
    secret: bytes
    client: httpx.Client


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("page-roles")
    _register(directory)
    base = make_services(directory)
    base.registry.record_sightings(
        [Sighting("ttn", "rst-heard-only", "matlock-roads", "70b3d57ba0000c31", 1, 1, b"\x02")]
    )
    broadcaster = Broadcaster(heartbeat_s=0.5)
    services: Services = replace(base, broadcaster=broadcaster)
    cookies = {}
    for role in Role:
        key = issue_key()
        services.registry.create_api_key(
            NewApiKey(key.key_id, f"page {role}", role.value, key.secret_hash, None), actor="test"
        )
        cookies[role] = issue(services.session_secret, key.key_id)
    app = create_app(services)
    server = ApiServer(app, "127.0.0.1", free_port())
    server.start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield Served(app, server.url, cookies, services.session_secret, client)
    broadcaster.close()  # ends any open page stream, so the server can stop
    server.stop()
    services.registry.close()
    services.store.close()


def _register(directory: Path) -> None:
    """The registry make_services opens, filled as `wherry routes/devices import` does."""
    settings = Settings(data_dir=directory, registry_url=f"sqlite:///{directory / 'registry.db'}")
    (directory / "routes.csv").write_text(ROUTES_CSV)
    (directory / "devices.csv").write_text(DEVICES_CSV)
    for do, name in ((import_routes_file, "routes.csv"), (import_devices_file, "devices.csv")):
        said: list[str] = []
        assert do(settings, directory / name, dry_run=False, echo=said.append) == 0, said


def page_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the OpenAPI schema leaves out: the pages."""
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    found = set()
    for route in every_route(app):
        path = getattr(route, "path", "")
        if isinstance(getattr(route, "original_route", route), Mount) or path in NOT_PAGES:
            continue
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD" and (method, path) not in documented:
                found.add((method, path))
    return found


def every_route(app: FastAPI) -> list[Any]:
    """The app's routes with included routers opened up (FastAPI 0.16x includes them lazily)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: included routes are copied into app.routes
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def test_the_policy_covers_every_page(served: Served) -> None:
    pages = page_routes(served.app)
    assert pages == set(POLICY), (
        f"pages without a policy line: {sorted(pages - set(POLICY))}; "
        f"policy lines without a page: {sorted(set(POLICY) - pages)}"
    )


def request(served: Served, method: str, url: str, caller: Role | None) -> httpx.Response:
    """The page as a browser asks for it: the session cookie, and for a form its CSRF token
    and this site's Origin, so only the role decides."""
    headers = {"Cookie": f"{COOKIE}={served.cookies[caller]}"} if caller else {}
    data = None
    if method == "POST":
        headers["Origin"] = served.url
        session = read(served.secret, served.cookies[caller]) if caller else None
        data = {CSRF_FIELD: csrf_token(served.secret, session)} if session else {}
    client = served.client
    client.cookies.clear()  # only the header above speaks for the caller
    if (method, url) in STREAMS:
        with client.stream(method, url, headers=headers) as response:
            return response
    return client.request(method, url, headers=headers, data=data)


@pytest.mark.parametrize("caller", CALLERS, ids=lambda role: str(role or "anonymous"))
@pytest.mark.parametrize(("method", "path"), sorted(POLICY), ids=lambda v: str(v))
def test_access(served: Served, method: str, path: str, caller: Role | None) -> None:
    url = path
    for placeholder, value in {**PLACEHOLDERS, **PATH_PLACEHOLDERS.get(path, {})}.items():
        url = url.replace(placeholder, value)
    response = request(served, method, url, caller)
    allowed = POLICY[(method, path)]
    who = caller or "anonymous"
    if allowed is ANYONE or (caller is not None and caller in allowed):
        if (method, path) in ALLOWED_STATUS:
            assert response.status_code == ALLOWED_STATUS[(method, path)], who
        elif method == "GET":
            assert response.status_code == 200, f"{who}: {response.status_code}"
        else:  # a form post: refused for its content perhaps, never for its sender
            assert response.status_code not in (401, 403), f"{who} refused"
            assert response.status_code < 500
            assert not response.headers.get("location", "").startswith("/signin")
        if (method, path) in STREAMS:
            assert response.headers["content-type"].startswith("text/event-stream")
    elif caller is None and (method, path) in ANONYMOUS_STATUS:
        assert response.status_code == ANONYMOUS_STATUS[(method, path)]
    elif caller is None:
        assert response.status_code == 303
        assert response.headers["location"] == f"/signin?next={quote(url)}"
    else:
        assert response.status_code == 403, f"{who}: {response.status_code}"
        assert "needs one of these roles" in response.text
