"""Readings a sensor cannot have meant are kept, flagged with a reason, and never valid."""

from __future__ import annotations

import math
import struct

import pytest

from decoders import QUANTITIES, Reading, decode


def ds18(celsius_raw: int) -> bytes:
    """A DL-DS18 frame carrying one raw temperature word and a battery reading."""
    return struct.pack(">BHHHH", 2, 573, 3, celsius_raw, 3093)


def road_reading(celsius: float) -> Reading:
    decoded = decode("decentlab-dl-ds18", ds18(int(celsius * 16) + 32768), 1)
    reading = decoded.reading("road_surface_temperature")
    assert reading is not None
    return reading


def test_ds18b20_power_on_value_is_a_probe_error() -> None:
    reading = road_reading(85.0)
    assert reading.value == 85.0
    assert not reading.valid
    assert reading.invalid_reason == (
        "probe_error: 85.0 °C is the DS18B20 power-on value (the probe has not converted yet)"
    )


def test_ds18b20_disconnected_value_is_a_probe_error() -> None:
    reading = road_reading(-127.0)
    assert reading.invalid_reason is not None
    assert reading.invalid_reason.startswith("probe_error: -127.0 °C is the DS18B20 'no probe'")


def test_probe_codes_apply_to_water_temperature_too() -> None:
    reading = decode(
        "ttn", b"", 1, decoded_payload={"t": 85.0}, field_map={"t": "water_temperature"}
    ).readings[0]
    assert reading.invalid_reason is not None
    assert reading.invalid_reason.startswith("probe_error: 85.0 °C")


def test_values_near_the_probe_codes_are_real() -> None:
    assert road_reading(-1.0).valid
    assert road_reading(0.0).valid
    assert road_reading(-0.0625).valid


def test_out_of_range_says_the_range() -> None:
    reading = road_reading(100.0)
    assert reading.invalid_reason == (
        "out_of_range: 100 °C is outside the plausible range of road_surface_temperature, "
        "-50 to 80 °C"
    )


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_not_finite_values_are_flagged(number: float) -> None:
    decoded = decode("ttn", b"", 1, decoded_payload={"temperature_1": number})
    (reading,) = decoded.readings
    assert reading.invalid_reason is not None
    assert reading.invalid_reason.startswith("not_finite: ")


def test_a_flagged_reading_does_not_feed_the_dew_point() -> None:
    decoded = decode(
        "ttn", b"", 1, decoded_payload={"temperature_1": 85.5, "relative_humidity_2": 50}
    )
    assert [r.quantity for r in decoded.readings] == ["air_temperature", "relative_humidity"]
    assert not decoded.readings[0].valid


@pytest.mark.parametrize("name", sorted(QUANTITIES))
def test_every_quantity_has_a_sane_range(name: str) -> None:
    quantity = QUANTITIES[name]
    assert quantity.name == name
    assert quantity.minimum < quantity.maximum
    assert quantity.domain in {"road", "air", "water", "device"}
    assert quantity.unit
    assert quantity.description


def test_probe_codes_are_outside_every_temperature_range() -> None:
    # so the fast path's range check alone can never let a probe code through as valid
    for name in ("road_surface_temperature", "water_temperature"):
        quantity = QUANTITIES[name]
        assert not quantity.minimum <= 85.0 <= quantity.maximum
        assert not quantity.minimum <= -127.0 <= quantity.maximum
