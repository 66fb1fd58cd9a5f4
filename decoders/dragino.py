"""Dragino: fixed-layout frames on FPort 2, one layout per model and work mode.

Field names, and the strings Dragino puts in some fields ("2799 mm", "0.00", "No Sensor"),
are the vendor's own so that the output matches their TTN codecs. Where a vendor codec
misreads its own frame this decoder reads the frame as the device manual describes and
says so in the model's description (LSPH01 negative soil temperatures, LDDS75 5-byte frames).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from decoders.decoder import Decoder
from decoders.errors import DecodeError

_U16 = struct.Struct(">H").unpack_from
_S16 = struct.Struct(">h").unpack_from
_S8 = struct.Struct(">b").unpack_from
_S32 = struct.Struct(">i").unpack_from

_Frame = Callable[[bytes], dict[str, Any]]


def _u16(payload: bytes, at: int) -> int:
    return int(_U16(payload, at)[0])


def _s16(payload: bytes, at: int) -> int:
    return int(_S16(payload, at)[0])


def _s8(payload: bytes, at: int) -> int:
    return int(_S8(payload, at)[0])


def _battery(payload: bytes) -> float:
    """Battery in V from bytes 0–1; the top two bits are status flags, not voltage."""
    return (_u16(payload, 0) & 0x3FFF) / 1000


def _sizes(payload: bytes, sizes: Iterable[int], model: str) -> None:
    allowed = tuple(sizes)
    if len(payload) not in allowed:
        words = " or ".join(str(size) for size in allowed)
        kind = "truncated" if len(payload) < min(allowed) else "wrong-size"
        raise DecodeError(
            f"{kind} payload: {model} frames on FPort 2 are {words} bytes, got {len(payload)}"
        )


def _lsn50v2_common(payload: bytes, mode: int) -> dict[str, Any]:
    """LSN50v2 frames in the generic work modes (everything but 3ADC and alarm)."""
    status = payload[6]
    out: dict[str, Any] = {
        "BatV": _u16(payload, 0) / 1000,
        "TempC1": _s16(payload, 2) / 10,
        "ADC_CH0V": _u16(payload, 4) / 1000,
        "Digital_IStatus": "H" if status & 0x02 else "L",
    }
    if mode != 6:
        out["EXTI_Trigger"] = "TRUE" if status & 0x01 else "FALSE"
        out["Door_status"] = "CLOSE" if status & 0x80 else "OPEN"
    return out


def _sht_or_illuminance(out: dict[str, Any], payload: bytes) -> None:
    """Bytes 7–10: SHT temperature and humidity, or a light sensor when humidity is 0."""
    if _u16(payload, 9) == 0:
        out["Illum"] = _s16(payload, 7)
    else:
        out["TempC_SHT"] = _s16(payload, 7) / 10
        out["Hum_SHT"] = _u16(payload, 9) / 10


def _lsn50v2(payload: bytes) -> dict[str, Any]:
    _sizes(payload, (11, 12), "LSN50v2")
    status = payload[6]
    mode = (status & 0x7C) >> 2
    if mode in (2, 31):
        out: dict[str, Any] = {}
    else:
        out = _lsn50v2_common(payload, mode)
    if mode == 0:
        out["Work_mode"] = "IIC"
        _sht_or_illuminance(out, payload)
    elif mode == 1:
        out["Work_mode"] = " Distance"  # the leading space is Dragino's
        out["Distance_cm"] = _u16(payload, 7) / 10
        if _u16(payload, 9) != 0xFFFF:
            out["Distance_signal_strength"] = _u16(payload, 9)
    elif mode == 2:
        if len(payload) != 12:
            raise DecodeError(
                "truncated payload: work mode 2 (3ADC, byte 6) carries the battery in "
                "byte 11, so the frame is 12 bytes; got 11"
            )
        out["Work_mode"] = " 3ADC"  # the leading space is Dragino's
        out["BatV"] = payload[11] / 10
        out["ADC_CH0V"] = _u16(payload, 0) / 1000
        out["ADC_CH1V"] = _u16(payload, 2) / 1000
        out["ADC_CH4V"] = _u16(payload, 4) / 1000
        out["Digital_IStatus"] = "H" if status & 0x02 else "L"
        out["EXTI_Trigger"] = "TRUE" if status & 0x01 else "FALSE"
        out["Door_status"] = "CLOSE" if status & 0x80 else "OPEN"
        _sht_or_illuminance(out, payload)
    elif mode == 3:
        out["Work_mode"] = "3DS18B20"
        out["TempC2"] = _s16(payload, 7) / 10
        out["TempC3"] = _s16(payload, 9) / 10
    elif mode == 4:
        out["Work_mode"] = "Weight"
        out["Weight"] = _s16(payload, 7)
    elif mode == 5:
        out["Work_mode"] = "Count"
        out["Count"] = int(_S32(payload, 7)[0])
    elif mode == 31:
        out["Work_mode"] = "ALARM"
        out["BatV"] = _u16(payload, 0) / 1000
        out["TempC1"] = _s16(payload, 2) / 10
        out["TempC1MIN"] = _s8(payload, 4)
        out["TempC1MAX"] = _s8(payload, 5)
        out["SHTEMPMIN"] = _s8(payload, 7)
        out["SHTEMPMAX"] = _s8(payload, 8)
        out["SHTHUMMIN"] = payload[9]
        out["SHTHUMMAX"] = payload[10]
    return out


def _probe(payload: bytes, at: int) -> float | str:
    """One DS18B20 of the D20/D22/D23 kit: 0xFFFF means no probe on that lead."""
    if payload[at] == 0xFF and payload[at + 1] == 0xFF:
        return "NULL"
    return _s16(payload, at) / 10


def _lsn50v2_d2x(payload: bytes) -> dict[str, Any]:
    """LSN50v2 with D20/D22/D23 probes: red, white and black leads in mode 3."""
    mode = (payload[6] & 0x7C) >> 2 if len(payload) > 6 else -1
    if mode not in (3, 31):
        return _lsn50v2(payload)
    _sizes(payload, (11,), "LSN50v2-D20-D22-D23 (DS18B20 and alarm modes)")
    if mode == 3:
        return {
            "Work_mode": "DS18B20",
            "BatV": _u16(payload, 0) / 1000,
            "ALARM_status": "TRUE" if payload[6] & 0x01 else "FALSE",
            "Temp_Red": _probe(payload, 2),
            "Temp_White": _probe(payload, 7),
            "Temp_Black": _probe(payload, 9),
        }
    return {
        "Work_mode": "ALARM",
        "Temp_Red_MIN": _s8(payload, 4),
        "Temp_Red_MAX": _s8(payload, 5),
        "Temp_White_MIN": _s8(payload, 7),
        "Temp_White_MAX": _s8(payload, 8),
        "Temp_Black_MIN": _s8(payload, 9),
        "Temp_Black_MAX": _s8(payload, 10),
    }


def _laq4(payload: bytes) -> dict[str, Any]:
    _sizes(payload, (11,), "LAQ4")
    mode = (payload[2] & 0x7C) >> 2
    battery = _u16(payload, 0) / 1000
    if mode == 1:
        return {
            "Bat_V": battery,
            "Work_mode": "CO2",
            "Alarm_status": "TRUE" if payload[2] & 0x01 else "FALSE",
            "TVOC_ppb": _u16(payload, 3),
            "CO2_ppm": _u16(payload, 5),
            "TempC_SHT": _s16(payload, 7) / 10,
            "Hum_SHT": _u16(payload, 9) / 10,
        }
    if mode == 31:
        return {
            "Bat_V": battery,
            "Work_mode": "ALARM",
            "SHTEMPMIN": _s8(payload, 3),
            "SHTEMPMAX": _s8(payload, 4),
            "SHTHUMMIN": payload[5],
            "SHTHUMMAX": payload[6],
            "CO2MIN": _u16(payload, 7),
            "CO2MAX": _u16(payload, 9),
        }
    raise DecodeError(
        f"unknown work mode {mode} in byte 2 (bits 2–6): LAQ4 sends mode 1 (CO2) or 31 (alarm)"
    )


def _ldds75(payload: bytes) -> dict[str, Any]:
    """The original LDDS75 codec: 4-byte frames read as "No Sensor", as Dragino's codec does."""
    _sizes(payload, (4, 5), "LDDS75")
    if len(payload) == 4:
        return {"distance": "No Sensor"}
    distance = _u16(payload, 2)
    return {
        "Bat": _battery(payload),
        "distance": distance if distance >= 20 else "Invalid Reading",
        "Interrupt_flag": payload[4],
    }


def _ldds75_114(payload: bytes) -> dict[str, Any]:
    _sizes(payload, (8,), "LDDS75 (firmware 1.1.4)")
    distance = _u16(payload, 2)
    if distance == 0:
        shown = "No Sensor"
    elif distance == 20:
        shown = "Invalid Reading"
    else:
        shown = f"{distance} mm"
    return {
        "Bat": _battery(payload),
        "Distance": shown,
        "Interrupt_flag": payload[4],
        "TempC_DS18B20": f"{_s16(payload, 5) / 10:.2f}",
        "Sensor_flag": payload[7],
    }


def _lsph01(payload: bytes) -> dict[str, Any]:
    _sizes(payload, (11,), "LSPH01")
    return {
        "Bat": _battery(payload),
        "TempC_DS18B20": f"{_s16(payload, 2) / 10:.2f}",
        "PH1_SOIL": f"{_u16(payload, 4) / 100:.2f}",
        "TEMP_SOIL": f"{_s16(payload, 6) / 10:.2f}",
        "Interrupt_flag": payload[8],
        "Message_type": payload[10],
    }


class DraginoDecoder(Decoder):
    """A Dragino model: one frame function for FPort 2."""

    def __init__(self, *, frame: _Frame, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._frame = frame

    def _decode(self, payload: bytes) -> dict[str, Any]:
        return self._frame(payload)


def _model(
    model: str,
    codec: str,
    description: str,
    frame: _Frame,
    field_map: Mapping[str, str],
    units: Mapping[str, str],
) -> DraginoDecoder:
    return DraginoDecoder(
        id=f"dragino-{model.lower()}",
        vendor="Dragino",
        model=model,
        description=description,
        f_ports={2},
        default_field_map=field_map,
        field_units=units,
        ttn_codec_ids={codec},
        frame=frame,
    )


_LSN50V2_UNITS = {
    "BatV": "V",
    "TempC1": "°C",
    "TempC2": "°C",
    "TempC3": "°C",
    "TempC_SHT": "°C",
    "Hum_SHT": "%",
    "Illum": "lx",
    "ADC_CH0V": "V",
    "ADC_CH1V": "V",
    "ADC_CH4V": "V",
    "Distance_cm": "cm",
    "Temp_Red": "°C",
    "Temp_White": "°C",
    "Temp_Black": "°C",
}

_LSN50V2_MAP = {
    "TempC1": "road_surface_temperature",
    "TempC_SHT": "air_temperature",
    "Hum_SHT": "relative_humidity",
    "Illum": "illuminance",
    "Distance_cm": "distance",
    "BatV": "battery_voltage",
}

DECODERS = (
    _model(
        "LSN50v2-D20",
        "lsn50v2-d20-codec",
        "LSN50 v2 node with a D20 DS18B20 probe (TempC1: road surface); all LSN50v2 work "
        "modes, SHT air sensor in IIC mode.",
        _lsn50v2,
        _LSN50V2_MAP,
        _LSN50V2_UNITS,
    ),
    _model(
        "LSN50v2-D20-D22-D23",
        "lsn50v2-d20-d22-d23-codec",
        "LSN50 v2 with one to three DS18B20 probes (red, white, black leads); the red "
        "lead is the road-surface probe. Other work modes as LSN50v2-D20.",
        _lsn50v2_d2x,
        {**_LSN50V2_MAP, "Temp_Red": "road_surface_temperature"},
        _LSN50V2_UNITS,
    ),
    _model(
        "LAQ4",
        "laq4-codec",
        "Indoor air quality: CO2, TVOC, temperature and humidity.",
        _laq4,
        {
            "CO2_ppm": "co2",
            "TVOC_ppb": "tvoc",
            "TempC_SHT": "air_temperature",
            "Hum_SHT": "relative_humidity",
            "Bat_V": "battery_voltage",
        },
        {"Bat_V": "V", "TVOC_ppb": "ppb", "CO2_ppm": "ppm", "TempC_SHT": "°C", "Hum_SHT": "%"},
    ),
    _model(
        "LDDS75",
        "ldds75-codec",
        "Ultrasonic distance sensor, original codec: 4-byte frames are reported as "
        '"No Sensor" as Dragino\'s codec does; 5-byte frames are read as battery, distance '
        "(bytes 2–3, where Dragino's codec wrongly puts the battery) and interrupt flag.",
        _ldds75,
        {"distance": "distance", "Bat": "battery_voltage"},
        {"Bat": "V", "distance": "mm"},
    ),
    _model(
        "LDDS75-114",
        "ldds75-114-codec",
        "Ultrasonic distance sensor, firmware 1.1.4 codec (8-byte frames with a DS18B20).",
        _ldds75_114,
        {"Distance": "distance", "Bat": "battery_voltage"},
        {"Bat": "V", "Distance": "mm", "TempC_DS18B20": "°C"},
    ),
    _model(
        "LSPH01",
        "lsph01-codec",
        "Soil/water pH probe with its temperature; negative probe temperatures are read "
        "as two's complement (Dragino's codec is 0.1 °C off below zero).",
        _lsph01,
        {"PH1_SOIL": "ph", "TEMP_SOIL": "water_temperature", "Bat": "battery_voltage"},
        {"Bat": "V", "TempC_DS18B20": "°C", "TEMP_SOIL": "°C"},
    ),
)
