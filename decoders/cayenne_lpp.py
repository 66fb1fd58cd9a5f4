"""Cayenne Low Power Payload: repeated `channel, type, value` frames.

Field names follow The Things Stack's CayenneLPP payload formatter, `<type>_<channel>`
(`temperature_1`, `relative_humidity_2`), so a device can move between TTN's formatter
(decoder `ttn`) and this decoder without changing its field map. Vector types
(accelerometer, gyrometer, GPS, colour) become `<type>_<channel>.<axis>`, the way
`ttn` flattens TTN's nested objects. Besides the standard IPSO types of the original
format this reads the extended types of the widely used ElectronicCats library.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from decoders.decoder import Decoder, truncated
from decoders.errors import DecodeError

_Reader = Callable[[dict[str, Any], int, bytes, int], None]

_U8 = struct.Struct(">B").unpack_from
_U16 = struct.Struct(">H").unpack_from
_S16 = struct.Struct(">h").unpack_from
_U32 = struct.Struct(">I").unpack_from
_S16X3 = struct.Struct(">hhh").unpack_from
_U8X3 = struct.Struct(">BBB").unpack_from


def _keys(name: str, suffix: str = "") -> tuple[str, ...]:
    """Field names for all 256 channels, built once so decoding formats no strings."""
    return tuple(f"{name}_{channel}{suffix}" for channel in range(256))


def _scalar(name: str, unpack: Callable[[bytes, int], tuple[int]], divisor: int) -> _Reader:
    keys = _keys(name)
    if divisor == 1:

        def read_int(out: dict[str, Any], channel: int, payload: bytes, at: int) -> None:
            out[keys[channel]] = unpack(payload, at)[0]

        return read_int

    def read_scaled(out: dict[str, Any], channel: int, payload: bytes, at: int) -> None:
        out[keys[channel]] = unpack(payload, at)[0] / divisor

    return read_scaled


def _xyz(name: str, divisor: int) -> _Reader:
    xs, ys, zs = _keys(name, ".x"), _keys(name, ".y"), _keys(name, ".z")

    def read(out: dict[str, Any], channel: int, payload: bytes, at: int) -> None:
        x, y, z = _S16X3(payload, at)
        out[xs[channel]] = x / divisor
        out[ys[channel]] = y / divisor
        out[zs[channel]] = z / divisor

    return read


def _gps() -> _Reader:
    lats, lons = _keys("gps", ".latitude"), _keys("gps", ".longitude")
    alts = _keys("gps", ".altitude")

    def s24(payload: bytes, at: int) -> int:
        return int.from_bytes(payload[at : at + 3], "big", signed=True)

    def read(out: dict[str, Any], channel: int, payload: bytes, at: int) -> None:
        out[lats[channel]] = s24(payload, at) / 10000
        out[lons[channel]] = s24(payload, at + 3) / 10000
        out[alts[channel]] = s24(payload, at + 6) / 100

    return read


def _colour() -> _Reader:
    rs, gs, bs = _keys("colour", ".r"), _keys("colour", ".g"), _keys("colour", ".b")

    def read(out: dict[str, Any], channel: int, payload: bytes, at: int) -> None:
        r, g, b = _U8X3(payload, at)
        out[rs[channel]], out[gs[channel]], out[bs[channel]] = r, g, b

    return read


# type byte -> (type name, value size in bytes, reader, unit of the value)
_TYPES: dict[int, tuple[str, int, _Reader, str | None]] = {
    # the original Cayenne LPP types, named as The Things Stack names them
    0x00: ("digital_in", 1, _scalar("digital_in", _U8, 1), None),
    0x01: ("digital_out", 1, _scalar("digital_out", _U8, 1), None),
    0x02: ("analog_in", 2, _scalar("analog_in", _S16, 100), None),
    0x03: ("analog_out", 2, _scalar("analog_out", _S16, 100), None),
    0x65: ("luminosity", 2, _scalar("luminosity", _U16, 1), "lx"),
    0x66: ("presence", 1, _scalar("presence", _U8, 1), None),
    0x67: ("temperature", 2, _scalar("temperature", _S16, 10), "°C"),
    0x68: ("relative_humidity", 1, _scalar("relative_humidity", _U8, 2), "%"),
    0x71: ("accelerometer", 6, _xyz("accelerometer", 1000), "G"),
    0x73: ("barometric_pressure", 2, _scalar("barometric_pressure", _U16, 10), "hPa"),
    0x86: ("gyrometer", 6, _xyz("gyrometer", 100), "°/s"),
    0x88: ("gps", 9, _gps(), None),
    # extended types (ElectronicCats CayenneLPP)
    0x64: ("generic_sensor", 4, _scalar("generic_sensor", _U32, 1), None),
    0x74: ("voltage", 2, _scalar("voltage", _U16, 100), "V"),
    0x75: ("current", 2, _scalar("current", _U16, 1000), "A"),
    0x76: ("frequency", 4, _scalar("frequency", _U32, 1), "Hz"),
    0x78: ("percentage", 1, _scalar("percentage", _U8, 1), "%"),
    0x79: ("altitude", 2, _scalar("altitude", _S16, 1), "m"),
    0x7D: ("concentration", 2, _scalar("concentration", _U16, 1), "ppm"),
    0x80: ("power", 2, _scalar("power", _U16, 1), "W"),
    0x82: ("distance", 4, _scalar("distance", _U32, 1000), "m"),
    0x83: ("energy", 4, _scalar("energy", _U32, 1000), "kWh"),
    0x84: ("direction", 2, _scalar("direction", _U16, 1), "°"),
    0x85: ("unix_time", 4, _scalar("unix_time", _U32, 1), "s"),
    0x87: ("colour", 3, _colour(), None),
    0x8E: ("switch", 1, _scalar("switch", _U8, 1), None),
}

_UNITS_BY_TYPE = {name: unit for name, _, _, unit in _TYPES.values() if unit is not None}


class CayenneLpp(Decoder):
    """Cayenne LPP on any FPort."""

    def _decode(self, payload: bytes) -> dict[str, Any]:
        out: dict[str, Any] = {}
        types = _TYPES
        size = len(payload)
        at = 0
        while at < size:
            channel = payload[at]
            if at + 1 == size:
                raise DecodeError(
                    f"channel {channel} at byte {at} has no data type: the payload ends there"
                )
            kind = types.get(payload[at + 1])
            if kind is None:
                raise DecodeError(
                    f"unknown data type 0x{payload[at + 1]:02x} at byte {at + 1} "
                    f"(channel {channel})"
                )
            name, length, read, _ = kind
            end = at + 2 + length
            if end > size:
                raise truncated(f"{name} on channel {channel}", at + 2, end - 1, size)
            read(out, channel, payload, at + 2)
            at = end
        return out

    def vendor_unit(self, field: str) -> str | None:
        base, _, _ = field.partition(".")
        name, _, channel = base.rpartition("_")
        if not channel.isdigit():
            return None
        return _UNITS_BY_TYPE.get(name)


DECODERS = (
    CayenneLpp(
        id="cayenne-lpp",
        vendor="Cayenne",
        model="LPP",
        description=(
            "Cayenne Low Power Payload (standard and ElectronicCats extended types); "
            "fields named <type>_<channel> as The Things Stack names them."
        ),
        f_ports=None,
        default_field_map={
            "temperature_1": "air_temperature",
            "relative_humidity_2": "relative_humidity",
            "barometric_pressure_3": "barometric_pressure",
            "luminosity_5": "illuminance",
        },
    ),
)
