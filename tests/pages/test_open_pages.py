"""The open-data pages: anonymous, public sensors only, and examples that work as written.

The Python example is taken from the page a real uvicorn server sends and run in a
subprocess against that server, so the address it names and the requests it makes are
the real ones a pupil would copy.
"""

from __future__ import annotations

import hashlib
import html
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.roles import Role
from storage import Point
from storage.registry import DeviceRow
from tests.pages.device_pages_support import MINUTE, NOW_NS, World, assert_well_wired, world
from tests.servers import free_port
from wherry.api_server import ApiServer


def device(device_id: str, *, public: bool, name: str, domain: str = "air") -> DeviceRow:
    return DeviceRow(
        device_id=device_id,
        dev_eui=hashlib.sha256(device_id.encode()).hexdigest()[:16],
        name=name,
        decoder="cayenne-lpp",
        domain=domain,  # type: ignore[arg-type]
        route_id=None,
        latitude=52.9548,
        longitude=-1.1581,
        public=public,
        owner="Greenfield Primary",
        field_map={},
    )


@pytest.fixture(scope="module")
def schools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Two public air sensors (one with readings) and a private road sensor with readings."""
    for built in world(tmp_path_factory.mktemp("open-pages")):
        built.services.registry.apply_device_import(
            [
                device("aq-school-07", public=True, name="Greenfield Primary, playground"),
                device("aq-school-08", public=True, name="Greenfield Primary, classroom"),
                device("rst-secret-01", public=False, name="Secret Lane", domain="road"),
            ],
            actor="test",
        )
        tags = {"device_id": "aq-school-07", "application_id": "schools", "domain": "air"}
        built.services.store.write(
            [
                Point("reading", tags, {"air_temperature": 3.5 + n / 10, "pm2_5": 6.0 + n},
                      NOW_NS - (10 + 60 * n) * MINUTE)
                for n in range(6)
            ]
            + [Point("reading", {"device_id": "rst-secret-01"},
                     {"road_surface_temperature": -2.5}, NOW_NS - 10 * MINUTE)]
        )  # fmt: skip
        yield built


def test_the_open_page_lists_public_sensors_only_and_needs_no_sign_in(schools: World) -> None:
    page = schools.anonymous.get("/open")

    assert page.status_code == 200
    assert "Greenfield Primary, playground" in page.text
    assert "Greenfield Primary, classroom" in page.text
    assert "rst-secret-01" not in page.text and "Secret Lane" not in page.text
    card = page.text[page.text.index('href="/open/aq-school-07"') :]
    card = card[: card.index("</li>")]
    assert "<dd>3.5 °C</dd>" in card and "<dd>6 µg/m³</dd>" in card
    assert card.count("<svg") == 1
    assert 'href="/api/v1/open/devices/aq-school-07/readings?format=csv"' in card
    assert 'href="/api/v1/open/devices/aq-school-07/readings"' in card
    assert "No readings yet." in page.text  # aq-school-08


def test_a_signed_in_engineer_sees_the_same_public_sensors(schools: World) -> None:
    page = schools.browsers[Role.engineer].get("/open")

    assert page.status_code == 200
    assert "Secret Lane" not in page.text and "aq-school-07" in page.text


def test_a_private_sensor_page_is_the_same_404_as_an_unknown_one(schools: World) -> None:
    private = schools.anonymous.get("/open/rst-secret-01")
    unknown = schools.anonymous.get("/open/rst-nobody-01")
    public = schools.anonymous.get("/open/aq-school-07")

    assert private.status_code == unknown.status_code == 404
    assert private.text.replace("rst-secret-01", "X") == unknown.text.replace("rst-nobody-01", "X")
    assert "Secret Lane" not in private.text and "-2.5" not in private.text
    assert public.status_code == 200
    assert "Air temperature over the last 24 hours" in public.text
    assert "PM2.5 over the last 24 hours" in public.text


def test_the_examples_name_the_public_base_url_when_one_is_set(schools: World) -> None:
    services = replace(schools.services, public_base_url="https://wherry.example.org/")
    with TestClient(create_app(services)) as browser:
        page = browser.get("/open")

    assert 'BASE = "https://wherry.example.org/api/v1/open"' in python_example(page.text)
    assert "curl -o aq-school-07.csv &#34;https://wherry.example.org/api/v1/open/" in page.text


@pytest.fixture(scope="module")
def live(schools: World) -> Iterator[str]:
    server = ApiServer(schools.app, "127.0.0.1", free_port())
    server.start()
    yield server.url
    server.stop()


def test_the_python_example_runs_against_this_server_and_prints_real_readings(
    live: str,
) -> None:
    page = httpx.get(f"{live}/open", timeout=30)
    code = python_example(page.text)
    assert f'BASE = "{live}/api/v1/open"' in code
    assert len([line for line in code.splitlines() if line.strip()]) <= 11

    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "aq-school-07 Greenfield Primary, playground ['air_temperature', 'pm2_5']"
    assert lines[1] == "aq-school-08 Greenfield Primary, classroom []"
    assert lines[2:] == [
        f"2026-01-15T0{hour}:00:00Z {3.5 + (8 - hour) / 10} °C" for hour in range(3, 9)
    ]
    assert "rst-secret-01" not in run.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_example_downloads_the_csv(
    live: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    page = httpx.get(f"{live}/open/aq-school-07", timeout=30)
    found = re.search(r'<code id="curl-example">(.*?)</code>', page.text)
    assert found
    line = html.unescape(found.group(1))
    directory = tmp_path_factory.mktemp("curl")

    run = subprocess.run(line, shell=True, cwd=directory, capture_output=True, text=True,
                         timeout=60, check=False)  # fmt: skip

    assert run.returncode == 0, run.stderr
    rows = (directory / "aq-school-07.csv").read_text().splitlines()
    assert rows[0] == "device_id,time,quantity,value,unit,valid,reason"
    assert len(rows) == 7 and rows[-1].startswith("aq-school-07,2026-01-15T08:00:00Z,")


def python_example(page: str) -> str:
    found = re.search(r'<code id="python-example">(.*?)</code>', page, re.S)
    assert found, "the page has no Python example"
    return html.unescape(found.group(1))


def test_the_open_pages_are_wired_for_assistive_technology(schools: World) -> None:
    for url in ("/open", "/open?domain=water", "/open/aq-school-07", "/open/aq-school-08?range=7d"):
        assert_well_wired(schools.anonymous.get(url).text)
