"""The devices list, a device's page and the unregistered sightings, over a real registry
and store: what an engineer sees must be what the store holds, in words and with units."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest

from alerts.rules.health import HealthSettings
from api.roles import Role
from storage import Point
from storage.registry import DeviceRow, RouteDraft, Sighting
from tests.pages.device_pages_support import MINUTE, NOW_NS, World, assert_well_wired, world


def device(
    device_id: str,
    domain: str,
    *,
    route_id: str | None = None,
    decoder: str = "decentlab-dl-ds18",
    public: bool = False,
    field_map: dict[str, str] | None = None,
) -> DeviceRow:
    return DeviceRow(
        device_id=device_id,
        dev_eui=hashlib.sha256(device_id.encode()).hexdigest()[:16],
        name=f"Sensor {device_id}",
        decoder=decoder,
        domain=domain,  # type: ignore[arg-type]
        route_id=route_id,
        latitude=None,
        longitude=None,
        public=public,
        owner="Highways",
        field_map=field_map or {},
    )


def reading(device_id: str, minutes_ago: int, **fields: float) -> Point:
    return Point("reading", {"device_id": device_id}, fields, NOW_NS - minutes_ago * MINUTE)


def uplink(device_id: str, minutes_ago: int, *, rssi: float, snr: float, sf: int = 7) -> Point:
    return Point(
        "uplink",
        {"device_id": device_id, "application_id": "roads", "gateway": "gw-matlock"},
        {"f_cnt": 1000 - minutes_ago, "rssi": rssi, "snr": snr, "gateways": 2,
         "spreading_factor": sf},
        NOW_NS - minutes_ago * MINUTE,
    )  # fmt: skip


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Five devices: one healthy road sensor, one with a low battery and a weak link, one
    silent for five hours, one never heard, one retired."""
    for built in world(tmp_path_factory.mktemp("device-pages")):
        _fill(built)
        yield built


def _fill(built: World) -> None:
    services = built.services
    services.registry.create_route(
        RouteDraft(route_id="matlock-bank", length_km=6.4, priority=1), actor="test"
    )
    services.registry.apply_device_import(
        [
            device("rst-bank-road-lower", "road", route_id="matlock-bank",
                   field_map={"temperature": "road_surface_temperature"}),
            device("rst-weak", "road", route_id="matlock-bank"),
            device("aq-silent", "air", decoder="cayenne-lpp", public=True),
            device("wl-never", "water", decoder="decentlab-dl-pr26"),
            device("rst-old", "road"),
        ],
        actor="test",
    )  # fmt: skip
    services.registry.retire_device("rst-old", actor="test")
    points = []
    for minutes in range(0, 24 * 60, 60):
        points.append(
            reading("rst-bank-road-lower", 10 + minutes,
                    road_surface_temperature=-1.25 + minutes / 600, battery_voltage=3.61)
        )  # fmt: skip
        points.append(uplink("rst-bank-road-lower", 10 + minutes, rssi=-87.0, snr=7.5))
    points += [
        reading("rst-weak", 30, road_surface_temperature=0.5, battery_voltage=2.8),
        uplink("rst-weak", 30, rssi=-125.0, snr=-17.5, sf=12),
        reading("aq-silent", 300, air_temperature=4.0),
        uplink("aq-silent", 300, rssi=-100.0, snr=2.0),
    ]
    services.store.write(points)


def device_ids(html: str) -> list[str]:
    """The device ids the list's table rows link to, in order."""
    return re.findall(r'<th scope="row"><a href="/devices/([a-z0-9-]+)">', html)


# -- the list -------------------------------------------------------------------------------------


def test_the_list_says_in_words_what_is_wrong_with_each_device(fleet: World) -> None:
    page = fleet.browsers[Role.engineer].get("/devices")

    assert page.status_code == 200
    assert device_ids(page.text) == [
        "aq-silent", "rst-bank-road-lower", "rst-old", "rst-weak", "wl-never",
    ]  # fmt: skip
    row = _row(page.text, "rst-weak")
    assert "low battery (2.8 V)" in row
    assert "weak link (RSSI −125 dBm, SNR −17.5 dB)" in row
    assert "silent for 5 h" in _row(page.text, "aq-silent")
    assert "never heard" in _row(page.text, "wl-never")
    assert "No problems" in _row(page.text, "rst-bank-road-lower")
    assert "Retired" in _row(page.text, "rst-old")
    assert 'href="/devices/new"' in page.text


def test_the_health_rules_limits_decide_what_the_list_calls_low_or_weak(fleet: World) -> None:
    services = fleet.services
    default = services.health
    services.health = HealthSettings(battery_low_voltage=3.7, link_rssi_below_dbm=-80.0)
    try:  # the rules file's [health] limits, as `wherry run` hands them to the pages
        page = fleet.browsers[Role.engineer].get("/devices?battery=1")
        assert device_ids(page.text) == ["rst-bank-road-lower", "rst-weak"]
        assert "Newest reading below 3.7 V or 20 %." in page.text
        page = fleet.browsers[Role.engineer].get("/devices?link=1")
        assert device_ids(page.text) == ["aq-silent", "rst-bank-road-lower", "rst-weak"]
    finally:
        services.health = default


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("domain=road", ["rst-bank-road-lower", "rst-old", "rst-weak"]),
        ("route=matlock-bank", ["rst-bank-road-lower", "rst-weak"]),
        ("status=retired", ["rst-old"]),
        ("silent=120", ["aq-silent", "wl-never"]),
        ("silent=20", ["aq-silent", "rst-weak", "wl-never"]),
        ("battery=1", ["rst-weak"]),
        ("link=1", ["rst-weak"]),
        ("domain=road&status=active&silent=20", ["rst-weak"]),
    ],
)
def test_filters_narrow_the_list(fleet: World, query: str, expected: list[str]) -> None:
    page = fleet.browsers[Role.engineer].get(f"/devices?{query}")

    assert page.status_code == 200
    assert device_ids(page.text) == expected


def test_a_filter_that_cannot_be_read_is_named_beside_its_field(fleet: World) -> None:
    page = fleet.browsers[Role.engineer].get("/devices?silent=soon&domain=road")

    assert page.status_code == 422
    assert re.search(r'<p class="field-error" id="f-silent-error">.*&#39;soon&#39; is not a number',
                     page.text)  # fmt: skip
    assert re.search(r'id="f-silent"[^>]*aria-invalid="true"', page.text)
    assert device_ids(page.text) == ["rst-bank-road-lower", "rst-old", "rst-weak"]


def test_a_reader_sees_devices_but_no_tools_and_no_sightings(fleet: World) -> None:
    reader = fleet.browsers[Role.reader]

    listed = reader.get("/devices")
    sightings = reader.get("/sightings")

    assert listed.status_code == 200
    assert "/devices/new" not in listed.text and "/sightings" not in listed.text
    assert sightings.status_code == 403


def test_nobody_signed_in_is_sent_to_sign_in(fleet: World) -> None:
    answer = fleet.anonymous.get("/devices?domain=road", follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin?next=/devices")


# -- one device -----------------------------------------------------------------------------------


def test_the_device_page_shows_latest_values_with_units_and_the_link(fleet: World) -> None:
    page = fleet.browsers[Role.highways].get("/devices/rst-bank-road-lower")

    assert page.status_code == 200
    text = page.text
    latest = _section(text, "latest-title")
    assert "road_surface_temperature" in latest and "−1.25 °C" in latest
    assert "3.61 V" in latest
    link = _section(text, "link-title")
    assert "Uplinks in the last 24 hours" in link and "<dd>24</dd>" in link
    assert "−87 dBm" in link and "7.5 dB" in link and "SF7" in link and "gw-matlock" in link
    assert "Link is fine" in link
    charts = _section(text, "charts-title")
    assert charts.count("<svg") == 1 and "Road surface temperature over the last 24 hours" in charts
    config = _section(text, "config-title")
    assert "decentlab-dl-ds18" in config and "temperature=road_surface_temperature" in config
    assert "Private" in text and "Active" in text


def test_a_weak_link_is_said_in_words_on_the_device_page(fleet: World) -> None:
    page = fleet.browsers[Role.engineer].get("/devices/rst-weak")

    link = _section(page.text, "link-title")
    assert "Weak link" in link and "−125 dBm" in link and "SF12" in link


def test_the_seven_day_charts_cover_the_week(fleet: World) -> None:
    page = fleet.browsers[Role.engineer].get("/devices/rst-bank-road-lower?range=7d")

    assert page.status_code == 200
    assert "Road surface temperature over the last 7 days" in page.text
    assert 'aria-current="true">The last 7 days' in page.text


def test_an_unknown_device_is_a_404_page(fleet: World) -> None:
    page = fleet.browsers[Role.engineer].get("/devices/no-such-device")

    assert page.status_code == 404
    assert "No device &#39;no-such-device&#39; is registered" in page.text


# -- sightings ------------------------------------------------------------------------------------


def test_sightings_say_why_each_device_is_not_used(fleet: World) -> None:
    fleet.services.registry.record_sightings(
        [
            Sighting("ttn", "eui-70b3d57ba0000a99", "roads", "70b3d57ba0000a99", NOW_NS, 1,
                     bytes.fromhex("02000100037fec0bb8")),
            Sighting("chirpstack", "mystery", None, None, NOW_NS - 60 * MINUTE, 2, b"\x01"),
        ]
    )  # fmt: skip

    page = fleet.browsers[Role.engineer].get("/sightings")

    assert page.status_code == 200
    assert (
        "no device with id &#39;eui-70b3d57ba0000a99&#39; or DevEUI 70b3d57ba0000a99 is registered"
        in page.text
    )
    assert "its uplinks carry no DevEUI" in page.text
    assert 'href="/sightings/eui-70b3d57ba0000a99/register"' in page.text


def _row(html: str, device_id: str) -> str:
    start = html.index(f'<a href="/devices/{device_id}">')
    return html[start : html.index("</tr>", start)]


def _section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    end = html.find("<section", start)
    return html[start : end if end != -1 else len(html)]


@pytest.mark.parametrize(
    "url",
    ["/devices", "/devices?silent=soon", "/devices/rst-bank-road-lower",
     "/devices/rst-weak?range=7d", "/devices/wl-never", "/sightings"],
)  # fmt: skip
def test_every_label_and_aria_reference_finds_its_target(fleet: World, url: str) -> None:
    assert_well_wired(fleet.browsers[Role.engineer].get(url).text)
