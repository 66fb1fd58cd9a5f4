"""The demo fleet: CSVs in the registry's import shapes, consistent with the site descriptions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import decoders
from storage.registry.validation import parse_field_map
from wherry.demo.fleet import (
    DEVICES_CSV,
    ROUTES_CSV,
    UNREGISTERED_CSV,
    FleetError,
    RoadProbe,
    load_fleet,
)

TTN_DEVICE_ID = re.compile(r"^[a-z0-9](?:[-]?[a-z0-9]){2,}$")


def test_csv_headers_are_the_import_shapes() -> None:
    assert DEVICES_CSV.read_text().splitlines()[0] == (
        "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,field_map"
    )
    assert ROUTES_CSV.read_text().splitlines()[0] == "route_id,name,length_km,priority,area"


def test_three_routes_with_a_priority_one_hill_route() -> None:
    fleet = load_fleet()
    routes = {route.route_id: route for route in fleet.routes}
    assert len(routes) == 3
    assert routes["matlock-bank"].priority == 1
    assert all(route.length_km > 0 for route in routes.values())


def test_six_to_eight_road_surface_sensors_spread_over_every_route() -> None:
    fleet = load_fleet()
    probes = [site for site in fleet.sites if isinstance(site.behaviour, RoadProbe)]
    assert 6 <= len(probes) <= 8
    assert {site.device.route_id for site in probes} == {route.route_id for route in fleet.routes}
    assert all(site.device.decoder == "decentlab-dl-ds18" for site in probes)
    assert all("=road_surface_temperature" in site.device.field_map for site in probes)


def test_ids_and_deveuis_are_unique_and_well_formed() -> None:
    devices = [site.device for site in load_fleet().sites]
    assert len({d.device_id for d in devices}) == len(devices)
    assert len({d.dev_eui for d in devices}) == len(devices)
    for device in devices:
        assert TTN_DEVICE_ID.match(device.device_id), device.device_id
        assert re.fullmatch(r"[0-9A-F]{16}", device.dev_eui), device.dev_eui


def test_decentlab_deveuis_end_with_the_device_number_in_the_payload() -> None:
    for site in load_fleet().sites:
        number = getattr(site.behaviour, "device_num", None)
        if number is not None:
            assert site.device.dev_eui.endswith(f"{number:04X}")


def test_sites_are_in_matlock() -> None:
    for site in load_fleet().sites:
        assert 53.12 < site.device.latitude < 53.16
        assert -1.58 < site.device.longitude < -1.53


def test_weather_station_school_and_river_are_there() -> None:
    by_id = {site.device.device_id: site.device for site in load_fleet().sites}
    weather = by_id["wx-bank-road"]
    assert (
        weather.field_map == "temperature_1=air_temperature;relative_humidity_2=relative_humidity"
    )
    assert weather.route_id == "matlock-bank"
    school = by_id["aq-derwent-vale-primary"]
    assert school.public and school.domain == "air" and "School" in school.owner
    assert school.decoder == "milesight-am319" and school.dev_eui.startswith("24E124")
    river = by_id["wq-derwent-hall-leys"]
    assert river.decoder == "decentlab-dl-ctd10" and river.domain == "water"


def test_every_decoder_exists_takes_the_sites_port_and_maps_to_known_quantities() -> None:
    quantities = set(decoders.QUANTITIES)
    for site in load_fleet().sites:
        device = site.device
        decoder = decoders.get_decoder(device.decoder)
        assert decoder.f_ports is None or site.f_port in decoder.f_ports, device.device_id
        field_map = parse_field_map(device.field_map, quantities)
        decoders.check_field_map(device.decoder, field_map)
        assert set(field_map) <= set(decoder.field_units) or not decoder.field_units, (
            f"{device.device_id} maps a field its decoder does not name"
        )


def test_the_classroom_sensor_is_a_milesight_on_port_85_with_the_default_map() -> None:
    classroom = load_fleet().site("aq-derwent-vale-primary")
    assert classroom.f_port == 85
    assert classroom.device.field_map == ""
    mapped = decoders.get_decoder("milesight-am319").default_field_map.values()
    assert {"co2", "pm2_5", "pm10", "air_temperature", "relative_humidity"} <= set(mapped)


def test_every_site_is_heard_by_one_to_three_gateways() -> None:
    fleet = load_fleet()
    for site in fleet.sites:
        assert 1 <= len(site.radio.heard_by) <= 3
        assert 7 <= site.radio.spreading_factor <= 12


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_device_without_a_site_description_is_named(tmp_path: Path) -> None:
    devices = DEVICES_CSV.read_text() + (
        "rst-unknown,70B3D57BA0000FFF,Nowhere,decentlab-dl-ds18,road,matlock-bank,"
        "53.14,-1.55,false,Council,temperature=road_surface_temperature\n"
    )
    with pytest.raises(FleetError, match="rst-unknown"):
        load_fleet(devices_csv=_write(tmp_path / "devices.csv", devices))


def test_a_device_on_an_unlisted_route_is_named(tmp_path: Path) -> None:
    routes = "\n".join(
        line for line in ROUTES_CSV.read_text().splitlines() if not line.startswith("town-centre")
    )
    with pytest.raises(FleetError, match="town-centre"):
        load_fleet(routes_csv=_write(tmp_path / "routes.csv", routes + "\n"))


def test_a_wrong_header_says_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match="header must be route_id,name"):
        load_fleet(routes_csv=_write(tmp_path / "routes.csv", "id,name\nx,y\n"))


def test_a_missing_file_is_a_fleet_error(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match="cannot read"):
        load_fleet(devices_csv=tmp_path / "absent.csv")


def test_one_road_sensor_sends_but_is_not_registered() -> None:
    """It shows up under sightings, waiting for an engineer to register it."""
    fleet = load_fleet()
    waiting = [site for site in fleet.sites if not site.registered]
    assert [site.device.device_id for site in waiting] == ["rst-starkholmes-road"]
    assert "rst-starkholmes-road" not in DEVICES_CSV.read_text()
    assert UNREGISTERED_CSV.read_text().splitlines()[0] == DEVICES_CSV.read_text().splitlines()[0]
    assert isinstance(waiting[0].behaviour, RoadProbe)
    assert len(load_fleet(unregistered_csv=None).sites) == len(fleet.sites) - 1
