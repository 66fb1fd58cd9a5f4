"""What the demo's sensors measure at a moment: smooth, noise-free curves of local time.

Road surfaces cool after dusk by Newton's law toward a per-route asymptote and warm
back through the day, so every simulated day meets the next 18:00 where it started.
The simulator adds noise and the sensors' resolution; nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from wherry.demo.fleet import RouteClimate

DUSK_HOUR = 18
NIGHT_HOURS = 14.0  # 18:00 → 08:00, surfaces cool
DAY_HOURS = 24.0 - NIGHT_HOURS  # 08:00 → 18:00, the day warms them back
DAY_TIME_CONSTANT_H = 3.5


def local_hour(local: datetime) -> float:
    """Hour of the day as a float, 0 ≤ h < 24, on the wall clock of `local`."""
    return local.hour + local.minute / 60 + (local.second + local.microsecond / 1e6) / 3600


def hours_since_dusk(local: datetime) -> float:
    """Hours since the latest 18:00 on the wall clock of `local`."""
    return (local_hour(local) - DUSK_HOUR) % 24


def newton(start: float, asymptote: float, hours: float, time_constant_h: float) -> float:
    """Newton's law of cooling (or warming): exponential approach to the asymptote."""
    return asymptote + (start - asymptote) * math.exp(-hours / time_constant_h)


def night_and_day(
    dusk_value: float, asymptote: float, time_constant_h: float, hours: float
) -> float:
    """Newton toward `asymptote` through the night, then back to `dusk_value` by the next dusk.

    The day part is scaled so the curve is continuous at 08:00 and at 18:00.
    """
    if hours < NIGHT_HOURS:
        return newton(dusk_value, asymptote, hours, time_constant_h)
    dawn_value = newton(dusk_value, asymptote, NIGHT_HOURS, time_constant_h)
    remaining = math.exp(-DAY_HOURS / DAY_TIME_CONSTANT_H)
    weight = (math.exp(-(hours - NIGHT_HOURS) / DAY_TIME_CONSTANT_H) - remaining) / (1 - remaining)
    return dusk_value + (dawn_value - dusk_value) * weight


def road_surface_temperature(
    climate: RouteClimate,
    hours: float,
    *,
    dusk_offset_c: float = 0.0,
    asymptote_offset_c: float = 0.0,
) -> float:
    """Road surface temperature (°C) `hours` after dusk for one sensor on a route."""
    return night_and_day(
        climate.dusk_c + dusk_offset_c,
        climate.asymptote_c + asymptote_offset_c,
        climate.time_constant_h,
        hours,
    )


def air_temperature(hours: float) -> float:
    """Air temperature (°C) at the roadside weather station, `hours` after dusk."""
    return night_and_day(6.0, -2.0, 5.0, hours)


def relative_humidity(hours: float) -> float:
    """Relative humidity (%) at the roadside: from 72 % at dusk to about 90 % by dawn.

    A dry evening keeps the dew point low, so the forecast may fall below 0 °C (a dew
    point holds a dry surface's forecast just below it) and TREAT comes before the frost.
    """
    return min(100.0, night_and_day(72.0, 92.0, 5.0, hours))


@dataclass(frozen=True, slots=True)
class Segment:
    """From `start_h` on, a quantity approaches `target` with time constant `time_constant_h`."""

    start_h: float
    target: float
    time_constant_h: float


def piecewise_newton(segments: Sequence[Segment], midnight_value: float, hour: float) -> float:
    """Value at `hour` of a day made of Newton segments, starting at `midnight_value`."""
    value = midnight_value
    for index, segment in enumerate(segments):
        if hour <= segment.start_h:
            break
        end = segments[index + 1].start_h if index + 1 < len(segments) else 24.0
        value = newton(
            value, segment.target, min(hour, end) - segment.start_h, segment.time_constant_h
        )
    return value


_SCHOOL_DAY_CO2 = (
    Segment(0.0, 420.0, 1.5),
    Segment(8.75, 1250.0, 0.75),  # registration: a full classroom
    Segment(10.5, 650.0, 0.2),  # morning break, windows open
    Segment(10.75, 1250.0, 0.75),
    Segment(12.0, 600.0, 0.4),  # lunch
    Segment(13.0, 1150.0, 0.75),
    Segment(15.25, 420.0, 1.5),  # home time
)
_SCHOOL_DAY_TEMPERATURE = (
    Segment(0.0, 15.5, 3.0),  # heating set back overnight
    Segment(6.5, 20.5, 1.2),  # heating on
    Segment(8.75, 21.5, 1.5),  # thirty children
    Segment(15.25, 20.5, 1.0),
    Segment(16.5, 15.5, 3.0),  # heating off
)
_CLOSED_CO2 = (Segment(0.0, 420.0, 1.5),)
_CLOSED_TEMPERATURE = (Segment(0.0, 15.5, 3.0),)


@dataclass(frozen=True, slots=True)
class ClassroomAir:
    temperature_c: float
    relative_humidity_pct: float
    co2_ppm: float
    pm2_5_ug_m3: float
    pm10_ug_m3: float


def classroom_air(local: datetime) -> ClassroomAir:
    """A primary-school classroom in winter: occupied 08:45–15:15 on weekdays.

    Particulates peak in the evening, when wood-burning stoves outside are lit.
    """
    hour = local_hour(local)
    school_day = local.weekday() < 5
    co2 = piecewise_newton(_SCHOOL_DAY_CO2 if school_day else _CLOSED_CO2, 425.0, hour)
    temperature = piecewise_newton(
        _SCHOOL_DAY_TEMPERATURE if school_day else _CLOSED_TEMPERATURE, 16.0, hour
    )
    from_evening_peak = min(abs(hour - 21.0), 24.0 - abs(hour - 21.0))
    pm2_5 = 4.5 + 7.0 * math.exp(-0.5 * (from_evening_peak / 2.2) ** 2)
    return ClassroomAir(
        temperature_c=temperature,
        relative_humidity_pct=36.0 + (co2 - 420.0) * 0.012,
        co2_ppm=co2,
        pm2_5_ug_m3=pm2_5,
        pm10_ug_m3=1.45 * pm2_5 + 2.0,
    )


@dataclass(frozen=True, slots=True)
class RiverWater:
    depth_mm: float
    temperature_c: float
    conductivity_us_cm: float


def river_water(epoch_s: float, hour: float, mean_depth_mm: float) -> RiverWater:
    """A winter river: level drifting over days, a small daily temperature swing,
    conductivity falling as fresh rain raises the level."""
    days = epoch_s / 86400.0
    depth = (
        mean_depth_mm
        + 55.0 * math.sin(2 * math.pi * days / 3.3)
        + 12.0 * math.sin(2 * math.pi * days / 0.9)
    )
    return RiverWater(
        depth_mm=depth,
        temperature_c=6.1 + 0.35 * math.sin(2 * math.pi * (hour - 9.0) / 24.0),
        conductivity_us_cm=505.0 - 0.4 * (depth - mean_depth_mm),
    )
