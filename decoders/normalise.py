"""`decode`: one uplink to vendor fields and canonical readings, or a DecodeError.

This is the one entry point the pipeline calls, so it is written for speed: plans are
compiled once per (decoder, field map) and the common case, a number in a known unit,
takes a short path with no string work.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from decoders.decoded import Decoded
from decoders.decoder import Decoder
from decoders.derived import dew_point
from decoders.fieldmap import (
    AIR_TEMPERATURE,
    RELATIVE_HUMIDITY,
    FieldMapError,
    Plan,
    compile_plan,
)
from decoders.plausibility import PROBE_ERROR_CODES, invalid_reason
from decoders.quantities import QUANTITIES
from decoders.readings import Reading
from decoders.registry import DECODERS_BY_ID, unknown
from decoders.units import IDENTITY, Conversion, conversion

_MISSING: Any = object()
_NUMBER_WITH_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*?)?\s*$")
_DEW_POINT = QUANTITIES["dew_point"]
_PROBE_CODES = frozenset(PROBE_ERROR_CODES)
_BIG = 2**53  # integers beyond this are not measurements, and may not fit a float

_default_plans: dict[str, Plan] = {}
_device_plans: dict[tuple[str, tuple[tuple[str, str], ...]], Plan] = {}
_MAX_CACHED_PLANS = 4096


def decode(
    decoder_id: str,
    payload: bytes,
    f_port: int | None,
    *,
    field_map: Mapping[str, str] | None = None,
    decoded_payload: Mapping[str, Any] | None = None,
) -> Decoded:
    """Decode one uplink with decoder `decoder_id` and the device's `field_map`.

    `decoded_payload` is TTN's payload-formatter output, read only by the `ttn` decoder.
    Raises UnknownDecoder for an unknown id and DecodeError for anything unreadable in
    the payload (or a field map that cannot apply, FieldMapError); never anything else.
    """
    try:
        decoder = DECODERS_BY_ID[decoder_id]
    except (KeyError, TypeError):
        raise unknown(decoder_id) from None
    if decoded_payload is None:
        fields, units = decoder.decode_fields(payload, f_port), None
    else:
        fields, units = decoder.decode_uplink(payload, f_port, decoded_payload)
    plan = plan_for(decoder, field_map)
    return Decoded(fields, _readings(plan, fields, units))


def check_field_map(decoder_id: str, field_map: Mapping[str, str] | None) -> None:
    """FieldMapError (or UnknownDecoder) now if `field_map` cannot work with this decoder."""
    try:
        decoder = DECODERS_BY_ID[decoder_id]
    except (KeyError, TypeError):
        raise unknown(decoder_id) from None
    plan_for(decoder, field_map)


def plan_for(decoder: Decoder, field_map: Mapping[str, str] | None) -> Plan:
    """The compiled plan for a decoder and a device's field map, cached."""
    if not field_map:
        plan = _default_plans.get(decoder.id)
        if plan is None:
            plan = _default_plans[decoder.id] = compile_plan(decoder, None)
        return plan
    try:
        key = (decoder.id, tuple(field_map.items()))
        cached = _device_plans.get(key)
    except Exception as exc:
        raise FieldMapError(
            f"{decoder.id}: field map {field_map!r} cannot be read: {exc}"
        ) from None
    if cached is None:
        cached = compile_plan(decoder, field_map)
        if len(_device_plans) >= _MAX_CACHED_PLANS:
            _device_plans.clear()
        _device_plans[key] = cached
    return cached


def _readings(
    plan: Plan, fields: Mapping[str, Any], units: Mapping[str, str] | None
) -> tuple[Reading, ...]:
    readings: list[Reading] = []
    append = readings.append
    air_temperature: Reading | None = None
    relative_humidity: Reading | None = None
    dew_point_sent = False
    for field, quantity, unit, how, low, high, probe, role in plan:
        raw = fields.get(field, _MISSING)
        if raw is _MISSING:
            continue
        kind = raw.__class__
        if (kind is float or (kind is int and -_BIG < raw < _BIG)) and (
            units is None or field not in units
        ):
            value = float(raw) if how is None else (raw + how[0]) * how[1] / how[2]
            if low <= value <= high and not (probe and value in _PROBE_CODES):
                reason = None
            else:
                reason = invalid_reason(QUANTITIES[quantity], value)
        else:
            value, reason = _unusual(field, raw, quantity, how, units)
        reading = Reading(quantity, value, unit, field, reason)
        append(reading)
        if role and reason is None:
            if role == AIR_TEMPERATURE:
                if air_temperature is None:
                    air_temperature = reading
            elif role == RELATIVE_HUMIDITY:
                if relative_humidity is None:
                    relative_humidity = reading
            else:
                dew_point_sent = True
    if air_temperature is not None and relative_humidity is not None and not dew_point_sent:
        derived = _dew_point(air_temperature, relative_humidity)
        if derived is not None:
            append(derived)
    return tuple(readings)


def _unusual(
    field: str,
    raw: Any,
    quantity: str,
    how: Conversion | None,
    units: Mapping[str, str] | None,
) -> tuple[float, str | None]:
    """Values off the short path: strings with units, booleans, units sent with the data."""
    target = QUANTITIES[quantity]
    unit = units.get(field) if units is not None else None
    if isinstance(raw, int) and not isinstance(raw, bool) and not -_BIG < raw < _BIG:
        return math.nan, (
            f"out_of_range: vendor field {field!r} is an integer of {raw.bit_length()} bits"
        )
    if isinstance(raw, bool | int | float):
        number = float(raw)
    elif isinstance(raw, str):
        match = _NUMBER_WITH_UNIT.match(raw)
        if match is None:
            return math.nan, f"not_a_number: vendor field {field!r} is {raw!r}"
        number = float(match.group(1))
        if match.group(2):
            unit = match.group(2)
    else:
        return math.nan, f"not_a_number: vendor field {field!r} holds {type(raw).__name__}"
    if unit is None:
        if how is not None:  # the decoder's declared unit, compiled into the plan
            number = (number + how[0]) * how[1] / how[2]
    else:
        found = conversion(unit, target.unit)
        if found is None:
            return math.nan, (
                f"unit_mismatch: vendor field {field!r} is {raw!r} in {unit}, which cannot be "
                f"converted to {target.unit} for {quantity}"
            )
        if found is not IDENTITY:
            number = (number + found[0]) * found[1] / found[2]
    return number, invalid_reason(target, number)


_derived_sources: dict[tuple[str, str], str] = {}


def _dew_point(air_temperature: Reading, relative_humidity: Reading) -> Reading | None:
    """The dew point reading derived from one uplink's air temperature and humidity."""
    try:
        value = dew_point(air_temperature.value, relative_humidity.value)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None  # 0 % humidity, or a temperature at the formula's pole: no dew point
    key = (air_temperature.source_field, relative_humidity.source_field)
    source = _derived_sources.get(key)
    if source is None:
        if len(_derived_sources) >= _MAX_CACHED_PLANS:
            _derived_sources.clear()
        source = _derived_sources[key] = f"derived:{key[0]}+{key[1]}"
    if _DEW_POINT.minimum <= value <= _DEW_POINT.maximum:
        return Reading("dew_point", value, _DEW_POINT.unit, source)
    return Reading("dew_point", value, _DEW_POINT.unit, source, invalid_reason(_DEW_POINT, value))
