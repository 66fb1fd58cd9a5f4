"""Elsys: type-length-value frames, one shared type table for every model.

Each item is a type byte followed by a value whose size the type fixes. The models differ
only in which types they send and what an engineer means by them, so each model is one
entry with its own default field map. Field names are those of Elsys's TTN codec.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

from decoders.decoder import Decoder, truncated
from decoders.errors import DecodeError

_Reader = Callable[[dict[str, Any], bytes, int], None]

_U16 = struct.Struct(">H").unpack_from
_S16 = struct.Struct(">h").unpack_from
_S32 = struct.Struct(">i").unpack_from
_S8X3 = struct.Struct(">bbb").unpack_from
_S16X2 = struct.Struct(">hh").unpack_from


def _u8(name: str) -> _Reader:
    def read(out: dict[str, Any], payload: bytes, at: int) -> None:
        out[name] = payload[at]

    return read


def _u16(name: str) -> _Reader:
    def read(out: dict[str, Any], payload: bytes, at: int) -> None:
        out[name] = _U16(payload, at)[0]

    return read


def _s32(name: str, divisor: int = 1) -> _Reader:
    def read(out: dict[str, Any], payload: bytes, at: int) -> None:
        value = _S32(payload, at)[0]
        out[name] = value / divisor if divisor != 1 else value

    return read


def _tenths(name: str) -> _Reader:
    def read(out: dict[str, Any], payload: bytes, at: int) -> None:
        out[name] = _S16(payload, at)[0] / 10

    return read


def _acceleration(out: dict[str, Any], payload: bytes, at: int) -> None:
    out["x"], out["y"], out["z"] = _S8X3(payload, at)


def _gps(out: dict[str, Any], payload: bytes, at: int) -> None:
    out["lat"] = int.from_bytes(payload[at : at + 3], "big")
    out["long"] = int.from_bytes(payload[at + 3 : at + 6], "big")


def _ir_temperature(out: dict[str, Any], payload: bytes, at: int) -> None:
    internal, external = _S16X2(payload, at)
    out["irInternalTemperature"] = internal / 10
    out["irExternalTemperature"] = external / 10


def _grideye(out: dict[str, Any], payload: bytes, at: int) -> None:
    reference = payload[at]
    for pixel in range(64):
        out[f"grideye.{pixel}"] = reference + payload[at + 1 + pixel] / 10.0


def _sound(out: dict[str, Any], payload: bytes, at: int) -> None:
    out["soundPeak"] = payload[at]
    out["soundAvg"] = payload[at + 1]


def _external_temperature_2(out: dict[str, Any], payload: bytes, at: int) -> None:
    """Repeated probes become a list in Elsys's codec, flattened here as `.0`, `.1`, …"""
    value = _S16(payload, at)[0] / 10
    if "externalTemperature2" in out:
        out["externalTemperature2.0"] = out.pop("externalTemperature2")
        out["externalTemperature2.1"] = value
    elif "externalTemperature2.0" in out:
        index = sum(1 for key in out if key.startswith("externalTemperature2."))
        out[f"externalTemperature2.{index}"] = value
    else:
        out["externalTemperature2"] = value


# type byte -> (name for messages, value size, reader)
_TYPES: dict[int, tuple[str, int, _Reader]] = {
    0x01: ("temperature", 2, _tenths("temperature")),
    0x02: ("humidity", 1, _u8("humidity")),
    0x03: ("acceleration", 3, _acceleration),
    0x04: ("light", 2, _u16("light")),
    0x05: ("motion", 1, _u8("motion")),
    0x06: ("co2", 2, _u16("co2")),
    0x07: ("vdd", 2, _u16("vdd")),
    0x08: ("analog1", 2, _u16("analog1")),
    0x09: ("gps", 6, _gps),
    0x0A: ("pulse1", 2, _u16("pulse1")),
    0x0B: ("pulseAbs", 4, _s32("pulseAbs")),
    0x0C: ("externalTemperature", 2, _tenths("externalTemperature")),
    0x0D: ("digital", 1, _u8("digital")),
    0x0E: ("distance", 2, _u16("distance")),
    0x0F: ("accMotion", 1, _u8("accMotion")),
    0x10: ("irTemperature", 4, _ir_temperature),
    0x11: ("occupancy", 1, _u8("occupancy")),
    0x12: ("waterleak", 1, _u8("waterleak")),
    0x13: ("grideye", 65, _grideye),
    0x14: ("pressure", 4, _s32("pressure", 1000)),
    0x15: ("sound", 2, _sound),
    0x16: ("pulse2", 2, _u16("pulse2")),
    0x17: ("pulseAbs2", 4, _s32("pulseAbs2")),
    0x18: ("analog2", 2, _u16("analog2")),
    0x19: ("externalTemperature2", 2, _external_temperature_2),
    0x1A: ("digital2", 1, _u8("digital2")),
    0x1B: ("analogUv", 4, _s32("analogUv")),
    0x1C: ("tvoc", 2, _u16("tvoc")),
}

_UNITS = {
    "temperature": "°C",
    "humidity": "%",
    "light": "lx",
    "co2": "ppm",
    "vdd": "mV",
    "analog1": "mV",
    "analog2": "mV",
    "externalTemperature": "°C",
    "externalTemperature2": "°C",
    "distance": "mm",
    "irInternalTemperature": "°C",
    "irExternalTemperature": "°C",
    "pressure": "hPa",
    "tvoc": "ppb",
}


class ElsysDecoder(Decoder):
    """An Elsys model; all share the type table."""

    def _decode(self, payload: bytes) -> dict[str, Any]:
        out: dict[str, Any] = {}
        types = _TYPES
        size = len(payload)
        at = 0
        while at < size:
            kind = types.get(payload[at])
            if kind is None:
                raise DecodeError(f"unknown Elsys data type 0x{payload[at]:02x} at byte {at}")
            name, length, read = kind
            end = at + 1 + length
            if end > size:
                raise truncated(
                    f"{name} (type 0x{payload[at]:02x} at byte {at})", at + 1, end - 1, size
                )
            read(out, payload, at + 1)
            at = end
        return out


def _model(model: str, codec: str, description: str, field_map: Mapping[str, str]) -> ElsysDecoder:
    return ElsysDecoder(
        id=f"elsys-{model.lower().replace(' ', '-')}",
        vendor="Elsys",
        model=model,
        description=description,
        f_ports=None,
        default_field_map=field_map,
        field_units=_UNITS,
        ttn_codec_ids={codec},
    )


_ROOM = {
    "temperature": "air_temperature",
    "humidity": "relative_humidity",
    "light": "illuminance",
    "vdd": "battery_voltage",
}

DECODERS = (
    _model(
        "ELT-2",
        "elt-2-codec",
        "Outdoor box with internal temperature, humidity and pressure; its external "
        "probe input (externalTemperature) is the road-surface probe.",
        {
            "externalTemperature": "road_surface_temperature",
            "temperature": "air_temperature",
            "humidity": "relative_humidity",
            "pressure": "barometric_pressure",
            "distance": "distance",
            "vdd": "battery_voltage",
        },
    ),
    _model("ERS", "ers-codec", "Indoor room sensor: temperature, humidity, light, motion.", _ROOM),
    _model(
        "ERS CO2",
        "ers-co2-codec",
        "Indoor room sensor with CO2: temperature, humidity, light, motion, CO2.",
        {**_ROOM, "co2": "co2"},
    ),
    _model(
        "ERS CO2 Lite",
        "ers-co2-lite-codec",
        "Indoor CO2 sensor: temperature, humidity, CO2.",
        {**_ROOM, "co2": "co2"},
    ),
)
