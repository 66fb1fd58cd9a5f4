"""The demo's byte encoders produce exactly the vendors' frames.

Vectors are copied from the shared test vectors (TTN Device Repository examples
for Decentlab DL-DS18 / DL-CTD10 and Milesight AM319, the Cayenne LPP format
examples), and values are read back with a decoder written from the vendors'
published codecs, or with wherry's own `decoders` where the test says so.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

import decoders
from wherry.demo.payloads import (
    MILESIGHT_F_PORT,
    CayenneType,
    CayenneValue,
    CtdSample,
    PayloadRangeError,
    encode_cayenne,
    encode_dl_ctd10,
    encode_dl_ds18,
    encode_milesight_am319,
)


def decentlab_words(frame: bytes, lengths: list[int]) -> tuple[int, list[list[int] | None]]:
    """Decentlab protocol v2, as the vendor's decoder reads it: (device id, words per sensor)."""
    version, device_id, flags = struct.unpack(">BHH", frame[:5])
    assert version == 2
    position, sensors = 5, list[list[int] | None]()
    for index, length in enumerate(lengths):
        if flags >> index & 1:
            sensors.append(
                list(struct.unpack(f">{length}H", frame[position : position + 2 * length]))
            )
            position += 2 * length
        else:
            sensors.append(None)
    assert position == len(frame), "bytes left over after the flagged sensors"
    return device_id, sensors


_LPP = {
    0: ("B", 1.0, "digital_in"),
    1: ("B", 1.0, "digital_out"),
    2: ("h", 0.01, "analog_in"),
    3: ("h", 0.01, "analog_out"),
    101: ("H", 1.0, "luminosity"),
    102: ("B", 1.0, "presence"),
    103: ("h", 0.1, "temperature"),
    104: ("B", 0.5, "relative_humidity"),
    115: ("H", 0.1, "barometric_pressure"),
}


def cayenne_fields(frame: bytes) -> dict[str, float]:
    """Cayenne LPP, named as The Things Stack's formatter names fields: `<type>_<channel>`."""
    fields, position = {}, 0
    while position < len(frame):
        channel, kind = frame[position], frame[position + 1]
        fmt, resolution, name = _LPP[kind]
        (raw,) = struct.unpack_from(f">{fmt}", frame, position + 2)
        fields[f"{name}_{channel}"] = round(raw * resolution, 2)
        position += 2 + struct.calcsize(fmt)
    return fields


def test_dl_ds18_matches_the_vendor_example() -> None:
    assert encode_dl_ds18(573, 21.875, 3.093).hex() == "02023d0003815e0c15"


def test_dl_ds18_without_a_temperature_clears_its_flag() -> None:
    assert encode_dl_ds18(573, None, 3.093).hex() == "02023d00020c15"


def test_dl_ds18_power_on_reading_is_85_degrees() -> None:
    _, (temperature, _battery) = decentlab_words(encode_dl_ds18(0x0A11, 85.0, 3.3), [1, 1])
    assert temperature is not None
    assert (temperature[0] - 32768) / 16 == 85.0


@given(
    temperature=st.floats(min_value=-40.0, max_value=125.0),
    battery=st.floats(min_value=2.0, max_value=3.7),
    device=st.integers(min_value=0, max_value=0xFFFF),
)
def test_dl_ds18_round_trips_within_its_resolution(
    temperature: float, battery: float, device: int
) -> None:
    device_id, (t_words, b_words) = decentlab_words(
        encode_dl_ds18(device, temperature, battery), [1, 1]
    )
    assert device_id == device
    assert t_words is not None and b_words is not None
    assert abs((t_words[0] - 32768) / 16 - temperature) <= 1 / 32
    assert abs(b_words[0] / 1000 - battery) <= 0.0005


def test_dl_ctd10_matches_the_vendor_examples() -> None:
    sample = CtdSample(water_depth_mm=4232, temperature_c=12.9, conductivity_us_cm=100)
    assert encode_dl_ctd10(2009, sample, 3.168).hex() == "0207d9000390888081006400000c60"
    assert encode_dl_ctd10(2009, None, 3.168).hex() == "0207d900020c60"


def test_dl_ctd10_round_trips_a_river_sample() -> None:
    sample = CtdSample(
        water_depth_mm=742.4, temperature_c=5.83, conductivity_us_cm=503.6, freezing=True
    )
    device_id, (words, battery) = decentlab_words(encode_dl_ctd10(0x0B21, sample, 3.17), [4, 1])
    assert device_id == 0x0B21
    assert words == [32768 + 742, 32768 + 58, 504, 1]
    assert battery == [3170]


@pytest.mark.parametrize(
    ("values", "expected_hex"),
    [
        (
            [
                CayenneValue(3, CayenneType.TEMPERATURE, 27.2),
                CayenneValue(5, CayenneType.TEMPERATURE, 25.5),
            ],
            "03670110056700ff",
        ),
        (
            [
                CayenneValue(1, CayenneType.TEMPERATURE, 27.2),
                CayenneValue(2, CayenneType.RELATIVE_HUMIDITY, 5.0),
            ],
            "0167011002680a",
        ),
        ([CayenneValue(1, CayenneType.TEMPERATURE, -3.4)], "0167ffde"),
        ([CayenneValue(1, CayenneType.TEMPERATURE, -3276.8)], "01678000"),
        (
            [
                CayenneValue(1, CayenneType.BAROMETRIC_PRESSURE, 1011.1),
                CayenneValue(2, CayenneType.LUMINOSITY, 12000),
                CayenneValue(3, CayenneType.PRESENCE, 1),
            ],
            "0173277f02652ee0036601",
        ),
        (
            [
                CayenneValue(1, CayenneType.DIGITAL_INPUT, 1),
                CayenneValue(2, CayenneType.DIGITAL_OUTPUT, 0),
                CayenneValue(3, CayenneType.ANALOG_INPUT, -1.5),
                CayenneValue(4, CayenneType.ANALOG_OUTPUT, 327.67),
            ],
            "0100010201000302ff6a04037fff",
        ),
        (
            [
                CayenneValue(1, CayenneType.TEMPERATURE, 21.5),
                CayenneValue(2, CayenneType.RELATIVE_HUMIDITY, 45.5),
                CayenneValue(3, CayenneType.BAROMETRIC_PRESSURE, 1013.2),
                CayenneValue(4, CayenneType.ANALOG_INPUT, 12.34),
                CayenneValue(5, CayenneType.LUMINOSITY, 350),
            ],
            "016700d702685b03732794040204d20565015e",
        ),
    ],
)
def test_cayenne_matches_the_format_examples(values: list[CayenneValue], expected_hex: str) -> None:
    assert encode_cayenne(values).hex() == expected_hex


AM319_EXAMPLE = "0367340104686505000106cb02077da803087d2500097366270a7d04000b7d20000c7d3000"


def test_milesight_am319_matches_the_vendor_example() -> None:
    frame = encode_milesight_am319(
        temperature_c=30.8,
        humidity_pct=50.5,
        activity=True,
        light_level=2,
        co2_ppm=936,
        tvoc=37,
        pressure_hpa=1008.6,
        hcho_mg_m3=0.04,
        pm2_5_ug_m3=32,
        pm10_ug_m3=48,
    )
    assert frame.hex() == AM319_EXAMPLE


def test_milesight_am319_example_reads_back_through_the_real_decoder() -> None:
    frame = encode_milesight_am319(
        temperature_c=30.8,
        humidity_pct=50.5,
        activity=True,
        light_level=2,
        co2_ppm=936,
        tvoc=37,
        pressure_hpa=1008.6,
        hcho_mg_m3=0.04,
        pm2_5_ug_m3=32,
        pm10_ug_m3=48,
    )
    decoded = decoders.decode("milesight-am319", frame, MILESIGHT_F_PORT)
    assert decoded.vendor_fields == {
        "temperature": 30.8,
        "humidity": 50.5,
        "activity": "trigger",
        "light_level": 2,
        "co2": 936,
        "tvoc": 37,
        "pressure": 1008.6,
        "hcho": 0.04,
        "pm2.5": 32,
        "pm10": 48,
    }
    values = {reading.quantity: reading.value for reading in decoded.readings}
    assert values["co2"] == 936.0 and values["pm2_5"] == 32.0 and values["pm10"] == 48.0
    assert all(reading.valid for reading in decoded.readings)


def test_milesight_am319_leaves_out_what_it_is_not_given() -> None:
    assert encode_milesight_am319(co2_ppm=936).hex() == "077da803"
    assert encode_milesight_am319(temperature_c=-3.4).hex() == "0367deff"
    assert encode_milesight_am319() == b""


@given(
    air=st.floats(min_value=-20.0, max_value=40.0),
    humidity=st.floats(min_value=0.0, max_value=100.0),
    co2=st.floats(min_value=350.0, max_value=5000.0),
    pm2_5=st.floats(min_value=0.0, max_value=500.0),
    pm10=st.floats(min_value=0.0, max_value=900.0),
)
def test_milesight_am319_round_trips_the_classroom_fields(
    air: float, humidity: float, co2: float, pm2_5: float, pm10: float
) -> None:
    frame = encode_milesight_am319(
        temperature_c=air,
        humidity_pct=humidity,
        co2_ppm=co2,
        pm2_5_ug_m3=pm2_5,
        pm10_ug_m3=pm10,
    )
    decoded = decoders.decode("milesight-am319", frame, MILESIGHT_F_PORT)
    readings = {reading.quantity: reading for reading in decoded.readings}
    assert {"air_temperature", "relative_humidity", "co2", "pm2_5", "pm10"} <= set(readings)
    assert abs(readings["air_temperature"].value - air) <= 0.05 + 1e-9
    assert abs(readings["relative_humidity"].value - humidity) <= 0.25 + 1e-9
    assert abs(readings["co2"].value - co2) <= 0.5
    assert abs(readings["pm2_5"].value - pm2_5) <= 0.5
    assert abs(readings["pm10"].value - pm10) <= 0.5


@pytest.mark.parametrize(
    ("encode", "needle"),
    [
        (lambda: encode_dl_ds18(573, 3000.0, 3.0), "temperature"),
        (lambda: encode_dl_ds18(70_000, 1.0, 3.0), "device number"),
        (lambda: encode_dl_ds18(573, 1.0, -1.0), "battery"),
        (lambda: encode_dl_ctd10(1, CtdSample(-40_000, 5.0, 500), 3.1), "water depth"),
        (lambda: encode_cayenne([CayenneValue(1, CayenneType.TEMPERATURE, 4000.0)]), "temperature"),
        (
            lambda: encode_cayenne([CayenneValue(2, CayenneType.RELATIVE_HUMIDITY, 200.0)]),
            "humidity",
        ),
        (
            lambda: encode_cayenne([CayenneValue(4, CayenneType.ANALOG_INPUT, 1200.0)]),
            "analog_input",
        ),
        (lambda: encode_cayenne([CayenneValue(300, CayenneType.PRESENCE, 1)]), "channel"),
        (lambda: encode_milesight_am319(co2_ppm=70_000), "CO2"),
        (lambda: encode_milesight_am319(humidity_pct=130.0), "humidity"),
        (lambda: encode_milesight_am319(pm10_ug_m3=-1.0), "PM10"),
        (lambda: encode_milesight_am319(temperature_c=-3300.0), "temperature"),
    ],
)
def test_values_a_format_cannot_carry_raise_a_payload_range_error(
    encode: Callable[[], bytes], needle: str
) -> None:
    with pytest.raises(PayloadRangeError, match=needle):
        encode()
