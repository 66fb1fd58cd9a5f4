"""Vendor fields become canonical readings: names, units, conversions, default field maps."""

from __future__ import annotations

import math

import pytest

import decoders
from decoders import Decoded, Reading, decode


def readings(decoded: Decoded) -> dict[str, tuple[float, str]]:
    return {r.quantity: (r.value, r.unit) for r in decoded.readings}


def value(decoded: Decoded, quantity: str) -> float:
    reading = decoded.reading(quantity)
    assert reading is not None, f"no {quantity} in {decoded.readings}"
    return reading.value


def test_school_sensor_air_temperature_and_humidity_with_units() -> None:
    decoded = decode("cayenne-lpp", bytes.fromhex("0167011002680a"), 1)
    assert decoded.readings[:2] == (
        Reading("air_temperature", 27.2, "°C", "temperature_1"),
        Reading("relative_humidity", 5.0, "%", "relative_humidity_2"),
    )


def test_dew_point_is_derived_when_both_arrive_together() -> None:
    decoded = decode("cayenne-lpp", bytes.fromhex("016700d702685b"), 1)
    dew_point = decoded.reading("dew_point")
    assert dew_point is not None
    assert dew_point.unit == "°C"
    assert dew_point.source_field == "derived:temperature_1+relative_humidity_2"
    assert dew_point.value == pytest.approx(9.225, abs=0.001)  # 21.5 °C, 45.5 %
    assert dew_point.value == decoders.dew_point(21.5, 45.5)
    assert decoded.readings[-1] is dew_point


def test_no_dew_point_from_one_of_the_two() -> None:
    decoded = decode("cayenne-lpp", bytes.fromhex("0167ffde"), 1)
    assert [r.quantity for r in decoded.readings] == ["air_temperature"]


def test_no_dew_point_from_an_invalid_humidity() -> None:
    # 0x68 value 0xfa = 125 % relative humidity: flagged, so no dew point from it
    decoded = decode("cayenne-lpp", bytes.fromhex("016700d70268fa"), 1)
    humidity = decoded.reading("relative_humidity")
    assert humidity is not None and not humidity.valid
    assert decoded.reading("dew_point") is None


def test_decentlab_road_probe() -> None:
    decoded = decode("decentlab-dl-ds18", bytes.fromhex("02023d0003815e0c15"), 1)
    assert readings(decoded) == {
        "road_surface_temperature": (21.875, "°C"),
        "battery_voltage": (3.093, "V"),
    }


def test_decentlab_pm_converts_pascals_to_hectopascals() -> None:
    payload = bytes.fromhex("021b50000f0c25002500270027002701f50107012c012d012d012d67bd618dbd10")
    decoded = decode("decentlab-dl-pm", payload, 1)
    assert value(decoded, "barometric_pressure") == 968.0
    assert value(decoded, "pm2_5") == 3.9
    assert value(decoded, "pm10") == 3.9
    assert value(decoded, "relative_humidity") == pytest.approx(41.63221740722656)
    assert decoded.reading("dew_point") is not None


def test_decentlab_water_quality_units() -> None:
    ctd = decode("decentlab-dl-ctd10", bytes.fromhex("0207d9000390888081006400000c60"), 1)
    assert readings(ctd) == {
        "water_depth": (4.232, "m"),
        "water_temperature": (12.9, "°C"),
        "conductivity": (100.0, "µS/cm"),
        "battery_voltage": (3.168, "V"),
    }
    ctd_plus = decode("decentlab-dl-pr36ctd", bytes.fromhex("020a17000380079786978180060c2b"), 1)
    assert value(ctd_plus, "conductivity") == pytest.approx(5.859375)  # from mS/cm
    assert value(ctd_plus, "pressure") == pytest.approx(0.8544921875)  # from bar to hPa
    assert value(ctd_plus, "water_temperature") == 23.50390625  # the PT1000, not the electronics
    optod = decode("decentlab-dl-optod", bytes.fromhex("02186c000300008862a618836583650c60"), 1)
    assert value(optod, "dissolved_oxygen") == 8.69
    assert value(optod, "dissolved_oxygen_saturation") == 97.52
    ntu = decode("decentlab-dl-ntu", bytes.fromhex("022332000300008885013e013e02330b10"), 1)
    assert value(ntu, "turbidity") == 31.8
    ph = decode("decentlab-dl-pheht", bytes.fromhex("0252b800030000884282c77f637ff60c5c"), 1)
    assert value(ph, "ph") == 7.11
    assert value(ph, "redox_potential") == -15.7


def test_dragino_strings_with_units_become_numbers() -> None:
    decoded = decode("dragino-ldds75-114", bytes.fromhex("0d3b0aef00000001"), 2)
    assert readings(decoded) == {"distance": (2.799, "m"), "battery_voltage": (3.387, "V")}
    soil = decode("dragino-lsph01", bytes.fromhex("0d230000025400f9000001"), 2)
    assert readings(soil) == {
        "ph": (5.96, "pH"),
        "water_temperature": (24.9, "°C"),
        "battery_voltage": (3.363, "V"),
    }


def test_dragino_no_sensor_is_an_invalid_reading_not_a_number() -> None:
    decoded = decode("dragino-ldds75", bytes.fromhex("0e1c0b05"), 2)
    (reading,) = decoded.readings
    assert reading.quantity == "distance"
    assert math.isnan(reading.value)
    assert reading.invalid_reason == "not_a_number: vendor field 'distance' is 'No Sensor'"


def test_dragino_ldds75_five_byte_frame_reads_the_distance_bytes() -> None:
    decoded = decode("dragino-ldds75", bytes.fromhex("0e1c0b0500"), 2)
    assert decoded.vendor_fields == {"Bat": 3.612, "distance": 2821, "Interrupt_flag": 0}
    assert value(decoded, "distance") == 2.821


def test_dragino_laq4_and_lsn50() -> None:
    laq4 = decode("dragino-laq4", bytes.fromhex("0d07050012020b00fb01b3"), 2)
    assert readings(laq4)["co2"] == (523.0, "ppm")
    assert readings(laq4)["tvoc"] == (18.0, "ppb")
    lsn50 = decode("dragino-lsn50v2-d20", bytes.fromhex("0b54000000000000fc0205"), 2)
    assert value(lsn50, "air_temperature") == 25.2
    assert value(lsn50, "relative_humidity") == 51.7
    assert value(lsn50, "road_surface_temperature") == 0.0


def test_dragino_three_probe_kit_reads_the_red_lead_as_road_surface() -> None:
    # mode 3 (byte 6 = 0x0c): red -1.5 °C, white 0xffff (no probe), black 2.0 °C
    decoded = decode("dragino-lsn50v2-d20-d22-d23", bytes.fromhex("0b54fff100000cffff0014"), 2)
    assert decoded.vendor_fields["Temp_White"] == "NULL"
    assert readings(decoded)["road_surface_temperature"] == (-1.5, "°C")


def test_elsys_external_probe_is_the_road_and_vdd_is_volts() -> None:
    decoded = decode("elsys-elt-2", bytes.fromhex("0c00120100e20229070e10"), 5)
    assert readings(decoded)["road_surface_temperature"] == (1.8, "°C")
    assert readings(decoded)["air_temperature"] == (22.6, "°C")
    assert readings(decoded)["battery_voltage"] == (3.6, "V")


def test_elsys_vendor_example_pressure_is_flagged_implausible() -> None:
    decoded = decode("elsys-elt-2", bytes.fromhex("0100e20229030127051406010111"), 1)
    pressure = decoded.reading("barometric_pressure")
    assert pressure is not None
    assert pressure.value == pytest.approx(100729.105)
    assert pressure.invalid_reason is not None
    assert pressure.invalid_reason.startswith("out_of_range: 100729 hPa")


def test_milesight_units() -> None:
    swl = decode("milesight-em500-swl", bytes.fromhex("01755c03770200"), 85)
    assert readings(swl) == {"water_level": (0.02, "m"), "battery_level": (92.0, "%")}
    am319 = decode(
        "milesight-am319",
        bytes.fromhex("0367340104686505000106cb02077da803087d2500097366270a7d04000b7d20000c7d3000"),
        85,
    )
    assert readings(am319)["pm2_5"] == (32.0, "µg/m³")
    assert readings(am319)["barometric_pressure"] == (1008.6, "hPa")
    assert readings(am319)["hcho"] == (0.04, "mg/m³")
    pt100 = decode("milesight-em500-pt100", bytes.fromhex("01755c03671901"), 85)
    assert readings(pt100)["road_surface_temperature"] == (28.1, "°C")


def test_milesight_o3_from_ppm_to_ppb() -> None:
    decoded = decode("milesight-am319", bytes.fromhex("0d7d0700"), 85)
    assert readings(decoded) == {"o3": (70.0, "ppb")}


def test_milesight_device_information_after_join() -> None:
    payload = bytes.fromhex("ff0bffff0101ff166136c27486760015ff090140ff0a0114ff0f00")
    decoded = decode("milesight-am307", payload, 85)
    assert decoded.vendor_fields == {
        "device_status": "on",
        "ipso_version": "v0.1",
        "sn": "6136c27486760015",
        "hardware_version": "v1.4",
        "firmware_version": "v1.20",
        "lorawan_class": "Class A",
    }
    assert decoded.readings == ()


def test_to_dict_is_json_ready() -> None:
    decoded = decode("dragino-ldds75", bytes.fromhex("0e1c0b05"), 2)
    assert decoded.to_dict() == {
        "vendor_fields": {"distance": "No Sensor"},
        "readings": [
            {
                "quantity": "distance",
                "value": None,
                "unit": "m",
                "source_field": "distance",
                "valid": False,
                "invalid_reason": "not_a_number: vendor field 'distance' is 'No Sensor'",
            }
        ],
    }
