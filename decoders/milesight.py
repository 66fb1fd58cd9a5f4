"""Milesight: `channel, type, value` items on FPort 85, one channel table per model.

Values are little-endian. Every model shares the battery channel (0x01 0x75) and the
device-information channel 0xFF that devices send after joining; the rest is per model.
Field names are those of Milesight's TTN codecs.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

from decoders.decoder import Decoder, truncated
from decoders.errors import DecodeError

_Reader = Callable[[bytes, int], Any]

_U16 = struct.Struct("<H").unpack_from
_S16 = struct.Struct("<h").unpack_from


def _u8(payload: bytes, at: int) -> int:
    return payload[at]


def _u16(payload: bytes, at: int) -> int:
    return int(_U16(payload, at)[0])


def _tenths_signed(payload: bytes, at: int) -> float:
    return int(_S16(payload, at)[0]) / 10


def _tenths(payload: bytes, at: int) -> float:
    return _u16(payload, at) / 10


def _hundredths(payload: bytes, at: int) -> float:
    return _u16(payload, at) / 100


def _halves(payload: bytes, at: int) -> float:
    return payload[at] / 2


def _trigger(payload: bytes, at: int) -> str:
    return "trigger" if payload[at] == 1 else "idle"


def _yes_no(payload: bytes, at: int) -> str:
    return "yes" if payload[at] == 1 else "no"


def _version_nibbles(payload: bytes, at: int) -> str:
    return f"v{payload[at] >> 4}.{payload[at] & 0x0F}"


def _hardware_version(payload: bytes, at: int) -> str:
    return f"v{payload[at]}.{payload[at + 1] >> 4}"


def _firmware_version(payload: bytes, at: int) -> str:
    return f"v{payload[at]}.{payload[at + 1]}"


def _serial_number(payload: bytes, at: int) -> str:
    return payload[at : at + 8].hex()


def _lorawan_class(payload: bytes, at: int) -> str:
    classes = ("Class A", "Class B", "Class C", "Class CtoB")
    return classes[payload[at]] if payload[at] < len(classes) else f"unknown ({payload[at]})"


def _on(payload: bytes, at: int) -> str:
    return "on"


# (channel, type) -> (field name or None to skip, value size, reader)
_Channels = Mapping[tuple[int, int], tuple[str | None, int, _Reader]]

_COMMON: dict[tuple[int, int], tuple[str | None, int, _Reader]] = {
    (0x01, 0x75): ("battery", 1, _u8),
    (0xFF, 0x01): ("ipso_version", 1, _version_nibbles),
    (0xFF, 0x09): ("hardware_version", 2, _hardware_version),
    (0xFF, 0x0A): ("firmware_version", 2, _firmware_version),
    (0xFF, 0x0B): ("device_status", 1, _on),
    (0xFF, 0x0F): ("lorawan_class", 1, _lorawan_class),
    (0xFF, 0x16): ("sn", 8, _serial_number),
}

_TEMPERATURE = {(0x03, 0x67): ("temperature", 2, _tenths_signed)}
_HUMIDITY = {(0x04, 0x68): ("humidity", 1, _halves)}


def _ambience(pir: str, pm2_5: str) -> dict[tuple[int, int], tuple[str | None, int, _Reader]]:
    """The AM300 series table; the models' codecs differ in two field names."""
    return {
        **_TEMPERATURE,
        **_HUMIDITY,
        (0x05, 0x00): (pir, 1, _trigger),
        (0x06, 0xCB): ("light_level", 1, _u8),
        (0x07, 0x7D): ("co2", 2, _u16),
        (0x08, 0x7D): ("tvoc", 2, _u16),
        (0x09, 0x73): ("pressure", 2, _tenths),
        (0x0A, 0x7D): ("hcho", 2, _hundredths),
        (0x0B, 0x7D): (pm2_5, 2, _u16),
        (0x0C, 0x7D): ("pm10", 2, _u16),
        (0x0D, 0x7D): ("o3", 2, _hundredths),
        (0x0E, 0x01): ("beep", 1, _yes_no),
    }


class MilesightDecoder(Decoder):
    """A Milesight model described by its channel table."""

    def __init__(self, *, channels: _Channels, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._channels = {**_COMMON, **channels}

    def _decode(self, payload: bytes) -> dict[str, Any]:
        out: dict[str, Any] = {}
        channels = self._channels
        size = len(payload)
        at = 0
        while at < size:
            if at + 1 == size:
                raise DecodeError(
                    f"channel 0x{payload[at]:02x} at byte {at} has no type: the payload ends there"
                )
            channel, kind = payload[at], payload[at + 1]
            item = channels.get((channel, kind))
            if item is None:
                raise DecodeError(
                    f"unknown channel 0x{channel:02x} type 0x{kind:02x} at byte {at} "
                    f"for {self.model}"
                )
            name, length, read = item
            end = at + 2 + length
            if end > size:
                raise truncated(
                    f"{name or 'the value'} (channel 0x{channel:02x} at byte {at})",
                    at + 2,
                    end - 1,
                    size,
                )
            if name is not None:
                out[name] = read(payload, at + 2)
            at = end
        return out


def _model(
    model: str,
    codec: str,
    description: str,
    channels: _Channels,
    field_map: Mapping[str, str],
    units: Mapping[str, str],
) -> MilesightDecoder:
    return MilesightDecoder(
        id=f"milesight-{model.lower()}",
        vendor="Milesight",
        model=model,
        description=description,
        f_ports={85},
        default_field_map={**field_map, "battery": "battery_level"},
        field_units={**units, "battery": "%"},
        ttn_codec_ids={codec},
        channels=channels,
    )


_AMBIENCE_UNITS = {
    "temperature": "°C",
    "humidity": "%",
    "co2": "ppm",
    "pressure": "hPa",
    "hcho": "mg/m³",
    "pm2_5": "µg/m³",
    "pm2.5": "µg/m³",
    "pm10": "µg/m³",
    "o3": "ppm",
}

_AMBIENCE_MAP = {
    "temperature": "air_temperature",
    "humidity": "relative_humidity",
    "co2": "co2",
    "pressure": "barometric_pressure",
    "hcho": "hcho",
    "pm10": "pm10",
    "o3": "o3",
}

DECODERS = (
    _model(
        "EM500-PT100",
        "em500-pt100-codec",
        "PT100 temperature probe; in wherry's pilot, a road-surface temperature sensor.",
        _TEMPERATURE,
        {"temperature": "road_surface_temperature"},
        {"temperature": "°C"},
    ),
    _model(
        "EM500-SWL",
        "em500-swl-codec",
        "Submersible water level sensor; level is reported in cm.",
        {(0x03, 0x77): ("level", 2, _u16)},
        {"level": "water_level"},
        {"level": "cm"},
    ),
    _model(
        "AM103",
        "am103-codec",
        "Indoor ambience: temperature, humidity, CO2.",
        {**_TEMPERATURE, **_HUMIDITY, (0x07, 0x7D): ("co2", 2, _u16)},
        {"temperature": "air_temperature", "humidity": "relative_humidity", "co2": "co2"},
        {"temperature": "°C", "humidity": "%", "co2": "ppm"},
    ),
    _model(
        "AM307",
        "am307-codec",
        "Indoor ambience: temperature, humidity, PIR, light level, CO2, TVOC, pressure. "
        "The PIR activity count (channel 0x05 type 0x6A) of newer firmware is skipped, as "
        "Milesight's codec does not report it.",
        {**_ambience("pir", "pm2_5"), (0x05, 0x6A): (None, 2, _u16)},
        {**_AMBIENCE_MAP, "pm2_5": "pm2_5"},
        _AMBIENCE_UNITS,
    ),
    _model(
        "AM319",
        "am319-codec",
        "Indoor ambience: temperature, humidity, activity, light, CO2, TVOC, pressure, "
        "HCHO, PM2.5, PM10 (or O3).",
        _ambience("activity", "pm2.5"),
        {**_AMBIENCE_MAP, "pm2.5": "pm2_5"},
        _AMBIENCE_UNITS,
    ),
)
