"""Synthetic winter nights of road-surface temperature, for tests, the benchmark and the demo.

A night is a chain of Newton segments on the hours after 16:00 local: the surface
approaches each segment's target exponentially (clear-sky cooling towards a night
equilibrium, a cloud that warms it for an hour, a warm front, dawn). Every
`NightKind` draws its numbers from a range chosen so that its promise holds for
every sensor of every route, noise included: a `FROSTY` night has readings at or
below 0 °C, a `MILD` one never reads +3 °C or below, a `MARGINAL` one stays
between. The tests check those promises, so a decision engine can be judged
against nights whose truth is known.

Everything is a pure function of the seed (NumPy's `default_rng`); nothing reads
a clock. This module builds numbers and `Observation`s only: turning a season
into TTN uplinks, devices.csv and routes.csv is `wherry.synthetic_season`'s job.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from alerts.model import Observation
from decoders import QUANTITIES
from decoders.plausibility import invalid_reason

LOCAL_ZONE = ZoneInfo("Europe/London")
SERIES_START = time(16, 0)  # the series begins at 16:00 local, two hours before the night
SERIES_END = time(10, 0)  # and ends at 10:00 local the next morning
RST = "road_surface_temperature"
AIR = "air_temperature"
HUMIDITY = "relative_humidity"
DEW_POINT = "dew_point"
ROAD_PROBE_DECODER = "decentlab-dl-ds18"
WEATHER_STATION_DECODER = "cayenne-lpp"
ROAD_PROBE_FIELD_MAP = "temperature=road_surface_temperature;battery_voltage=battery_voltage"
WEATHER_STATION_FIELD_MAP = "temperature_1=air_temperature;relative_humidity_2=relative_humidity"
POWER_ON_RESET_C = 85.0  # what a DS18B20 reports before its first conversion
NO_PROBE_C = -127.0  # what a DS18B20 reports with its lead cut
NOISE_C = 0.08  # sensor noise (°C, one standard deviation), clipped at NOISE_LIMIT_C
NOISE_LIMIT_C = 0.25
SENSOR_OFFSET_LIMIT_C = 0.3  # how far one spot on a route sits from the route's own curve
_NS = 1_000_000_000
_HOUR_NS = 3600 * _NS


class NightKind(StrEnum):
    """The shapes of winter night a gritting decision has to get right.

    - `frosty`: clear sky, the surface falls steadily well below 0 °C by dawn.
    - `marginal`: the surface bottoms out between 0 °C and +3 °C, never freezing.
    - `mild`: cloud or wind keeps the surface above +3 °C all night.
    - `mild_steep_evening`: cools fast after sunset (a straight line through the
      first hours points well below +1 °C) then levels off above +3 °C.
    - `cloud_bump`: cooling interrupted by an hour of warming under passing
      cloud near +1.5 °C, then clear again and freezing by morning.
    - `thaw`: freezes early in the evening, then a warm front lifts the surface
      to +5 °C or more for the rest of the night.
    - `late_clearing`: cloud holds the surface near +3.5 °C until after midnight,
      then the sky clears and it freezes before dawn.
    """

    FROSTY = "frosty"
    MARGINAL = "marginal"
    MILD = "mild"
    MILD_STEEP_EVENING = "mild_steep_evening"
    CLOUD_BUMP = "cloud_bump"
    THAW = "thaw"
    LATE_CLEARING = "late_clearing"

    @property
    def freezes(self) -> bool:
        """Whether every route reads 0 °C or below at some time in the night."""
        return self in _FREEZING_KINDS

    @property
    def stays_above_3c(self) -> bool:
        """Whether every valid reading on every route stays above +3 °C."""
        return self in (NightKind.MILD, NightKind.MILD_STEEP_EVENING)


_FREEZING_KINDS = frozenset(
    {NightKind.FROSTY, NightKind.CLOUD_BUMP, NightKind.THAW, NightKind.LATE_CLEARING}
)

# Fourteen nights: several of each kind that decides whether a route is treated.
SEASON_MIX: tuple[NightKind, ...] = (
    (NightKind.FROSTY,) * 4
    + (NightKind.MARGINAL,) * 3
    + (NightKind.MILD,) * 2
    + (NightKind.MILD_STEEP_EVENING,) * 2
    + (NightKind.CLOUD_BUMP, NightKind.THAW, NightKind.LATE_CLEARING)
)


@dataclass(frozen=True, slots=True)
class Segment:
    """From `start_h` hours after 16:00 on, approach `target_c` with `time_constant_h`."""

    start_h: float
    target_c: float
    time_constant_h: float


@dataclass(frozen=True, slots=True)
class NightProfile:
    """The town's surface curve for one night, before any route's or sensor's own offsets.

    `night` segments cover the dark hours (their targets move with a route's
    warmth and a sensor's offset); `dawn` is the morning warming. The air is the
    surface curve lifted by `air_excess_c`; humidity climbs from `humidity_dusk_pct`
    to `humidity_night_pct` after dark and falls again after dawn.
    """

    kind: NightKind
    start_c: float
    night: tuple[Segment, ...]
    dawn: Segment
    air_excess_c: float
    humidity_dusk_pct: float
    humidity_night_pct: float


@dataclass(frozen=True, slots=True)
class SyntheticRoute:
    """A gritting route and how its surface differs from the town's.

    `warmth_c` shifts the night equilibrium (a hill road runs colder, the town
    centre's heat island warmer); `cooling_factor` scales how fast it gets there
    (a bridge deck, with air below, cools fastest).
    """

    route_id: str
    name: str
    length_km: float
    priority: int
    area: str
    warmth_c: float = 0.0
    cooling_factor: float = 1.0


DeviceRole = Literal["road_probe", "weather_station"]


@dataclass(frozen=True, slots=True)
class SyntheticDevice:
    """One device on a route: a road probe (DL-DS18) or a weather station (Cayenne LPP)."""

    device_id: str
    route_id: str
    role: DeviceRole
    dev_eui: str
    device_number: int
    start_offset_c: float = 0.0
    target_offset_c: float = 0.0
    battery_v: float = 3.3

    @property
    def decoder(self) -> str:
        return ROAD_PROBE_DECODER if self.role == "road_probe" else WEATHER_STATION_DECODER

    @property
    def field_map(self) -> str:
        return ROAD_PROBE_FIELD_MAP if self.role == "road_probe" else WEATHER_STATION_FIELD_MAP


@dataclass(frozen=True, slots=True)
class DeviceSeries:
    """What one device reported: its receive times (ns) and one array per canonical quantity.

    Road probes report `road_surface_temperature` (possibly a DS18B20 error code,
    which `observations` flags as the decoders would); weather stations
    `air_temperature` and `relative_humidity`, from which the dew point follows.
    """

    device: SyntheticDevice
    times_ns: npt.NDArray[np.int64]
    values: Mapping[str, npt.NDArray[np.float64]]

    def observations(self) -> Iterator[Observation]:
        """The series as `Observation`s: dew point derived, bad values flagged as decoders do."""
        names = list(self.values)
        columns = [self.values[name].tolist() for name in names]
        for index, time_ns in enumerate(self.times_ns.tolist()):
            valid: dict[str, float] = {}
            flagged: dict[str, str] = {}
            for name, column in zip(names, columns, strict=True):
                value = column[index]
                reason = invalid_reason(QUANTITIES[name], value)
                if reason is None:
                    valid[name] = value
                else:
                    flagged[name] = reason
            if AIR in valid and HUMIDITY in valid:
                valid[DEW_POINT] = magnus_dew_point(valid[AIR], valid[HUMIDITY])
            yield Observation(
                device_id=self.device.device_id,
                time_ns=time_ns,
                domain="road",
                route_id=self.device.route_id,
                values=valid,
                flagged=flagged,
            )

    def valid_surface(self) -> npt.NDArray[np.float64]:
        """Road-surface readings without the probe's error codes (empty for a weather station)."""
        if RST not in self.values:
            return np.empty(0)
        surface = self.values[RST]
        valid: npt.NDArray[np.float64] = surface[
            (surface != POWER_ON_RESET_C) & (surface != NO_PROBE_C)
        ]
        return valid


@dataclass(frozen=True, slots=True)
class NightWindow:
    """One night of a season: its kind and the evening it starts on (local date).

    `start_ns`/`end_ns` bound the synthetic series (16:00 to 10:00 local);
    the gritting night proper (18:00 to 10:00) lies inside.
    """

    index: int
    evening: date
    kind: NightKind
    start_ns: int
    end_ns: int


@dataclass(frozen=True, slots=True)
class Season:
    """A run of consecutive nights on several routes, with the days between them filled in."""

    seed: int
    routes: tuple[SyntheticRoute, ...]
    devices: tuple[SyntheticDevice, ...]
    nights: tuple[NightWindow, ...]
    series: tuple[DeviceSeries, ...] = field(repr=False)

    def observations(self) -> list[Observation]:
        """Every device's observations, in time order."""
        merged = [obs for one in self.series for obs in one.observations()]
        merged.sort(key=lambda obs: (obs.time_ns, obs.device_id))
        return merged

    def surface_readings(
        self, route_id: str, night: NightWindow
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Valid road-surface readings (times, values) on a route in the night's window, by time."""
        times: list[npt.NDArray[np.int64]] = []
        values: list[npt.NDArray[np.float64]] = []
        for one in self.series:
            if one.device.route_id != route_id or RST not in one.values:
                continue
            surface = one.values[RST]
            keep = (
                (one.times_ns >= night.start_ns)
                & (one.times_ns < night.end_ns)
                & (surface != POWER_ON_RESET_C)
                & (surface != NO_PROBE_C)
            )
            times.append(one.times_ns[keep])
            values.append(surface[keep])
        all_times = np.concatenate(times) if times else np.empty(0, dtype=np.int64)
        all_values = np.concatenate(values) if values else np.empty(0)
        order = np.argsort(all_times, kind="stable")
        return all_times[order], all_values[order]


@dataclass(frozen=True, slots=True)
class SyntheticNight:
    """One night on one route: what `night()` returns."""

    kind: NightKind
    window: NightWindow
    route: SyntheticRoute
    series: tuple[DeviceSeries, ...]

    def observations(self) -> list[Observation]:
        merged = [obs for one in self.series for obs in one.observations()]
        merged.sort(key=lambda obs: (obs.time_ns, obs.device_id))
        return merged


def magnus_dew_point(air_c: float, humidity_pct: float) -> float:
    """Dew point (°C) by the Magnus formula of GRITTING.md (a = 17.62, b = 243.12 °C)."""
    gamma = math.log(humidity_pct / 100.0) + 17.62 * air_c / (243.12 + air_c)
    return 243.12 * gamma / (17.62 - gamma)


def newton_curve(
    start_c: float, segments: Sequence[Segment], hours: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Values at `hours` of a chain of Newton segments starting from `start_c` at hour 0.

    Each segment starts from where the previous one left off, so the curve is
    continuous; hours before the first segment take its start value.
    """
    values = np.full(hours.shape, start_c, dtype=np.float64)
    level = start_c
    for index, segment in enumerate(segments):
        end = segments[index + 1].start_h if index + 1 < len(segments) else math.inf
        inside = (hours >= segment.start_h) & (hours < end)
        elapsed = hours[inside] - segment.start_h
        values[inside] = segment.target_c + (level - segment.target_c) * np.exp(
            -elapsed / segment.time_constant_h
        )
        if math.isfinite(end):
            level = segment.target_c + (level - segment.target_c) * math.exp(
                -(end - segment.start_h) / segment.time_constant_h
            )
    return values


def _hours_to(start_c: float, target_c: float, time_constant_h: float, value_c: float) -> float:
    """Hours a Newton curve from `start_c` towards `target_c` takes to reach `value_c`."""
    return time_constant_h * math.log((start_c - target_c) / (value_c - target_c))


def draw_profile(kind: NightKind, rng: np.random.Generator) -> NightProfile:
    """The town's curve for one night of `kind`, its numbers drawn from the kind's ranges.

    The ranges leave room for a route's warmth (±0.6 °C), a sensor's offset
    (±0.3 °C) and noise (±0.25 °C) without breaking the kind's promise.
    """
    u = rng.uniform
    dawn = Segment(float(u(15.4, 15.9)), float(u(5.0, 9.0)), 2.5)
    air_excess, humidity_night = float(u(1.0, 2.5)), float(u(90.0, 99.0))
    night: tuple[Segment, ...]
    if kind is NightKind.FROSTY:
        start = float(u(4.0, 7.0))
        night = (Segment(0.0, float(u(-4.5, -1.6)), float(u(3.0, 4.5))),)
    elif kind is NightKind.MARGINAL:
        start = float(u(4.0, 7.0))
        night = (Segment(0.0, float(u(1.2, 1.8)), float(u(3.0, 4.5))),)
    elif kind is NightKind.MILD:
        start = float(u(6.0, 9.0))
        night = (Segment(0.0, float(u(4.3, 6.5)), float(u(3.5, 5.0))),)
        air_excess = float(u(0.5, 1.0))
        dawn = Segment(dawn.start_h, dawn.target_c + 3.0, dawn.time_constant_h)
    elif kind is NightKind.MILD_STEEP_EVENING:
        # about 3 °C/h just after sunset (a clear, dry evening), level within three hours
        start, level, fast = float(u(8.5, 10.0)), float(u(4.6, 5.2)), float(u(1.5, 2.0))
        levels_off = _hours_to(start, level - 1.0, fast, level + 0.3)
        night = (Segment(0.0, level - 1.0, fast), Segment(levels_off, level, 6.0))
        air_excess = float(u(0.5, 1.0))
    elif kind is NightKind.CLOUD_BUMP:
        start, floor, slow = float(u(5.0, 6.5)), float(u(-3.0, -1.8)), float(u(3.5, 4.5))
        cloud = _hours_to(start, floor, slow, float(u(1.3, 2.0)))
        night = (
            Segment(0.0, floor, slow),
            Segment(cloud, float(u(4.0, 5.0)), 2.0),  # an hour under cloud: about +1 °C
            Segment(cloud + 1.0, floor, slow),
        )
    elif kind is NightKind.THAW:
        start = float(u(3.5, 4.5))
        night = (
            Segment(0.0, 1.5, 2.0),
            Segment(2.0, float(u(-4.0, -3.0)), 2.0),  # clears at 18:00, freezes by about 19:00
            Segment(float(u(6.0, 7.0)), float(u(5.0, 7.0)), 1.5),  # the warm front
        )
        humidity_night = 100.0
    else:  # NightKind.LATE_CLEARING
        start = float(u(5.0, 6.5))
        night = (
            Segment(0.0, float(u(3.3, 4.0)), 3.0),
            Segment(float(u(7.5, 9.5)), float(u(-3.0, -1.8)), 3.0),  # the sky clears
        )
    return NightProfile(
        kind=kind,
        start_c=start,
        night=night,
        dawn=dawn,
        air_excess_c=air_excess,
        humidity_dusk_pct=float(u(70.0, 85.0)),
        humidity_night_pct=humidity_night,
    )


def _surface_segments(
    profile: NightProfile, route: SyntheticRoute, device: SyntheticDevice
) -> tuple[float, tuple[Segment, ...]]:
    """The profile moved to one spot: the route's warmth and pace, the sensor's own offsets."""
    shift = route.warmth_c + device.target_offset_c
    night = tuple(
        Segment(s.start_h, s.target_c + shift, s.time_constant_h * route.cooling_factor)
        for s in profile.night
    )
    return profile.start_c + device.start_offset_c, (*night, profile.dawn)


def _air_segments(
    profile: NightProfile, route: SyntheticRoute
) -> tuple[float, tuple[Segment, ...]]:
    """The air above the road: warmer than the surface after dark, and slower to change."""
    night = tuple(
        Segment(
            s.start_h, s.target_c + route.warmth_c + profile.air_excess_c, s.time_constant_h * 1.3
        )
        for s in profile.night
    )
    return profile.start_c + 1.0, (*night, profile.dawn)


def _humidity(profile: NightProfile, hours: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    rise = profile.humidity_night_pct + (profile.humidity_dusk_pct - profile.humidity_night_pct) * (
        np.exp(-np.maximum(hours, 0.0) / 3.0)
    )
    after_dawn = np.maximum(hours - profile.dawn.start_h, 0.0)
    return np.asarray(rise - 15.0 * (1.0 - np.exp(-after_dawn / 2.0)), dtype=np.float64)


def _local_ns(day: date, at: time) -> int:
    moment = datetime.combine(day, at, tzinfo=LOCAL_ZONE).astimezone(UTC)
    return int(moment.timestamp()) * _NS


def night_window(index: int, evening: date, kind: NightKind) -> NightWindow:
    """The series window of a night starting on `evening`: 16:00 local to 10:00 the next day."""
    return NightWindow(
        index=index,
        evening=evening,
        kind=kind,
        start_ns=_local_ns(evening, SERIES_START),
        end_ns=_local_ns(evening + timedelta(days=1), SERIES_END),
    )


def _sample_times(
    start_ns: int, end_ns: int, interval_min: float, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """A device's receive times: a fixed period from a random phase, plus up to 2 s of drift."""
    interval_ns = round(interval_min * 60 * _NS)
    phase = int(rng.integers(_NS, max(interval_ns - 2 * _NS, _NS + 1)))
    slots = np.arange(start_ns + phase, end_ns, interval_ns, dtype=np.int64)
    return slots + rng.integers(0, 2 * _NS, size=slots.shape, dtype=np.int64)


def _noise(
    rng: np.random.Generator, size: int, sigma: float, limit: float
) -> npt.NDArray[np.float64]:
    return np.clip(rng.normal(0.0, sigma, size), -limit, limit)


def _smoothstep(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    clipped = np.clip(x, 0.0, 1.0)
    return np.asarray(clipped * clipped * (3.0 - 2.0 * clipped), dtype=np.float64)


def _device_series(
    device: SyntheticDevice,
    route: SyntheticRoute,
    windows: Sequence[NightWindow],
    profiles: Sequence[NightProfile],
    interval_min: float,
    rng: np.random.Generator,
) -> DeviceSeries:
    """One device over consecutive nights; from 10:00 to 16:00 the day eases into the next."""
    times = _sample_times(windows[0].start_ns, windows[-1].end_ns, interval_min, rng)
    starts = np.array([w.start_ns for w in windows], dtype=np.int64)
    which = np.searchsorted(starts, times, side="right") - 1
    quantities = (RST,) if device.role == "road_probe" else (AIR, HUMIDITY)
    values = {name: np.empty(times.shape, dtype=np.float64) for name in quantities}
    for index, (window, profile) in enumerate(zip(windows, profiles, strict=True)):
        mine = which == index
        hours = (times[mine] - window.start_ns) / _HOUR_NS
        following = profiles[index + 1] if index + 1 < len(profiles) else None
        next_start_ns = windows[index + 1].start_ns if index + 1 < len(windows) else window.end_ns
        day_weight = _smoothstep(
            (times[mine] - window.end_ns) / max(next_start_ns - window.end_ns, 1)
        )
        for name in quantities:
            if name == HUMIDITY:
                curve = _humidity(profile, hours)
                after = following.humidity_dusk_pct if following is not None else 0.0
            elif name == AIR:
                start, segments = _air_segments(profile, route)
                curve = newton_curve(start, segments, hours)
                after = following.start_c + 1.0 if following is not None else 0.0
            else:
                start, segments = _surface_segments(profile, route, device)
                curve = newton_curve(start, segments, hours)
                after = following.start_c + device.start_offset_c if following else 0.0
            if following is not None:
                curve = curve * (1.0 - day_weight) + after * day_weight
            values[name][mine] = curve
    if RST in values:
        values[RST] += _noise(rng, times.size, NOISE_C, NOISE_LIMIT_C)
    if AIR in values:
        values[AIR] += _noise(rng, times.size, 0.15, 0.45)
    if HUMIDITY in values:
        values[HUMIDITY] = np.clip(values[HUMIDITY] + _noise(rng, times.size, 1.0, 3.0), 30, 100)
    return DeviceSeries(device=device, times_ns=times, values=values)


# Three routes like a small town's: a hill road (coldest), a bridge deck (cools
# fastest) and the town centre (its heat island keeps it warmest).
ROUTE_TEMPLATES: tuple[SyntheticRoute, ...] = (
    SyntheticRoute("bank-road", "Bank Road and Smedley Street", 6.4, 1, "Hillside", -0.5, 1.0),
    SyntheticRoute(
        "bridge-deck", "Bridge deck and the A6 approaches", 3.1, 1, "Riverside", -0.2, 0.8
    ),
    SyntheticRoute(
        "town-centre", "Town centre: Crown Square and Dale Road", 4.8, 2, "Centre", 0.5, 1.1
    ),
)


def season_routes(count: int) -> tuple[SyntheticRoute, ...]:
    """`count` routes cycling through `ROUTE_TEMPLATES` (ids numbered after the first three)."""
    routes = []
    for index in range(count):
        template = ROUTE_TEMPLATES[index % len(ROUTE_TEMPLATES)]
        lap = index // len(ROUTE_TEMPLATES)
        if lap == 0:
            routes.append(template)
            continue
        routes.append(
            SyntheticRoute(
                route_id=f"{template.route_id}-{lap + 1}",
                name=f"{template.name} ({lap + 1})",
                length_km=template.length_km,
                priority=template.priority,
                area=template.area,
                warmth_c=template.warmth_c,
                cooling_factor=template.cooling_factor,
            )
        )
    return tuple(routes)


def route_devices(
    route: SyntheticRoute,
    route_index: int,
    sensors: int,
    weather_station: bool,
    rng: np.random.Generator,
) -> tuple[SyntheticDevice, ...]:
    """`sensors` road probes (each with its own offsets) and optionally one weather station."""
    devices = []
    for number in range(1, sensors + 1):
        devices.append(
            SyntheticDevice(
                device_id=f"rst-{route.route_id}-{number}",
                route_id=route.route_id,
                role="road_probe",
                dev_eui=f"70B3D57BA0{route_index:03X}{number:03X}",
                device_number=(route_index << 8) | number,
                start_offset_c=float(rng.uniform(-SENSOR_OFFSET_LIMIT_C, SENSOR_OFFSET_LIMIT_C)),
                target_offset_c=float(rng.uniform(-SENSOR_OFFSET_LIMIT_C, SENSOR_OFFSET_LIMIT_C)),
                battery_v=round(float(rng.uniform(3.1, 3.35)), 3),
            )
        )
    if weather_station:
        devices.append(
            SyntheticDevice(
                device_id=f"wx-{route.route_id}",
                route_id=route.route_id,
                role="weather_station",
                dev_eui=f"A84041000{route_index:04X}0FF",
                device_number=0,
            )
        )
    return tuple(devices)


def _with_probe_faults(series: list[DeviceSeries], rng: np.random.Generator) -> list[DeviceSeries]:
    """One probe reports a power-on 85.0 °C, another a disconnected −127.0 °C twice in a row."""
    probes = [index for index, one in enumerate(series) if RST in one.values]
    if len(probes) < 2:
        return series
    chosen = rng.choice(probes, size=2, replace=False)
    for which, code, count in (
        (int(chosen[0]), POWER_ON_RESET_C, 1),
        (int(chosen[1]), NO_PROBE_C, 2),
    ):
        surface = series[which].values[RST].copy()
        at = int(rng.integers(0, max(surface.size - count, 1)))
        surface[at : at + count] = code
        values = {**series[which].values, RST: surface}
        series[which] = DeviceSeries(series[which].device, series[which].times_ns, values)
    return series


def night(
    kind: NightKind,
    *,
    evening: date = date(2025, 1, 6),
    route: SyntheticRoute | None = None,
    sensors: int = 3,
    interval_min: float = 10.0,
    weather_station: bool = True,
    seed: int = 0,
) -> SyntheticNight:
    """One night of `kind` on one route: per-sensor series every `interval_min` from 16:00 to 10:00.

    >>> one = night(NightKind.FROSTY, seed=1)
    >>> min(o.values["road_surface_temperature"] for o in one.observations()
    ...     if "road_surface_temperature" in o.values) <= 0.0
    True
    """
    rng = np.random.default_rng(seed)
    chosen = (
        route if route is not None else SyntheticRoute("test-route", "Test route", 5.0, 1, "Test")
    )
    window = night_window(0, evening, kind)
    profile = draw_profile(kind, rng)
    devices = route_devices(chosen, 0, sensors, weather_station, rng)
    series = tuple(
        _device_series(device, chosen, [window], [profile], interval_min, rng) for device in devices
    )
    return SyntheticNight(kind=kind, window=window, route=chosen, series=series)


def season_kinds(nights: int, rng: np.random.Generator) -> tuple[NightKind, ...]:
    """`nights` kinds: `SEASON_MIX` repeated as needed, shuffled by `rng`, cut to length."""
    laps = -(-nights // len(SEASON_MIX))
    kinds = SEASON_MIX * laps
    return tuple(kinds[int(i)] for i in rng.permutation(len(kinds)))[:nights]


def season(
    nights: int = 14,
    routes: int = 3,
    *,
    seed: int = 2025,
    start: date = date(2025, 1, 6),
    sensors_per_route: int = 3,
    interval_min: float = 10.0,
    weather_station: bool = True,
    kinds: Sequence[NightKind] | None = None,
    probe_faults: bool = False,
) -> Season:
    """Consecutive nights from the evening of `start` on `routes` routes, every device reporting
    every `interval_min` from 16:00 on the first evening to 10:00 after the last night.

    `kinds` fixes the nights' kinds in order (default: `SEASON_MIX`, shuffled by the
    seed). `probe_faults` adds DS18B20 error codes (85.0 and −127.0 °C) that a
    replay must flag, not believe.
    """
    if nights < 1 or routes < 1 or sensors_per_route < 1:
        raise ValueError("a season needs at least one night, one route and one sensor per route")
    rng = np.random.default_rng(seed)
    chosen_kinds = tuple(kinds) if kinds is not None else season_kinds(nights, rng)
    if len(chosen_kinds) != nights:
        raise ValueError(f"{len(chosen_kinds)} kinds given for {nights} nights")
    windows = tuple(
        night_window(index, start + timedelta(days=index), kind)
        for index, kind in enumerate(chosen_kinds)
    )
    profiles = [draw_profile(kind, rng) for kind in chosen_kinds]
    season_routes_ = season_routes(routes)
    devices: list[SyntheticDevice] = []
    series: list[DeviceSeries] = []
    for route_index, route in enumerate(season_routes_):
        for device in route_devices(route, route_index, sensors_per_route, weather_station, rng):
            devices.append(device)
            series.append(_device_series(device, route, windows, profiles, interval_min, rng))
    if probe_faults:
        series = _with_probe_faults(series, rng)
    return Season(
        seed=seed,
        routes=season_routes_,
        devices=tuple(devices),
        nights=windows,
        series=tuple(series),
    )
