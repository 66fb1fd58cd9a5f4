"""Uplink + readings → points: the schema of docs/data-model.md."""

from __future__ import annotations

import math

from decoders import Reading
from gateway_bridge.points import reading_points, uplink_point
from gateway_bridge.uplink import GatewayReception, Uplink
from storage.registry import DeviceRecord

T = 1_768_446_765_123_456_789


def device(**changes: object) -> DeviceRecord:
    values: dict[str, object] = dict(
        device_id="rst-01",
        dev_eui="70b3d57ed0000001",
        name=None,
        decoder="decentlab-dl-ds18",
        domain="road",
        route_id="hill",
        latitude=None,
        longitude=None,
        public=False,
        owner=None,
        field_map={},
        site=None,
        application_id=None,
        status="active",
        notes=None,
    )
    values.update(changes)
    return DeviceRecord(**values)  # type: ignore[arg-type]


UPLINK = Uplink(
    network="ttn",
    device_id="rst-01",
    application_id="council",
    received_at_ns=T,
    payload=b"\x02\x02",
    f_cnt=42,
    f_port=1,
    spreading_factor=9,
    airtime_ms=61.7,
    receptions=(GatewayReception("gw-a", -110.0, -3.0), GatewayReception("gw-b", -95.5, 6.25)),
)


def test_uplink_point_reports_the_loudest_gateway() -> None:
    point = uplink_point(UPLINK, "rst-01")
    assert point.measurement == "uplink" and point.time_ns == T
    assert point.tags == {"device_id": "rst-01", "application_id": "council", "gateway": "gw-b"}
    assert point.fields == {
        "bytes": 2,
        "gateways": 2,
        "f_cnt": 42,
        "f_port": 1,
        "rssi": -95.5,
        "snr": 6.25,
        "spreading_factor": 9,
        "airtime_ms": 61.7,
    }


def test_uplink_point_without_metadata_has_no_made_up_fields() -> None:
    bare = Uplink(network="ttn", device_id="x", application_id="a", received_at_ns=T, payload=b"")
    point = uplink_point(bare, "x")
    assert point.tags == {"device_id": "x", "application_id": "a"}
    assert point.fields == {"bytes": 0, "gateways": 0}


def test_valid_readings_share_one_point_with_registry_tags() -> None:
    readings = [
        Reading("road_surface_temperature", -0.5, "°C", "temperature"),
        Reading("battery_voltage", 3.0, "V", "battery_voltage"),
    ]
    [point] = reading_points(UPLINK, device(site="bank-road"), readings)
    assert point.measurement == "reading" and point.time_ns == T
    assert point.tags == {
        "device_id": "rst-01",
        "application_id": "council",
        "domain": "road",
        "route": "hill",
        "site": "bank-road",
    }
    assert point.fields == {"road_surface_temperature": -0.5, "battery_voltage": 3.0}
    assert all(isinstance(v, float) for v in point.fields.values())


def test_flagged_readings_are_kept_apart_with_their_reason() -> None:
    readings = [
        Reading("road_surface_temperature", 85.0, "°C", "temperature", "probe_error: power-on"),
        Reading("air_temperature", math.nan, "°C", "t", "not_finite"),
        Reading("battery_voltage", 3.0, "V", "battery_voltage"),
    ]
    valid, probe, nan = reading_points(UPLINK, device(route_id=None), readings)
    assert valid.fields == {"battery_voltage": 3.0}
    assert "route" not in valid.tags
    assert probe.measurement == "flagged"
    assert probe.tags["quantity"] == "road_surface_temperature"
    assert probe.fields == {"reason": "probe_error: power-on", "value": 85.0}
    assert nan.fields == {"reason": "not_finite", "raw": "nan"}


def test_no_valid_reading_means_no_reading_point() -> None:
    flagged = [Reading("road_surface_temperature", -127.0, "°C", "temperature", "probe_error")]
    [point] = reading_points(UPLINK, device(), flagged)
    assert point.measurement == "flagged"


def test_an_uplink_found_by_its_dev_eui_is_filed_under_the_registered_device() -> None:
    claimed = Uplink(
        network="ttn", device_id="forged,tag=x", application_id="a", received_at_ns=T, payload=b""
    )
    assert uplink_point(claimed, "rst-01").tags["device_id"] == "rst-01"
    reading = Reading("road_surface_temperature", 1.5, "°C", "temperature")
    [point] = reading_points(claimed, device(), [reading])
    assert point.tags["device_id"] == "rst-01"
