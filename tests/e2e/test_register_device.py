"""An engineer registers a new road sensor through the form, the sensor sends its first
uplink over MQTT, and the device's page shows the value."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from api.roles import Role
from tests.e2e import story
from tests.e2e.conftest import OpenPage, Site
from tests.ingest_support import publish_all


def test_an_engineer_registers_a_device_and_sees_its_first_reading(
    open_page: OpenPage, site: Site
) -> None:
    device_id, dev_eui, name = story.NEW_SENSOR
    page = open_page("/devices/new", Role.engineer)
    page.get_by_label("Device id (required)").fill(device_id)
    page.get_by_label("DevEUI (required)").fill(dev_eui.lower())
    page.get_by_label("Name (optional)").fill(name)
    page.get_by_label("Decoder (required)").select_option("decentlab-dl-ds18")
    page.get_by_label("Domain (required)").select_option("road")
    page.get_by_label("Gritting route (road sensors)").select_option("town-centre")
    page.get_by_label("Latitude (optional)").fill("53.13524")
    page.get_by_label("Longitude (optional)").fill("-1.55918")
    page.get_by_label("Owner (optional)").fill(story.COUNCIL)
    page.get_by_role("button", name="Register the device").click()

    page.wait_for_url(f"**/devices/{device_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(
        page.get_by_text("No valid readings have been stored for this device yet.")
    ).to_be_visible()
    page.goto("/devices")
    expect(page.get_by_role("link", name=device_id, exact=True)).to_be_visible()
    page.go_back()

    # At once: registering through the page tells the bridge's device directory (same
    # process), so the device's first uplink is decoded, not kept as a sighting.
    publish_all(site.mqtt_port, [story.road_reading(device_id, time.time_ns(), 1, 6.25)])

    latest = page.locator("table.latest")
    deadline = time.monotonic() + 10
    while not latest.is_visible() and time.monotonic() < deadline:
        time.sleep(0.3)
        page.reload()
    assert latest.is_visible(), (
        f"no reading on the page after 10 s; wherry's log:\n{site.log_tail()}"
    )
    row = latest.get_by_role("row").filter(has_text="road_surface_temperature")
    expect(row).to_contain_text("6.25 °C")
    expect(page.get_by_role("link", name="town-centre")).to_be_visible()
