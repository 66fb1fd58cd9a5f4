"""Air quality: the UK Daily Air Quality Index (DAQI) for PM2.5, PM10, NO2 and O3.

Bands and averaging periods come from Defra's table, shipped as `daqi.json` (a copy of
`reference/daqi.json`). An index is only as good as its mean, so each pollutant is
judged on the averaging period the index was defined for: NO2 on the hourly mean,
O3 on the 8-hour running mean, PM10 and PM2.5 on the 24-hour running mean.

What counts as enough data follows air-quality practice (Defra/AQEG, "75 % data
capture"):

- the hour is cut into slots (`slot_min`, default 15 min); an hourly mean is valid
  when at least `coverage_required` (75 %) of its slots hold a reading, and it is the
  mean of the slot means, so a burst of uplinks does not outweigh the rest of the hour;
- a running mean over N hours is valid when at least 75 % of those hours have a valid
  hourly mean (O3: 6 of 8; PM: 18 of 24), and it is the mean of those hourly means.

Means are taken on clock hours (UTC) of the data clock: an hour is judged when a later
reading arrives or `advance` passes its end. A reading older than the open hour (late
or redelivered) is ignored. An invalid mean never changes a verdict, so a sensor that
falls silent neither raises nor clears an air-quality alert: the silent-device rule
reports the silence.

Units: wherry stores NO2 and O3 in ppb; the index is in µg/m³. Conversion uses Defra's
factors at 20 °C and 1013 hPa: NO2 1 ppb = 1.91 µg/m³, O3 1 ppb = 2.00 µg/m³.
Bands: index k (1..9) covers concentrations up to and including the k-th upper bound,
read literally (no rounding: 11.2 µg/m³ of PM2.5 is index 2); above the last, 10.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.clock import NS_PER_HOUR, NS_PER_MINUTE, iso_utc
from alerts.model import Condition, Observation, Severity
from alerts.rules.verdicts import VerdictBook

Pollutant = Literal["pm2_5", "pm10", "no2", "o3"]
POLLUTANTS: tuple[Pollutant, ...] = ("pm2_5", "pm10", "no2", "o3")

NO2_UG_M3_PER_PPB = 1.91
O3_UG_M3_PER_PPB = 2.00
UG_M3_PER_CANONICAL_UNIT: Mapping[str, float] = {
    "pm2_5": 1.0,  # stored in µg/m³ already
    "pm10": 1.0,
    "no2": NO2_UG_M3_PER_PPB,  # stored in ppb
    "o3": O3_UG_M3_PER_PPB,
}
DISPLAY_NAMES: Mapping[str, str] = {"pm2_5": "PM2.5", "pm10": "PM10", "no2": "NO2", "o3": "O3"}
RULE = "daqi"


class DaqiTableError(ValueError):
    """The DAQI reference file is not the table this module understands."""


# -- the reference table ---------------------------------------------------------------


class _PollutantEntry(BaseModel):
    averaging: str
    upper_bounds: list[float] = Field(min_length=9, max_length=9)

    @field_validator("upper_bounds")
    @classmethod
    def _increasing(cls, bounds: list[float]) -> list[float]:
        if any(later <= earlier for earlier, later in itertools.pairwise(bounds)):
            raise ValueError(f"upper bounds must increase, got {bounds}")
        return bounds


class _ReferenceFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    bands: dict[int, str]
    unit: Literal["µg/m³"]
    pollutants: dict[str, _PollutantEntry]

    @model_validator(mode="after")
    def _complete(self) -> _ReferenceFile:
        if sorted(self.bands) != list(range(1, 11)):
            raise ValueError(f"bands must name indices 1..10, got {sorted(self.bands)}")
        missing = set(POLLUTANTS) - set(self.pollutants)
        if missing:
            raise ValueError(f"pollutants missing: {sorted(missing)}")
        return self


@dataclass(frozen=True, slots=True)
class PollutantBands:
    """One pollutant's DAQI row: its averaging period and the nine upper bounds (µg/m³)."""

    averaging: str
    period_hours: int
    upper_bounds: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class DaqiTable:
    bands: Mapping[int, str]
    pollutants: Mapping[str, PollutantBands]


def _period_hours(averaging: str) -> int:
    if averaging == "hourly mean":
        return 1
    match = re.fullmatch(r"(\d+)-hour running mean", averaging)
    if match is None:
        raise DaqiTableError(f"unknown averaging period {averaging!r}")
    return int(match.group(1))


def parse_daqi_table(text: str) -> DaqiTable:
    """The DAQI table from the JSON text of `reference/daqi.json`."""
    try:
        reference = _ReferenceFile.model_validate_json(text)
    except ValidationError as exc:
        raise DaqiTableError(f"DAQI reference file: {exc}") from None
    return DaqiTable(
        bands=dict(reference.bands),
        pollutants={
            name: PollutantBands(
                entry.averaging, _period_hours(entry.averaging), tuple(entry.upper_bounds)
            )
            for name, entry in reference.pollutants.items()
        },
    )


DAQI = parse_daqi_table(
    resources.files("alerts.rules").joinpath("daqi.json").read_text(encoding="utf-8")
)


def daqi_index(pollutant: str, concentration_ug_m3: float) -> int:
    """The DAQI index (1..10) of a mean concentration in µg/m³, averaged as the table says."""
    bands = DAQI.pollutants.get(pollutant)
    if bands is None:
        raise ValueError(f"no DAQI bands for {pollutant!r}; known: {', '.join(DAQI.pollutants)}")
    if not math.isfinite(concentration_ug_m3) or concentration_ug_m3 < 0:
        raise ValueError(f"{pollutant}: concentration must be ≥ 0 µg/m³, got {concentration_ug_m3}")
    for index, upper_bound in enumerate(bands.upper_bounds, start=1):
        if concentration_ug_m3 <= upper_bound:
            return index
    return 10


def daqi_band(index: int) -> str:
    """`Low`, `Moderate`, `High` or `Very High`."""
    return DAQI.bands[index]


def to_ug_m3(pollutant: str, value: float) -> float:
    """A reading in wherry's canonical unit (µg/m³ for PM, ppb for NO2/O3) in µg/m³."""
    return value * UG_M3_PER_CANONICAL_UNIT[pollutant]


# -- settings --------------------------------------------------------------------------


class DaqiSettings(BaseModel):
    """`[daqi]` in the rules file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    pollutants: tuple[Pollutant, ...] = POLLUTANTS
    alert_from_index: int = Field(
        default=4, ge=1, le=10, description="Index from which a condition is active (4: Moderate)."
    )
    critical_from_index: int = Field(
        default=7, ge=1, le=10, description="Index from which it is critical (7: High)."
    )
    slot_min: int = Field(
        default=15, ge=1, le=60, description="Slot length; an hour is covered slot by slot."
    )
    coverage_required: float = Field(
        default=0.75, gt=0, le=1, description="Share of slots (hours) a valid mean needs."
    )

    @field_validator("slot_min")
    @classmethod
    def _divides_hour(cls, slot_min: int) -> int:
        if 60 % slot_min:
            raise ValueError(
                "must divide 60 minutes evenly (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)"
            )
        return slot_min

    @model_validator(mode="after")
    def _ordered(self) -> DaqiSettings:
        if self.critical_from_index < self.alert_from_index:
            raise ValueError(
                f"critical_from_index ({self.critical_from_index}) must not be below "
                f"alert_from_index ({self.alert_from_index})"
            )
        return self


# -- the rule --------------------------------------------------------------------------


@dataclass(slots=True)
class _OpenHour:
    start_ns: int
    slot_sums: list[float]
    slot_counts: list[int]


@dataclass(frozen=True, slots=True)
class _HourlyMean:
    start_ns: int
    mean_ug_m3: float
    coverage: float


@dataclass(slots=True)
class _Series:
    """One device's one pollutant: the open hour and the valid hourly means in the window."""

    pollutant: str
    bands: PollutantBands
    observation: Observation  # the latest, for the labels its conditions carry
    last_reading_ns: int | None = None
    open_hour: _OpenHour | None = None
    next_end_ns: int | None = None
    hourly: deque[_HourlyMean] = field(default_factory=deque)


class AirQualityIndex:
    """Rule family `daqi`: key `daqi:{device_id}:{pollutant}`, active from Moderate (4)."""

    def __init__(self, settings: DaqiSettings | None = None) -> None:
        self.settings = settings or DaqiSettings()
        self._slots = 60 // self.settings.slot_min
        self._series: dict[tuple[str, str], _Series] = {}
        self._verdicts = VerdictBook()

    def resume(self, open_conditions: Iterable[tuple[str, Severity, int]]) -> None:
        """Take over this family's alerts still open before a restart (key, severity, since)."""
        self._verdicts.resume(c for c in open_conditions if c[0].startswith(f"{RULE}:"))

    def observe(self, observation: Observation) -> Sequence[Condition]:
        judged: list[Condition | None] = []
        for pollutant in self.settings.pollutants:
            value = observation.values.get(pollutant)
            if value is None:
                continue
            series = self._series_for(observation, pollutant)
            judged += self._add(series, observation.time_ns, to_ug_m3(pollutant, value))
        return self._changes(judged)

    def advance(self, now_ns: int) -> Sequence[Condition]:
        judged: list[Condition | None] = []
        for series in self._series.values():
            judged += self._roll(series, now_ns)
        return self._changes(judged)

    def _series_for(self, observation: Observation, pollutant: str) -> _Series:
        key = (observation.device_id, pollutant)
        series = self._series.get(key)
        if series is None:
            series = _Series(pollutant, DAQI.pollutants[pollutant], observation)
            series.hourly = deque(maxlen=series.bands.period_hours)
            self._series[key] = series
        series.observation = observation
        return series

    def _add(self, series: _Series, time_ns: int, ug_m3: float) -> list[Condition | None]:
        if series.last_reading_ns is not None and time_ns <= series.last_reading_ns:
            return []  # redelivered or late: never counted twice, never reopens an hour
        series.last_reading_ns = time_ns
        hour_start = time_ns - time_ns % NS_PER_HOUR
        judged = self._roll(series, hour_start)
        if series.open_hour is None:
            series.open_hour = _OpenHour(hour_start, [0.0] * self._slots, [0] * self._slots)
            series.next_end_ns = hour_start + NS_PER_HOUR
        slot = (time_ns - hour_start) // (self.settings.slot_min * NS_PER_MINUTE)
        series.open_hour.slot_sums[slot] += ug_m3
        series.open_hour.slot_counts[slot] += 1
        return judged

    def _roll(self, series: _Series, now_ns: int) -> list[Condition | None]:
        """Judge every hour that ended by `now_ns`, while the window still holds data."""
        judged: list[Condition | None] = []
        period_ns = series.bands.period_hours * NS_PER_HOUR
        while series.next_end_ns is not None and series.next_end_ns <= now_ns:
            end_ns = series.next_end_ns
            hour = series.open_hour
            if hour is not None and hour.start_ns + NS_PER_HOUR == end_ns:
                closed = self._close(hour)
                series.open_hour = None
                if closed.coverage >= self.settings.coverage_required:
                    series.hourly.append(closed)
                latest_coverage = closed.coverage
            else:
                latest_coverage = 0.0
            while series.hourly and series.hourly[0].start_ns < end_ns - period_ns:
                series.hourly.popleft()
            judged.append(self._judge(series, end_ns, latest_coverage))
            series.next_end_ns = end_ns + NS_PER_HOUR if series.hourly else None
        return judged

    def _close(self, hour: _OpenHour) -> _HourlyMean:
        slot_means = [
            total / count
            for total, count in zip(hour.slot_sums, hour.slot_counts, strict=True)
            if count
        ]
        coverage = len(slot_means) / self._slots
        return _HourlyMean(hour.start_ns, math.fsum(slot_means) / len(slot_means), coverage)

    def _judge(self, series: _Series, end_ns: int, latest_coverage: float) -> Condition | None:
        period_hours = series.bands.period_hours
        hours = list(series.hourly)
        coverage = latest_coverage if period_hours == 1 else len(hours) / period_hours
        if not hours or coverage < self.settings.coverage_required:
            return None  # not enough data for a mean: the verdict stands
        mean = math.fsum(hour.mean_ug_m3 for hour in hours) / len(hours)
        index = daqi_index(series.pollutant, mean)
        return self._condition(series, end_ns, index, mean, coverage, len(hours))

    def _condition(
        self,
        series: _Series,
        end_ns: int,
        index: int,
        mean: float,
        coverage: float,
        valid_hours: int,
    ) -> Condition:
        settings = self.settings
        pollutant = series.pollutant
        bands = series.bands
        observation = series.observation
        active = index >= settings.alert_from_index
        severity = Severity.CRITICAL if index >= settings.critical_from_index else Severity.WARNING
        band = daqi_band(index)
        factor = UG_M3_PER_CANONICAL_UNIT[pollutant]
        shown_mean = f"{mean:.1f} µg/m³" + (f" ({mean / factor:.1f} ppb)" if factor != 1 else "")
        where = observation.device_id + (f" ({observation.site})" if observation.site else "")
        verdict = f"DAQI {index} {band}" if active else f"back to DAQI {index} {band}"
        explanation: dict[str, object] = {
            "pollutant": pollutant,
            "index": index,
            "band": band,
            "mean_ug_m3": round(mean, 3),
            "averaging": bands.averaging,
            "period_hours": bands.period_hours,
            "window_start": iso_utc(end_ns - bands.period_hours * NS_PER_HOUR),
            "window_end": iso_utc(end_ns),
            "coverage": round(coverage, 4),
            "coverage_required": settings.coverage_required,
            "valid_hours": valid_hours,
            "band_upper_bound_ug_m3": bands.upper_bounds[index - 1] if index < 10 else None,
            "alert_from_index": settings.alert_from_index,
        }
        if factor != 1:
            explanation |= {"mean_ppb": round(mean / factor, 3), "ug_m3_per_ppb": factor}
        return Condition(
            key=f"{RULE}:{observation.device_id}:{pollutant}",
            rule=RULE,
            active=active,
            severity=severity,
            at_ns=end_ns,
            summary=(
                f"{DISPLAY_NAMES[pollutant]} at {where}: {verdict}, {bands.averaging} {shown_mean}"
            ),
            explanation=explanation,
            route_id=observation.route_id,
            device_id=observation.device_id,
            domain=observation.domain,
            site=observation.site,
        )

    def _changes(self, judged: Iterable[Condition | None]) -> list[Condition]:
        reported = (self._verdicts.report(c) for c in judged if c is not None)
        return [c for c in reported if c is not None]
