"""Generated winter nights for the gritting tests: a road surface relaxing to a moving equilibrium.

The surface temperature follows dT/dt = −k(t)·(T − E(t)), integrated minute by minute:
in the afternoon a slow relaxation (small k) towards a mild equilibrium; after sunset
fast radiative cooling towards the night equilibrium `night_c` (the Newton curve the
engine fits); a cloud spell raises the equilibrium for a while; after sunrise the
surface warms again. Readings are sampled every `every_min` with Gaussian noise.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise

import numpy as np

from alerts.gritting import GrittingEngine
from alerts.model import Observation, RouteDecision

NS_PER_MINUTE = 60_000_000_000
# A January evening in England; 14:00 UTC is 14:00 local time in winter.
START = datetime(2026, 1, 14, 14, 0, tzinfo=UTC)
START_NS = int(START.timestamp()) * 1_000_000_000


@dataclass(frozen=True)
class Night:
    """One night from 14:00 to 10:00 the next day (1,200 minutes), in local winter time."""

    start_c: float = 7.0  # RST at 14:00
    afternoon_c: float = 4.0  # equilibrium the afternoon drifts towards
    afternoon_k: float = 0.15  # per hour
    sunset_min: int = 150  # 16:30
    night_c: float = -4.0  # equilibrium of the clear night
    night_k: float = 0.35  # per hour
    cloud: tuple[int, int, float] | None = None  # (from min, to min, equilibrium °C)
    sunrise_min: int = 1050  # 07:30
    morning_c: float = 6.0
    morning_k: float = 0.5
    every_min: int = 10
    noise_c: float = 0.05
    seed: int = 1
    minutes: int = 1200

    def truth(self) -> np.ndarray:
        """The noiseless RST at every minute from 14:00."""
        temps = np.empty(self.minutes + 1)
        temps[0] = self.start_c
        for minute in range(self.minutes):
            target, k = self._forcing(minute)
            temps[minute + 1] = temps[minute] - k / 60.0 * (temps[minute] - target)
        return temps

    def readings(self) -> list[tuple[int, float]]:
        """(time_ns, RST °C) every `every_min` minutes, with noise."""
        truth = self.truth()
        rng = np.random.default_rng(self.seed)
        minutes = np.arange(0, self.minutes + 1, self.every_min)
        noisy = truth[minutes] + rng.normal(0.0, self.noise_c, minutes.size)
        return [
            (at_minute(int(m)), round(float(v), 2)) for m, v in zip(minutes, noisy, strict=True)
        ]

    def first_at_or_below(self, level_c: float) -> int | None:
        """time_ns of the first *reading* at or below `level_c`, if any."""
        return next((t for t, v in self.readings() if v <= level_c), None)

    def _forcing(self, minute: int) -> tuple[float, float]:
        if minute >= self.sunrise_min:
            return self.morning_c, self.morning_k
        if minute < self.sunset_min:
            return self.afternoon_c, self.afternoon_k
        if self.cloud is not None and self.cloud[0] <= minute < self.cloud[1]:
            return self.cloud[2], self.night_k
        return self.night_c, self.night_k


@dataclass(frozen=True)
class Site:
    """A route's sensors for a generated night: road sensors, and optionally a weather device."""

    route_id: str = "R1"
    road_sensors: tuple[str, ...] = ("rst-1",)
    weather_device: str | None = None
    dew_point_c: float | None = None
    silent_from_min: dict[str, int] = field(default_factory=dict)


def at_minute(minute: float) -> int:
    return START_NS + round(minute * NS_PER_MINUTE)


def observations(
    nights: dict[str, Night], site: Site, *, spikes: dict[str, dict[int, float]] | None = None
) -> Iterator[Observation]:
    """The night's uplinks in time order: each road sensor's readings, and the weather device.

    `nights` gives each road sensor its own night; `spikes` replaces a sensor's reading at a
    minute with a value that plausibility would pass (probe codes go in `flagged`).
    """
    events: list[tuple[int, int, Observation]] = []
    for order, device in enumerate(site.road_sensors):
        silent_from = site.silent_from_min.get(device)
        for time_ns, value in nights[device].readings():
            minute = (time_ns - START_NS) // NS_PER_MINUTE
            if silent_from is not None and minute >= silent_from:
                break
            spike = (spikes or {}).get(device, {}).get(minute)
            if spike is not None and spike in (85.0, -127.0):
                observation = Observation(
                    device,
                    time_ns,
                    "road",
                    route_id=site.route_id,
                    flagged={"road_surface_temperature": f"probe error code {spike}"},
                )
            else:
                reading = value if spike is None else spike
                observation = Observation(
                    device,
                    time_ns,
                    "road",
                    route_id=site.route_id,
                    values={"road_surface_temperature": reading},
                )
            events.append((time_ns, order, observation))
    if site.weather_device is not None and site.dew_point_c is not None:
        for minute in range(0, 1201, 10):
            observation = Observation(
                site.weather_device,
                at_minute(minute + 3),
                "air",
                route_id=site.route_id,
                values={"dew_point": site.dew_point_c},
            )
            events.append((observation.time_ns, 99, observation))
    events.sort(key=lambda event: (event[0], event[1]))
    return (observation for _, _, observation in events)


def replay(engine: GrittingEngine, uplinks: Iterable[Observation]) -> list[RouteDecision]:
    """Feed uplinks in order, advancing the clock every minute between them like a replay."""
    changes: list[RouteDecision] = []
    clock: int | None = None
    for observation in uplinks:
        if clock is not None:
            while clock + NS_PER_MINUTE < observation.time_ns:
                clock += NS_PER_MINUTE
                changes.extend(engine.advance(clock))
        clock = observation.time_ns if clock is None else max(clock, observation.time_ns)
        changes.extend(engine.observe(observation))
    return changes


def finish(engine: GrittingEngine, changes: list[RouteDecision], until_minute: int) -> None:
    """Keep the clock moving after the last uplink (silence is noticed on the data's clock)."""
    clock = engine.now_ns or START_NS
    while clock < at_minute(until_minute):
        clock += NS_PER_MINUTE
        changes.extend(engine.advance(clock))


def recommendation_changes(changes: list[RouteDecision], route_id: str = "R1") -> int:
    """How often the route's recommendation changed during the night proper (18:00 to 10:00)."""
    night = [
        d.recommendation
        for d in changes
        if d.route_id == route_id and at_minute(240) <= d.at_ns <= at_minute(1200)
    ]
    before = [
        d.recommendation for d in changes if d.route_id == route_id and d.at_ns < at_minute(240)
    ]
    sequence = before[-1:] + night
    return sum(1 for a, b in pairwise(sequence) if a != b)


def first(changes: list[RouteDecision], **wanted: object) -> RouteDecision | None:
    """The first decision whose fields equal `wanted` (e.g. recommendation=Recommendation.TREAT)."""
    return next(
        (d for d in changes if all(getattr(d, name) == value for name, value in wanted.items())),
        None,
    )
