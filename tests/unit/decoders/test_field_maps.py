"""A device's field map overrides and extends its decoder's defaults."""

from __future__ import annotations

import pytest

from decoders import (
    DecodeError,
    FieldMapError,
    UnknownDecoder,
    all_decoders,
    check_field_map,
    decode,
    parse_field_map,
)

DS18 = bytes.fromhex("02023d0003815e0c15")


def quantities(decoder_id: str, payload: bytes, port: int, **kw: object) -> list[str]:
    return [r.quantity for r in decode(decoder_id, payload, port, **kw).readings]  # type: ignore[arg-type]


def test_device_map_overrides_a_default() -> None:
    decoded = decode("decentlab-dl-ds18", DS18, 1, field_map={"temperature": "water_temperature"})
    assert [r.quantity for r in decoded.readings] == ["water_temperature", "battery_voltage"]


def test_device_map_extends_the_defaults() -> None:
    decoded = decode(
        "cayenne-lpp",
        bytes.fromhex("03670110056700ff"),
        1,
        field_map={"temperature_5": "road_surface_temperature"},
    )
    assert [(r.quantity, r.value) for r in decoded.readings] == [("road_surface_temperature", 25.5)]


def test_empty_quantity_removes_a_default() -> None:
    assert quantities("decentlab-dl-ds18", DS18, 1, field_map={"battery_voltage": ""}) == [
        "road_surface_temperature"
    ]
    assert quantities("decentlab-dl-ds18", DS18, 1, field_map={"battery_voltage": "-"}) == [
        "road_surface_temperature"
    ]


def test_unmapped_vendor_fields_are_kept_but_give_no_reading() -> None:
    decoded = decode("decentlab-dl-ds18", DS18, 1)
    assert decoded.vendor_fields["device_id"] == 573
    assert "device_id" not in {r.source_field for r in decoded.readings}


def test_unknown_quantity_is_a_field_map_error_and_a_decode_error() -> None:
    with pytest.raises(FieldMapError, match="unknown quantity 'road_temp'") as caught:
        decode("decentlab-dl-ds18", DS18, 1, field_map={"temperature": "road_temp"})
    assert isinstance(caught.value, DecodeError)


def test_impossible_unit_conversion_is_refused() -> None:
    with pytest.raises(FieldMapError, match=r"cannot convert °C to m"):
        check_field_map("decentlab-dl-ds18", {"temperature": "water_level"})


def test_check_field_map_accepts_good_maps_and_knows_decoders() -> None:
    check_field_map("cayenne-lpp", {"temperature_3": "road_surface_temperature"})
    with pytest.raises(UnknownDecoder):
        check_field_map("acme", None)


def test_field_map_that_is_not_a_mapping() -> None:
    with pytest.raises(FieldMapError):
        decode("decentlab-dl-ds18", DS18, 1, field_map="temperature=water_temperature")  # type: ignore[arg-type]
    with pytest.raises(FieldMapError):
        decode("decentlab-dl-ds18", DS18, 1, field_map={"temperature": 3})  # type: ignore[dict-item]


def test_parse_field_map_reads_the_csv_column() -> None:
    assert parse_field_map(" temperature=road_surface_temperature ; BatV=battery_voltage;") == {
        "temperature": "road_surface_temperature",
        "BatV": "battery_voltage",
    }
    assert parse_field_map("") == {}
    assert parse_field_map("battery_voltage=") == {"battery_voltage": ""}
    with pytest.raises(FieldMapError, match="entry 2"):
        parse_field_map("a=b;nonsense")


def test_ttn_units_from_value_objects_are_converted() -> None:
    decoded = decode(
        "ttn",
        b"",
        1,
        decoded_payload={
            "t": {"value": 50, "unit": "°F"},
            "level": {"value": 250, "unit": "cm"},
            "baro": {"value": 96800, "unit": "Pa"},
            "ec": {"displayName": "EC", "unit": "mS⋅cm⁻¹", "value": 1.5},
        },
        field_map={
            "t": "air_temperature",
            "level": "water_level",
            "baro": "barometric_pressure",
            "ec": "conductivity",
        },
    )
    values = {r.quantity: r.value for r in decoded.readings}
    assert values == {
        "air_temperature": 10.0,
        "water_level": 2.5,
        "barometric_pressure": 968.0,
        "conductivity": 1500.0,
    }


def test_ttn_unit_that_cannot_convert_is_flagged() -> None:
    (reading,) = decode(
        "ttn",
        b"",
        1,
        decoded_payload={"d": {"value": 3, "unit": "furlong"}},
        field_map={"d": "distance"},
    ).readings
    assert not reading.valid
    assert reading.invalid_reason is not None
    assert reading.invalid_reason.startswith("unit_mismatch: ")


def test_ttn_strings_with_units_and_nested_fields() -> None:
    decoded = decode(
        "ttn",
        b"",
        2,
        decoded_payload={"Distance": "2799 mm", "probe": {"temp": -2.5}, "ok": True},
        field_map={"Distance": "distance", "probe.temp": "road_surface_temperature"},
    )
    assert decoded.vendor_fields == {"Distance": "2799 mm", "probe.temp": -2.5, "ok": True}
    assert [(r.quantity, r.value) for r in decoded.readings] == [
        ("distance", 2.799),
        ("road_surface_temperature", -2.5),
    ]


def test_ttn_defaults_cover_the_things_stack_cayenne_formatter() -> None:
    decoded = decode(
        "ttn",
        b"",
        1,
        decoded_payload={"temperature_1": 27.200000762939453, "relative_humidity_2": 5},
    )
    assert [r.quantity for r in decoded.readings] == [
        "air_temperature",
        "relative_humidity",
        "dew_point",
    ]


@pytest.mark.parametrize("decoder_id", [d.id for d in all_decoders()])
def test_every_default_map_compiles(decoder_id: str) -> None:
    check_field_map(decoder_id, None)
