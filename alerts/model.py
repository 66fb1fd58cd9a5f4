"""The values the alert engine passes around: observations in; states, decisions and conditions out.

Every module of `alerts/` speaks these types, so a rule, the gritting engine, the
replay and the notifiers can be read (and tested) without each other. They are
plain frozen values with no behaviour beyond ordering and JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from storage.registry.records import AlertRecord


class SensorState(StrEnum):
    """A road sensor's (or a route's) state, from GRITTING.md."""

    CLEAR = "CLEAR"
    MARGINAL = "MARGINAL"
    FREEZING = "FREEZING"
    ICE_LIKELY = "ICE_LIKELY"
    UNKNOWN = "UNKNOWN"

    @property
    def coldness(self) -> int:
        """Order of the known states, warmest first; UNKNOWN is not on this scale (-1)."""
        return _COLDNESS[self]


_COLDNESS = {
    SensorState.UNKNOWN: -1,
    SensorState.CLEAR: 0,
    SensorState.MARGINAL: 1,
    SensorState.FREEZING: 2,
    SensorState.ICE_LIKELY: 3,
}


class Recommendation(StrEnum):
    NO_ACTION = "NO_ACTION"
    MONITOR = "MONITOR"
    TREAT = "TREAT"


class Severity(StrEnum):
    """How loudly an alert calls: `critical` wakes someone, `warning` waits for the morning."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class Observation:
    """What the engine learns from one uplink of a registered device.

    `values` holds the valid readings (canonical quantity → value in its canonical
    unit); `flagged` the quantities plausibility rejected, with the reason. Flagged
    readings never decide a state, but they do show a sensor is alive.
    `time_ns` is the network server's receive time: the engine runs on the data's clock.
    """

    device_id: str
    time_ns: int
    domain: str
    route_id: str | None = None
    site: str | None = None
    values: Mapping[str, float] = field(default_factory=dict)
    flagged: Mapping[str, str] = field(default_factory=dict)
    rssi: float | None = None
    snr: float | None = None


@dataclass(frozen=True, slots=True)
class Prediction:
    """A sensor's road-surface temperature forecast over the policy's horizon, and how it was made.

    `model` is `newton` (cooling curve), `linear` (least-squares line, the fallback)
    or `none` (too few points: no forecast). `minimum_c` is the lowest predicted RST
    within the horizon and `minimum_at_ns` when it is reached.
    """

    model: Literal["newton", "linear", "none"]
    minimum_c: float | None
    minimum_at_ns: int | None
    points_used: int
    parameters: Mapping[str, float] = field(default_factory=dict)
    note: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "minimum_c": self.minimum_c,
            "minimum_at_ns": self.minimum_at_ns,
            "points_used": self.points_used,
            "parameters": dict(self.parameters),
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class SensorStatus:
    """One road sensor's state at `at_ns`, with the reading and the rule that set it."""

    device_id: str
    state: SensorState
    at_ns: int
    reason: str
    latest_c: float | None = None
    latest_at_ns: int | None = None
    dew_point_c: float | None = None
    surface_wet: bool | None = None
    prediction: Prediction | None = None


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """A route's state and recommendation, with the words a duty officer reads at 3 a.m.

    `deciding_sensor` is the sensor whose state the route took (None when every
    sensor is silent); `silent` lists sensors with no valid reading inside the
    silence window.
    """

    route_id: str
    state: SensorState
    recommendation: Recommendation
    at_ns: int
    explanation: str
    sensors: tuple[SensorStatus, ...] = ()
    silent: tuple[str, ...] = ()
    deciding_sensor: str | None = None
    predicted_minimum_c: float | None = None
    predicted_minimum_at_ns: int | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule's current verdict on one subject: is something wrong, how badly, and why.

    `key` names the subject stably across restarts (for example
    `gritting:R12`, `silent:dev-7`, `daqi:school-3:pm2_5`): the alert book opens
    at most one alert per key, so a condition reported again is not a new alert.
    `active` False means the subject is fine again, which clears its alert.
    """

    key: str
    rule: str
    active: bool
    severity: Severity
    at_ns: int
    summary: str
    explanation: Mapping[str, object] = field(default_factory=dict)
    route_id: str | None = None
    device_id: str | None = None
    domain: str | None = None
    site: str | None = None


class Rule(Protocol):
    """A family of alert rules (device health, air quality, water quality…) on the data's clock.

    Both methods return only the conditions whose verdict changed: newly active,
    no longer active, or active at another severity. `advance` lets time-based
    rules (silence, durations) act when no uplink arrives.
    """

    def observe(self, observation: Observation) -> Sequence[Condition]: ...

    def advance(self, now_ns: int) -> Sequence[Condition]: ...

    def resume(self, open_conditions: Iterable[tuple[str, Severity, int]]) -> None:
        """Take up alerts left open by an earlier run: (key, severity, since ns) each, so a
        condition that has ended meanwhile can be cleared."""


AlertEventKind = Literal["raised", "escalated", "acknowledged", "cleared"]


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """A step in an alert's lifecycle: what notifiers send and the live stream shows."""

    kind: AlertEventKind
    alert: AlertRecord
    at: datetime
