"""Byte encoders for the demo's sensors: the exact frames the real devices send.

Pure functions, the inverse of the vendors' published decoders, so a simulated
uplink goes through the same decoding path as a real one.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

DECENTLAB_PROTOCOL_VERSION = 2
MILESIGHT_F_PORT = 85  # every Milesight device sends its readings on FPort 85
_UINT16_MAX = 0xFFFF
_DECENTLAB_OFFSET = 32768


class PayloadRangeError(ValueError):
    """A value the payload format cannot carry (outside its range or resolution)."""


def _uint16(name: str, raw: int) -> int:
    if not 0 <= raw <= _UINT16_MAX:
        raise PayloadRangeError(f"{name} encodes to {raw}, outside the 16-bit range 0..65535")
    return raw


def _decentlab_frame(device_num: int, words_per_sensor: Sequence[Sequence[int] | None]) -> bytes:
    """Decentlab protocol v2: version, device id, flags, then the words of each present sensor.

    Bit i of the flags says sensor i is present; its words follow in sensor order.
    """
    _uint16("device number", device_num)
    flags = 0
    words: list[int] = []
    for index, sensor_words in enumerate(words_per_sensor):
        if sensor_words is None:
            continue
        flags |= 1 << index
        words.extend(sensor_words)
    return struct.pack(f">BHH{len(words)}H", DECENTLAB_PROTOCOL_VERSION, device_num, flags, *words)


def _battery_words(battery_v: float | None) -> list[int] | None:
    if battery_v is None:
        return None
    return [_uint16("battery voltage", round(battery_v * 1000))]


def encode_dl_ds18(device_num: int, temperature_c: float | None, battery_v: float | None) -> bytes:
    """Decentlab DL-DS18 (DS18B20 probe): temperature as (raw − 32768) / 16 °C, battery as mV.

    `None` leaves a sensor out (its flag bit cleared), as the device does when a
    reading is missing: `encode_dl_ds18(573, None, 3.093)` is `02023d00020c15`.
    """
    temperature = None
    if temperature_c is not None:
        temperature = [_uint16("temperature", round(temperature_c * 16) + _DECENTLAB_OFFSET)]
    return _decentlab_frame(device_num, [temperature, _battery_words(battery_v)])


@dataclass(frozen=True, slots=True)
class CtdSample:
    """One DL-CTD10 measurement: pressure depth, water temperature, electrical conductivity."""

    water_depth_mm: float
    temperature_c: float
    conductivity_us_cm: float
    freezing: bool = False


def encode_dl_ctd10(device_num: int, sample: CtdSample | None, battery_v: float | None) -> bytes:
    """Decentlab DL-CTD10: depth (raw − 32768) mm, temperature (raw − 32768) / 10 °C,
    conductivity µS/cm, freezing flag; then battery in mV."""
    words = None
    if sample is not None:
        words = [
            _uint16("water depth", round(sample.water_depth_mm) + _DECENTLAB_OFFSET),
            _uint16("water temperature", round(sample.temperature_c * 10) + _DECENTLAB_OFFSET),
            _uint16("conductivity", round(sample.conductivity_us_cm)),
            1 if sample.freezing else 0,
        ]
    return _decentlab_frame(device_num, [words, _battery_words(battery_v)])


class CayenneType(IntEnum):
    """Cayenne LPP data types the demo uses (IPSO object id − 3200)."""

    DIGITAL_INPUT = 0
    DIGITAL_OUTPUT = 1
    ANALOG_INPUT = 2
    ANALOG_OUTPUT = 3
    LUMINOSITY = 101
    PRESENCE = 102
    TEMPERATURE = 103
    RELATIVE_HUMIDITY = 104
    BAROMETRIC_PRESSURE = 115


# type → (struct format of the value, value per raw unit)
_CAYENNE_LAYOUT: dict[CayenneType, tuple[str, float]] = {
    CayenneType.DIGITAL_INPUT: ("B", 1.0),
    CayenneType.DIGITAL_OUTPUT: ("B", 1.0),
    CayenneType.ANALOG_INPUT: ("h", 0.01),
    CayenneType.ANALOG_OUTPUT: ("h", 0.01),
    CayenneType.LUMINOSITY: ("H", 1.0),
    CayenneType.PRESENCE: ("B", 1.0),
    CayenneType.TEMPERATURE: ("h", 0.1),
    CayenneType.RELATIVE_HUMIDITY: ("B", 0.5),
    CayenneType.BAROMETRIC_PRESSURE: ("H", 0.1),
}
_RAW_LIMITS = {"B": (0, 0xFF), "H": (0, 0xFFFF), "h": (-0x8000, 0x7FFF)}


@dataclass(frozen=True, slots=True)
class CayenneValue:
    """One Cayenne LPP value; TTN's formatter names it `<type>_<channel>`, e.g. `temperature_1`."""

    channel: int
    kind: CayenneType
    value: float


def encode_cayenne(values: Sequence[CayenneValue]) -> bytes:
    """Cayenne LPP frame: for each value, channel, type, then the big-endian scaled value."""
    frame = bytearray()
    for item in values:
        if not 0 <= item.channel <= 0xFF:
            raise PayloadRangeError(f"Cayenne channel {item.channel} is outside 0..255")
        fmt, resolution = _CAYENNE_LAYOUT[item.kind]
        raw = round(item.value / resolution)
        low, high = _RAW_LIMITS[fmt]
        if not low <= raw <= high:
            raise PayloadRangeError(
                f"{item.kind.name.lower()} {item.value} on channel {item.channel} is outside what "
                f"Cayenne LPP can carry ({low * resolution:g}..{high * resolution:g})"
            )
        frame += struct.pack(f">BB{fmt}", item.channel, item.kind, raw)
    return bytes(frame)


# Milesight AM319 channels in the order the device sends them: (channel, type, struct
# format of the little-endian value, value per raw unit, what the value is).
_AM319_LAYOUT = (
    (0x03, 0x67, "h", 0.1, "temperature"),
    (0x04, 0x68, "B", 0.5, "humidity"),
    (0x05, 0x00, "B", 1.0, "activity"),
    (0x06, 0xCB, "B", 1.0, "light level"),
    (0x07, 0x7D, "H", 1.0, "CO2"),
    (0x08, 0x7D, "H", 1.0, "TVOC"),
    (0x09, 0x73, "H", 0.1, "pressure"),
    (0x0A, 0x7D, "H", 0.01, "HCHO"),
    (0x0B, 0x7D, "H", 1.0, "PM2.5"),
    (0x0C, 0x7D, "H", 1.0, "PM10"),
)


def encode_milesight_am319(
    *,
    temperature_c: float | None = None,
    humidity_pct: float | None = None,
    activity: bool | None = None,
    light_level: int | None = None,
    co2_ppm: float | None = None,
    tvoc: float | None = None,
    pressure_hpa: float | None = None,
    hcho_mg_m3: float | None = None,
    pm2_5_ug_m3: float | None = None,
    pm10_ug_m3: float | None = None,
) -> bytes:
    """Milesight AM319 (FPort 85): `channel, type, little-endian value` per reading.

    Temperature is int16 /10 °C, humidity uint8 /2 %, activity 1 for motion seen,
    light level 0..5, CO2 and TVOC uint16, pressure uint16 /10 hPa, HCHO uint16
    /100 mg/m³, PM2.5 and PM10 uint16 µg/m³. `None` leaves a channel out.
    """
    values = (
        temperature_c,
        humidity_pct,
        None if activity is None else int(activity),
        light_level,
        co2_ppm,
        tvoc,
        pressure_hpa,
        hcho_mg_m3,
        pm2_5_ug_m3,
        pm10_ug_m3,
    )
    frame = bytearray()
    for (channel, kind, fmt, resolution, name), value in zip(_AM319_LAYOUT, values, strict=True):
        if value is None:
            continue
        raw = round(value / resolution)
        low, high = _RAW_LIMITS[fmt]
        if not low <= raw <= high:
            raise PayloadRangeError(
                f"AM319 {name} {value} is outside what its channel can carry "
                f"({low * resolution:g}..{high * resolution:g})"
            )
        frame += struct.pack(f"<BB{fmt}", channel, kind, raw)
    return bytes(frame)
