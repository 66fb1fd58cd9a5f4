"""Decentlab protocol v2: one engine, one sensor table per model.

Every Decentlab device sends `version (1 byte) | device id (2) | flags (2)` and then,
for each flag bit set from the lowest, that sensor's 16-bit big-endian words. A model
is only its table: which sensors, how many words each, and how each value is computed
from its word. The word layout for each combination of flags is compiled once, on
first use, into one `struct` format, so decoding is a single unpack.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from decoders.decoder import Decoder, truncated
from decoders.errors import DecodeError

PROTOCOL_VERSION = 2
_HEADER = struct.Struct(">BHH")
_HEADER_SIZE = _HEADER.size

Number = float | int


@dataclass(frozen=True, slots=True)
class Value:
    """One vendor field computed from one word of its sensor."""

    name: str
    word: int
    convert: Callable[[int], Number]
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Sensor:
    """One flag bit: `words` 16-bit words carrying `values`."""

    words: int
    values: tuple[Value, ...]


def sensor(words: int, *values: Value) -> Sensor:
    return Sensor(words, values)


BATTERY = sensor(1, Value("battery_voltage", 0, lambda x: x / 1000, "V"))

# layout of one flags value: (struct for the words, payload size, (field, word index, convert))
_Layout = tuple[struct.Struct, int, tuple[tuple[str, int, Callable[[int], Number]], ...]]


class DecentlabDecoder(Decoder):
    """A Decentlab device described by its sensor table."""

    def __init__(self, *, sensors: tuple[Sensor, ...], **kwargs: Any) -> None:
        units = {v.name: v.unit for s in sensors for v in s.values if v.unit is not None}
        super().__init__(field_units=units, **kwargs)
        self.sensors = sensors
        self._all_flags = (1 << len(sensors)) - 1
        self._layouts: dict[int, _Layout] = {}

    def _layout(self, flags: int) -> _Layout:
        layout = self._layouts.get(flags)
        if layout is not None:
            return layout
        values: list[tuple[str, int, Callable[[int], Number]]] = []
        word = 0
        for bit, each in enumerate(self.sensors):
            if flags >> bit & 1:
                values.extend((v.name, word + v.word, v.convert) for v in each.values)
                word += each.words
        layout = (struct.Struct(f">{word}H"), _HEADER_SIZE + 2 * word, tuple(values))
        self._layouts[flags] = layout
        return layout

    def _decode(self, payload: bytes) -> dict[str, Any]:
        size = len(payload)
        if payload[0] != PROTOCOL_VERSION:
            raise DecodeError(
                f"wrong protocol version {payload[0]} at byte 0: Decentlab devices send "
                f"version {PROTOCOL_VERSION}"
            )
        if size < _HEADER_SIZE:
            raise truncated("the header (version, device id, flags)", 0, 4, size)
        version, device_id, flags = _HEADER.unpack_from(payload)
        if flags & ~self._all_flags:
            raise DecodeError(
                f"flags 0x{flags:04x} at bytes 3–4 announce a sensor {self.model} does not "
                f"have (it has {len(self.sensors)}, so only the lowest "
                f"{len(self.sensors)} bits may be set)"
            )
        words, expected, values = self._layout(flags)
        if size != expected:
            if size < expected:
                raise truncated(
                    f"the sensors announced by flags 0x{flags:04x}",
                    _HEADER_SIZE,
                    expected - 1,
                    size,
                )
            raise DecodeError(
                f"oversized payload: flags 0x{flags:04x} announce {expected} bytes, got "
                f"{size}; unexpected data from byte {expected}"
            )
        data = words.unpack_from(payload, _HEADER_SIZE)
        out: dict[str, Any] = {"protocol_version": version, "device_id": device_id}
        for name, index, convert in values:
            out[name] = convert(data[index])
        return out


def _model(
    model: str,
    codec: str,
    description: str,
    sensors: tuple[Sensor, ...],
    field_map: Mapping[str, str],
) -> DecentlabDecoder:
    return DecentlabDecoder(
        id=f"decentlab-{model.lower()}",
        vendor="Decentlab",
        model=model,
        description=description,
        f_ports={1},
        default_field_map=field_map,
        ttn_codec_ids={codec},
        sensors=sensors,
    )


def _signed(offset: int, divisor: float) -> Callable[[int], float]:
    return lambda x: (x - offset) / divisor


# DL-PR26 0–1 bar (TTN codec dl-pr26-0-1): Pmin 0, Pmax 1
_PR26_PMIN, _PR26_PMAX = 0.0, 1.0
# DL-PR36 / DL-PR36CTD, TTN codecs *-8192: kp 8192
_PR36_KP = 8192

DECODERS = (
    _model(
        "DL-DS18",
        "dl-ds18-codec",
        "DS18B20 temperature probe; in wherry's pilot, a road-surface temperature sensor.",
        (sensor(1, Value("temperature", 0, _signed(32768, 16), "°C")), BATTERY),
        {"temperature": "road_surface_temperature", "battery_voltage": "battery_voltage"},
    ),
    _model(
        "DL-PM",
        "dl-pm-codec",
        "Particulate matter, air temperature, humidity and barometric pressure.",
        (
            BATTERY,
            sensor(
                10,
                Value("pm1_0_mass_concentration", 0, lambda x: x / 10, "µg/m³"),
                Value("pm2_5_mass_concentration", 1, lambda x: x / 10, "µg/m³"),
                Value("pm4_mass_concentration", 2, lambda x: x / 10, "µg/m³"),
                Value("pm10_mass_concentration", 3, lambda x: x / 10, "µg/m³"),
                Value("typical_particle_size", 4, lambda x: x, "nm"),
                Value("pm0_5_number_concentration", 5, lambda x: x / 10, "1/cm³"),
                Value("pm1_0_number_concentration", 6, lambda x: x / 10, "1/cm³"),
                Value("pm2_5_number_concentration", 7, lambda x: x / 10, "1/cm³"),
                Value("pm4_number_concentration", 8, lambda x: x / 10, "1/cm³"),
                Value("pm10_number_concentration", 9, lambda x: x / 10, "1/cm³"),
            ),
            sensor(
                2,
                Value("air_temperature", 0, lambda x: 175.72 * x / 65536 - 46.85, "°C"),
                Value("air_humidity", 1, lambda x: 125 * x / 65536 - 6, "%"),
            ),
            sensor(1, Value("barometric_pressure", 0, lambda x: x * 2, "Pa")),
        ),
        {
            "pm1_0_mass_concentration": "pm1_0",
            "pm2_5_mass_concentration": "pm2_5",
            "pm4_mass_concentration": "pm4_0",
            "pm10_mass_concentration": "pm10",
            "air_temperature": "air_temperature",
            "air_humidity": "relative_humidity",
            "barometric_pressure": "barometric_pressure",
            "battery_voltage": "battery_voltage",
        },
    ),
    _model(
        "DL-CTD10",
        "dl-ctd10-codec",
        "Water depth, temperature and electrical conductivity (CTD-10 probe).",
        (
            sensor(
                4,
                Value("water_depth", 0, lambda x: x - 32768, "mm"),
                Value("temperature", 1, _signed(32768, 10), "°C"),
                Value("electrical_conductivity", 2, lambda x: x, "µS/cm"),
                Value("freezing_flag", 3, lambda x: x),
            ),
            BATTERY,
        ),
        {
            "water_depth": "water_depth",
            "temperature": "water_temperature",
            "electrical_conductivity": "conductivity",
            "battery_voltage": "battery_voltage",
        },
    ),
    _model(
        "DL-PR26",
        "dl-pr26-0-1-codec",
        "Liquid pressure and temperature; the 0–1 bar calibration of TTN's dl-pr26-0-1 codec.",
        (
            sensor(
                2,
                Value(
                    "pressure",
                    0,
                    lambda x: (x - 16384) / 32768 * (_PR26_PMAX - _PR26_PMIN) + _PR26_PMIN,
                    "bar",
                ),
                Value("temperature", 1, lambda x: (x - 384) * 0.003125 - 50, "°C"),
            ),
            BATTERY,
        ),
        {
            "pressure": "pressure",
            "temperature": "water_temperature",
            "battery_voltage": "battery_voltage",
        },
    ),
    _model(
        "DL-PR36",
        "dl-pr36-8192-codec",
        "High-precision liquid pressure and temperature (kp 8192, TTN codec dl-pr36-8192).",
        (
            sensor(
                2,
                Value("pressure", 0, _signed(32768, _PR36_KP), "bar"),
                Value("temperature", 1, _signed(32768, 256), "°C"),
            ),
            BATTERY,
        ),
        {
            "pressure": "pressure",
            "temperature": "water_temperature",
            "battery_voltage": "battery_voltage",
        },
    ),
    _model(
        "DL-PR36CTD",
        "dl-pr36ctd-8192-codec",
        "Liquid pressure, temperature and electrical conductivity (kp 8192).",
        (
            sensor(
                4,
                Value("pressure", 0, _signed(32768, _PR36_KP), "bar"),
                Value("temperature_electronics", 1, _signed(32768, 256), "°C"),
                Value("temperature_pt1000", 2, _signed(32768, 256), "°C"),
                Value("electrical_conductivity", 3, _signed(32768, 1024), "mS/cm"),
            ),
            BATTERY,
        ),
        {
            "pressure": "pressure",
            "temperature_pt1000": "water_temperature",
            "electrical_conductivity": "conductivity",
            "battery_voltage": "battery_voltage",
        },
    ),
    _model(
        "DL-OPTOD",
        "dl-optod-codec",
        "Optical dissolved oxygen and temperature.",
        (
            sensor(
                5,
                Value("status", 0, lambda x: x),
                Value("temperature", 1, _signed(32768, 100), "°C"),
                Value("oxygen_saturation", 2, _signed(32768, 100), "%"),
                Value("oxygen_concentration", 3, _signed(32768, 100), "mg/L"),
                Value("oxygen_concentration_alt", 4, _signed(32768, 100), "ppm"),
            ),
            BATTERY,
        ),
        {
            "temperature": "water_temperature",
            "oxygen_saturation": "dissolved_oxygen_saturation",
            "oxygen_concentration": "dissolved_oxygen",
            "battery_voltage": "battery_voltage",
        },
    ),
    _model(
        "DL-NTU",
        "dl-ntu-codec",
        "Optical turbidity and temperature.",
        (
            sensor(
                5,
                Value("status", 0, lambda x: x),
                Value("temperature", 1, _signed(32768, 100), "°C"),
                Value("turbidity_in_ntu", 2, lambda x: x / 10, "NTU"),
                Value("turbidity_in_fnu", 3, lambda x: x / 10, "FNU"),
                Value("turbidity_in_mg_l", 4, lambda x: x / 10, "mg/L"),
            ),
            BATTERY,
        ),
        {
            "temperature": "water_temperature",
            "turbidity_in_ntu": "turbidity",
            "battery_voltage": "battery_voltage",
        },
    ),
    _model(
        "DL-PHEHT",
        "dl-pheht-codec",
        "pH, redox potential (ORP) and temperature.",
        (
            sensor(
                5,
                Value("status", 0, lambda x: x),
                Value("temperature", 1, _signed(32768, 100), "°C"),
                Value("ph", 2, _signed(32768, 100)),
                Value("redox", 3, _signed(32768, 10), "mV"),
                Value("ph_mv", 4, _signed(32768, 10), "mV"),
            ),
            BATTERY,
        ),
        {
            "temperature": "water_temperature",
            "ph": "ph",
            "redox": "redox_potential",
            "battery_voltage": "battery_voltage",
        },
    ),
)
