"""Open data: anonymous callers see public devices and nothing else, in a documented shape.

Also runs the ten-line Python example and the curl line of docs/open-data.md against a
real uvicorn server, so the page pupils copy from cannot go stale.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.readings_cache import ReadingsCache
from api.roles import Role
from api.services import Services
from decoders import QUANTITIES
from storage import Point
from storage.registry import DeviceRow
from tests.api_support import client_for, make_app, make_key, make_services
from tests.servers import free_port
from wherry.api_server import ApiServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "open-data.md"
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
NOW = datetime(2026, 1, 15, 8, 15, tzinfo=UTC)
T0 = 1_768_464_000 * SECOND  # 2026-01-15T08:00:00Z


def device(
    device_id: str, *, public: bool, domain: str = "air", name: str | None = None
) -> DeviceRow:
    return DeviceRow(
        device_id=device_id,
        dev_eui=uuid.uuid4().hex[:16],
        name=name or f"Sensor {device_id}",
        decoder="cayenne-lpp",
        domain=domain,  # type: ignore[arg-type]
        route_id=None,
        latitude=52.9548,
        longitude=-1.1581,
        public=public,
        owner="Greenfield Primary",
        field_map={},
    )


def air(device_id: str, time_ns: int, **fields: float) -> Point:
    tags = {"device_id": device_id, "application_id": "schools", "domain": "air"}
    return Point("reading", tags, fields, time_ns)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = make_services(tmp_path)
    services.clock = lambda: NOW
    services.registry.apply_device_import(
        [
            device("aq-school-07", public=True, name="Greenfield Primary, playground"),
            device("aq-school-08", public=True),
            device("rst-secret-01", public=False, domain="road"),
        ],
        actor="test",
    )
    services.store.write(
        [
            air("aq-school-07", T0 - 60 * MINUTE, air_temperature=3.0, pm2_5=6.0),
            air("aq-school-07", T0 - 30 * MINUTE, air_temperature=4.0, pm2_5=6.5),
            air("aq-school-07", T0, air_temperature=5.0, relative_humidity=80.0, pm2_5=7.5),
            air("rst-secret-01", T0, road_surface_temperature=-2.0),
        ]
    )
    yield services
    services.registry.close()
    services.store.close()


@pytest.fixture
def app(services: Services) -> FastAPI:
    return make_app(services)


@pytest.fixture
def anonymous(app: FastAPI) -> TestClient:
    return client_for(app)


def test_anonymous_callers_list_public_devices_only(anonymous: TestClient) -> None:
    answer = anonymous.get("/api/v1/open/devices")

    assert answer.status_code == 200
    assert answer.json() == {
        "devices": [
            {
                "device_id": "aq-school-07",
                "name": "Greenfield Primary, playground",
                "domain": "air",
                "owner": "Greenfield Primary",
                "location": {"latitude": 52.9548, "longitude": -1.1581},
                "quantities": ["air_temperature", "pm2_5", "relative_humidity"],
                "latest_reading_at": "2026-01-15T08:00:00Z",
            },
            {
                "device_id": "aq-school-08",
                "name": "Sensor aq-school-08",
                "domain": "air",
                "owner": "Greenfield Primary",
                "location": {"latitude": 52.9548, "longitude": -1.1581},
                "quantities": [],
                "latest_reading_at": None,
            },
        ]
    }
    assert anonymous.get("/api/v1/open/devices?domain=road").json() == {"devices": []}


def test_the_device_list_as_csv(anonymous: TestClient) -> None:
    answer = anonymous.get("/api/v1/open/devices", headers={"Accept": "text/csv"})

    assert list(csv.reader(io.StringIO(answer.text))) == [
        ["device_id", "name", "domain", "owner", "latitude", "longitude", "quantities",
         "latest_reading_at"],
        ["aq-school-07", "Greenfield Primary, playground", "air", "Greenfield Primary",
         "52.9548", "-1.1581", "air_temperature;pm2_5;relative_humidity",
         "2026-01-15T08:00:00Z"],
        ["aq-school-08", "Sensor aq-school-08", "air", "Greenfield Primary", "52.9548",
         "-1.1581", "", ""],
    ]  # fmt: skip


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/open/devices/{id}",
        "/api/v1/open/devices/{id}/readings",
        "/api/v1/open/devices/{id}/readings?format=csv&window=1h",
        "/api/v1/open/devices/{id}/readings/latest",
    ],
)
def test_a_private_device_is_indistinguishable_from_an_unknown_one(
    anonymous: TestClient, path: str
) -> None:
    private = anonymous.get(path.format(id="rst-secret-01"))
    unknown = anonymous.get(path.format(id="rst-nobody-01"))

    assert private.status_code == unknown.status_code == 404
    assert private.json()["detail"].replace("rst-secret-01", "X") == unknown.json()[
        "detail"
    ].replace("rst-nobody-01", "X")
    assert private.headers.keys() == unknown.headers.keys()


def test_latest_of_all_public_devices_leaves_private_ones_out(
    app: FastAPI, services: Services, anonymous: TestClient
) -> None:
    keyed = client_for(app, make_key(services, Role.reader))

    public = anonymous.get("/api/v1/open/readings/latest").json()
    everything = keyed.get("/api/v1/readings/latest").json()

    assert [entry["device_id"] for entry in public["devices"]] == ["aq-school-07"]
    assert [entry["device_id"] for entry in everything["devices"]] == [
        "aq-school-07",
        "rst-secret-01",
    ]
    assert public["devices"][0]["readings"] == [
        {"time": "2026-01-15T08:00:00Z", "quantity": name, "value": value, "unit": unit,
         "valid": True, "reason": None}
        for name, value, unit in [
            ("air_temperature", 5.0, "°C"), ("pm2_5", 7.5, "µg/m³"),
            ("relative_humidity", 80.0, "%"),
        ]
    ]  # fmt: skip
    csv_text = anonymous.get("/api/v1/open/readings/latest?format=csv").text
    assert "rst-secret-01" not in csv_text
    assert anonymous.get("/api/v1/open/readings/latest?domain=road").json() == {"devices": []}


def test_open_readings_have_the_same_options_and_shape_as_keyed_ones(
    app: FastAPI, services: Services, anonymous: TestClient
) -> None:
    keyed = client_for(app, make_key(services, Role.reader))
    query = "quantity=pm2_5&window=1h&start=2026-01-15T06:00:00Z&end=2026-01-15T09:00:00Z"

    open_page = anonymous.get(f"/api/v1/open/devices/aq-school-07/readings?{query}")
    keyed_page = keyed.get(f"/api/v1/devices/aq-school-07/readings?{query}")

    assert open_page.json() == keyed_page.json()
    assert [(row["time"], row["value"]) for row in open_page.json()["readings"]] == [
        ("2026-01-15T07:00:00Z", 6.25),
        ("2026-01-15T08:00:00Z", 7.5),
    ]
    too_few = anonymous.get(f"/api/v1/open/devices/aq-school-07/readings?{query}&limit=0")
    assert too_few.status_code == 422


def test_one_public_device_and_its_latest(anonymous: TestClient) -> None:
    one = anonymous.get("/api/v1/open/devices/aq-school-07").json()
    latest = anonymous.get("/api/v1/open/devices/aq-school-07/readings/latest").json()

    assert one["latest_reading_at"] == "2026-01-15T08:00:00Z"
    assert (latest["device_id"], latest["time"], len(latest["readings"])) == (
        "aq-school-07",
        "2026-01-15T08:00:00Z",
        3,
    )


def test_a_keyed_caller_may_read_open_data_and_a_bad_key_is_refused(
    app: FastAPI, services: Services
) -> None:
    keyed = client_for(app, make_key(services, Role.highways))

    assert keyed.get("/api/v1/open/devices").status_code == 200
    assert client_for(app, "wherry_nope_nope").get("/api/v1/open/devices").status_code == 401


def test_a_device_made_private_leaves_open_data(
    app: FastAPI, services: Services, anonymous: TestClient
) -> None:
    app.state.readings_cache = ReadingsCache(services.registry, ttl=0)
    assert anonymous.get("/api/v1/open/devices/aq-school-07").status_code == 200

    services.registry.apply_device_import([device("aq-school-07", public=False)], actor="test")

    assert anonymous.get("/api/v1/open/devices/aq-school-07").status_code == 404
    assert anonymous.get("/api/v1/open/readings/latest").json() == {"devices": []}
    listed = anonymous.get("/api/v1/open/devices").json()["devices"]
    assert [entry["device_id"] for entry in listed] == ["aq-school-08"]


def test_browsers_on_other_sites_may_read_open_data(anonymous: TestClient) -> None:
    answer = anonymous.get(
        "/api/v1/open/readings/latest", headers={"Origin": "https://pupil.example"}
    )

    assert answer.headers["access-control-allow-origin"] == "*"


# -- docs/open-data.md, run as written ------------------------------------------------------


def doc_block(language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert blocks, f"docs/open-data.md has no {language} block"
    return str(blocks[0])


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    server = ApiServer(app, "127.0.0.1", free_port())
    server.start()
    yield server.url
    server.stop()


def test_the_documented_python_example_runs_against_the_api(live_server: str) -> None:
    code = doc_block("python").replace("https://wherry.example.org", live_server)
    assert len([line for line in code.splitlines() if line.strip()]) <= 10

    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )

    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == (
        "aq-school-07 Greenfield Primary, playground "
        "['air_temperature', 'pm2_5', 'relative_humidity']"
    )
    assert lines[1] == "aq-school-08 Sensor aq-school-08 []"
    # The default range is the day before now (08:15Z): two hours hold readings.
    assert lines[2:] == ["2026-01-15T07:00:00Z 3.5 °C", "2026-01-15T08:00:00Z 5.0 °C"]


def test_the_documented_curl_line_gets_csv(live_server: str) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    line = doc_block("sh").strip()
    url = re.search(r'"(https://wherry\.example\.org[^"]+)"', line)
    assert line.startswith("curl ") and url is not None

    run = subprocess.run(
        [curl, "-s", url.group(1).replace("https://wherry.example.org", live_server)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert run.stdout.splitlines()[0] == "device_id,time,quantity,value,unit,valid,reason"
    assert run.stdout.splitlines()[1:] == [
        "aq-school-07,2026-01-15T07:00:00Z,pm2_5,6.0,µg/m³,true,",
        "aq-school-07,2026-01-15T07:30:00Z,pm2_5,6.5,µg/m³,true,",
        "aq-school-07,2026-01-15T08:00:00Z,pm2_5,7.5,µg/m³,true,",
    ]


def test_the_documented_quantity_table_matches_the_catalogue() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Quantities") :].split("\n## ")[0]
    rows = re.findall(r"^\| `([a-z0-9_]+)` \| ([^|]+) \|", section, re.M)

    assert dict((name, unit.strip()) for name, unit in rows) == {
        name: quantity.unit for name, quantity in QUANTITIES.items()
    }


def test_lists_are_shared_for_two_seconds_then_refreshed(
    app: FastAPI, services: Services, anonymous: TestClient
) -> None:
    now = [1000.0]
    app.state.readings_cache = ReadingsCache(services.registry, ttl=2.0, clock=lambda: now[0])

    def latest_time() -> str:
        return str(anonymous.get("/api/v1/open/readings/latest").json()["devices"][0]["time"])

    assert latest_time() == "2026-01-15T08:00:00Z"
    services.store.write([air("aq-school-07", T0 + 10 * MINUTE, pm2_5=8.0)])
    now[0] += 1.9
    assert latest_time() == "2026-01-15T08:00:00Z"
    assert anonymous.get("/api/v1/open/devices/aq-school-07/readings/latest").json()["time"] == (
        "2026-01-15T08:10:00Z"  # one device is always read fresh
    )
    now[0] += 0.1
    assert latest_time() == "2026-01-15T08:00:00Z"  # served while a refresh runs
    deadline = time.monotonic() + 10
    while latest_time() != "2026-01-15T08:10:00Z":
        assert time.monotonic() < deadline, "the background refresh never landed"
        time.sleep(0.01)
