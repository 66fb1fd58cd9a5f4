"""Water quality for the rivers partner: thresholds and spikes per site and quantity.

A `WaterThreshold` is active once its quantity has stayed outside the limits for
`duration_min`, and clears once it has stayed back inside by `hysteresis` for
`duration_min` too, so one odd reading neither raises nor clears an alert.
A `WaterSpike` is active when a reading rises more than `rise_percent` over the
recent baseline (the mean of the normal readings of the last `baseline_min`); while
it is active the baseline is frozen, so a sustained jump stays an alert until the
river returns to within `rise_percent - hysteresis_percent` of where it was.

Between readings the last value stands (sample and hold): `advance` can complete a
duration when a sensor reports less often than the duration, and a silent sensor
neither raises nor clears what it last said; the silent-device rule reports silence.
Readings are grouped per site (or per device when it has no site): two probes at one
site feed one stream and one alert.

Default rules (`DEFAULT_WATER_RULES`) are starting points for the rivers partner to
tune per site, not regulatory limits:

- dissolved oxygen below 4 mg/L for 30 min (critical): below this most fish,
  salmonids first, are under acute stress (the EU Freshwater Fish Directive
  78/659/EEC asked for ≥ 9 mg/L half of the time in salmonid waters, ≥ 7 in cyprinid);
- pH outside 6–9 for 30 min (warning): the 78/659/EEC range for fish life;
- conductivity 50 % above its 6-hour baseline (warning): the signature of a
  discharge (sewage, slurry, road salt after gritting).

Water level needs a site's own datum, so it has no default; see docs/alerts-rules.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from alerts.clock import iso_utc, minutes_ns
from alerts.model import Condition, Observation, Severity
from alerts.rules.verdicts import VerdictBook
from alerts.rules.windows import RollingWindow
from decoders.quantities import QUANTITIES

RULE = "water"
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


def _known_quantity(quantity: str) -> str:
    if quantity not in QUANTITIES:
        water = ", ".join(name for name, q in QUANTITIES.items() if q.domain == "water")
        raise ValueError(f"unknown quantity {quantity!r}; water quantities: {water}")
    return quantity


class WaterThreshold(BaseModel):
    """Active when `quantity` stays below `below` or above `above` for `duration_min`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["threshold"] = "threshold"
    name: str = Field(pattern=NAME_PATTERN, description="Unique; part of the alert key.")
    quantity: str
    below: float | None = None
    above: float | None = None
    duration_min: float = Field(default=30.0, ge=0)
    hysteresis: float = Field(default=0.0, ge=0, description="In the quantity's unit.")
    severity: Severity = Severity.WARNING
    site: str | None = Field(default=None, description="Only this site; unset: every site.")

    @field_validator("quantity")
    @classmethod
    def _quantity_known(cls, quantity: str) -> str:
        return _known_quantity(quantity)

    @model_validator(mode="after")
    def _limits(self) -> WaterThreshold:
        if self.below is None and self.above is None:
            raise ValueError("needs `below`, `above` or both")
        if (
            self.below is not None
            and self.above is not None
            and self.below + self.hysteresis >= self.above - self.hysteresis
        ):
            raise ValueError(
                f"below ({self.below:g}) + hysteresis ({self.hysteresis:g}) must stay under "
                f"above ({self.above:g}) - hysteresis, or the alert could never clear"
            )
        return self

    def outside(self, value: float) -> bool:
        return (self.below is not None and value < self.below) or (
            self.above is not None and value > self.above
        )

    def back_inside(self, value: float) -> bool:
        return (self.below is None or value >= self.below + self.hysteresis) and (
            self.above is None or value <= self.above - self.hysteresis
        )


class WaterSpike(BaseModel):
    """Active when `quantity` rises more than `rise_percent` over its recent baseline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["spike"] = "spike"
    name: str = Field(pattern=NAME_PATTERN)
    quantity: str
    rise_percent: float = Field(gt=0)
    baseline_min: float = Field(default=360.0, gt=0)
    min_baseline_readings: int = Field(default=3, ge=1)
    hysteresis_percent: float = Field(default=10.0, ge=0)
    duration_min: float = Field(default=0.0, ge=0)
    severity: Severity = Severity.WARNING
    site: str | None = None

    @field_validator("quantity")
    @classmethod
    def _quantity_known(cls, quantity: str) -> str:
        return _known_quantity(quantity)

    @model_validator(mode="after")
    def _clears(self) -> WaterSpike:
        if self.hysteresis_percent >= self.rise_percent:
            raise ValueError(
                f"hysteresis_percent ({self.hysteresis_percent:g}) must be below "
                f"rise_percent ({self.rise_percent:g})"
            )
        return self


def _water_kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "threshold"))
    return str(getattr(value, "kind", "threshold"))


WaterRule = Annotated[
    Annotated[WaterThreshold, Tag("threshold")] | Annotated[WaterSpike, Tag("spike")],
    Discriminator(_water_kind),
]

DEFAULT_WATER_RULES: tuple[WaterThreshold | WaterSpike, ...] = (
    WaterThreshold(
        name="dissolved_oxygen_low",
        quantity="dissolved_oxygen",
        below=4.0,
        duration_min=30,
        hysteresis=0.5,
        severity=Severity.CRITICAL,
    ),
    WaterThreshold(
        name="ph_out_of_range",
        quantity="ph",
        below=6.0,
        above=9.0,
        duration_min=30,
        hysteresis=0.2,
        severity=Severity.WARNING,
    ),
    WaterSpike(
        name="conductivity_spike",
        quantity="conductivity",
        rise_percent=50,
        baseline_min=360,
        hysteresis_percent=10,
        severity=Severity.WARNING,
    ),
)


def duplicate_names(rules: Iterable[WaterThreshold | WaterSpike]) -> list[str]:
    """Names used by more than one rule: they would share alert keys."""
    seen: set[str] = set()
    duplicates: list[str] = []
    for rule in rules:
        if rule.name in seen and rule.name not in duplicates:
            duplicates.append(rule.name)
        seen.add(rule.name)
    return duplicates


@dataclass(slots=True)
class _Stream:
    """One rule's view of one site's (or device's) readings of its quantity."""

    observation: Observation  # the latest, for the labels and value its conditions carry
    value: float
    pending_since_ns: int | None = None  # since when readings point to the other verdict
    baseline: RollingWindow | None = None
    baseline_mean: float | None = None  # as judged on the latest reading (spikes)


class WaterQuality:
    """Rule family `water`: key `water:{site or device}:{quantity}:{rule name}`."""

    def __init__(self, rules: Sequence[WaterThreshold | WaterSpike] = DEFAULT_WATER_RULES) -> None:
        duplicates = duplicate_names(rules)
        if duplicates:
            raise ValueError(f"water rule names must be unique; repeated: {duplicates}")
        self.rules = tuple(rules)
        self._streams: dict[str, tuple[WaterThreshold | WaterSpike, _Stream]] = {}
        self._verdicts = VerdictBook()

    def resume(self, open_conditions: Iterable[tuple[str, Severity, int]]) -> None:
        """Take over this family's alerts still open before a restart (key, severity, since)."""
        self._verdicts.resume(c for c in open_conditions if c[0].startswith(f"{RULE}:"))

    def observe(self, observation: Observation) -> Sequence[Condition]:
        judged: list[Condition | None] = []
        for rule in self.rules:
            value = observation.values.get(rule.quantity)
            if value is None or (rule.site is not None and rule.site != observation.site):
                continue
            judged.append(self._reading(rule, observation, value))
        return self._changes(judged)

    def advance(self, now_ns: int) -> Sequence[Condition]:
        judged = []
        for key, (rule, stream) in self._streams.items():
            if stream.pending_since_ns is not None and stream.observation.time_ns <= now_ns:
                judged.append(self._complete(key, rule, stream, now_ns))
        return self._changes(judged)

    def _reading(
        self, rule: WaterThreshold | WaterSpike, observation: Observation, value: float
    ) -> Condition | None:
        subject = observation.site or observation.device_id
        key = f"{RULE}:{subject}:{rule.quantity}:{rule.name}"
        entry = self._streams.get(key)
        if entry is None:
            stream = _Stream(observation, value)
            if isinstance(rule, WaterSpike):
                stream.baseline = RollingWindow(minutes_ns(rule.baseline_min))
            self._streams[key] = (rule, stream)
        else:
            stream = entry[1]
            if observation.time_ns <= stream.observation.time_ns:
                return None  # redelivered or late: the stream only moves forward
            stream.observation, stream.value = observation, value
        active = self._verdicts.severity(key) is not None
        toward_other_verdict = (
            self._spike_toward_other(rule, stream, active)
            if isinstance(rule, WaterSpike)
            else (rule.back_inside(value) if active else rule.outside(value))
        )
        if not toward_other_verdict:
            stream.pending_since_ns = None
            return None
        if stream.pending_since_ns is None:
            stream.pending_since_ns = observation.time_ns
        return self._complete(key, rule, stream, observation.time_ns)

    def _spike_toward_other(self, rule: WaterSpike, stream: _Stream, active: bool) -> bool:
        baseline = stream.baseline
        assert baseline is not None
        time_ns, value = stream.observation.time_ns, stream.value
        if active:  # the baseline is frozen while the spike lasts
            if stream.baseline_mean is None:
                return True  # resumed after a restart without a baseline: nothing to hold it
            limit = 1 + (rule.rise_percent - rule.hysteresis_percent) / 100
            return value <= stream.baseline_mean * limit
        mean = baseline.mean() if len(baseline) >= rule.min_baseline_readings else None
        stream.baseline_mean = mean
        # A rise in percent means nothing over a baseline at or below zero (a redox or
        # a level below datum): such a stream is never judged a spike.
        rising = mean is not None and mean > 0 and value > mean * (1 + rule.rise_percent / 100)
        if not rising:
            baseline.add(time_ns, value)  # only normal readings make the baseline
        return rising

    def _complete(
        self, key: str, rule: WaterThreshold | WaterSpike, stream: _Stream, now_ns: int
    ) -> Condition | None:
        """Flip the verdict if readings have pointed the other way for `duration_min`."""
        since_ns = stream.pending_since_ns
        assert since_ns is not None
        duration_ns = minutes_ns(rule.duration_min)
        if now_ns - since_ns < duration_ns:
            return None
        stream.pending_since_ns = None
        becomes_active = self._verdicts.severity(key) is None
        return self._condition(key, rule, stream, becomes_active, since_ns, since_ns + duration_ns)

    def _condition(
        self,
        key: str,
        rule: WaterThreshold | WaterSpike,
        stream: _Stream,
        active: bool,
        held_since_ns: int,
        at_ns: int,
    ) -> Condition:
        observation = stream.observation
        unit = QUANTITIES[rule.quantity].unit
        subject = observation.site or observation.device_id
        value = f"{stream.value:g} {unit}"
        explanation: dict[str, object] = {
            "rule_name": rule.name,
            "quantity": rule.quantity,
            "unit": unit,
            "value": stream.value,
            "reading_at": iso_utc(observation.time_ns),
            "held_since": iso_utc(held_since_ns),
            "duration_min": rule.duration_min,
        }
        if isinstance(rule, WaterThreshold):
            explanation |= {"below": rule.below, "above": rule.above, "hysteresis": rule.hysteresis}
            limits = " and ".join(
                text
                for text in (
                    None if rule.below is None else f"below {rule.below:g} {unit}",
                    None if rule.above is None else f"above {rule.above:g} {unit}",
                )
                if text
            )
            what = f"{value}, {limits}" if active else f"back to {value}, inside the limits"
        else:
            mean = stream.baseline_mean
            rise = None if not mean else round((stream.value / mean - 1) * 100, 1)
            explanation |= {
                "baseline_mean": None if mean is None else round(mean, 3),
                "baseline_min": rule.baseline_min,
                "rise_percent": rise,
                "rise_limit_percent": rule.rise_percent,
                "hysteresis_percent": rule.hysteresis_percent,
            }
            shown_mean = "?" if mean is None else f"{mean:.4g} {unit}"
            what = (
                f"{value}, {rise:g} % over its baseline {shown_mean}"
                if active and rise is not None
                else f"back to {value}, near its baseline {shown_mean}"
            )
        held = f" for {rule.duration_min:g} min" if rule.duration_min else ""
        return Condition(
            key=key,
            rule=RULE,
            active=active,
            severity=rule.severity,
            at_ns=at_ns,
            summary=f"{rule.name} at {subject}: {what}{held}",
            explanation=explanation,
            route_id=observation.route_id,
            device_id=observation.device_id,
            domain=observation.domain,
            site=observation.site,
        )

    def _changes(self, judged: Iterable[Condition | None]) -> list[Condition]:
        reported = (self._verdicts.report(c) for c in judged if c is not None)
        return [c for c in reported if c is not None]
