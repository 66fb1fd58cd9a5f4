"""Indoor CO2: is a classroom ventilated well enough to learn in?

Levels follow the Department for Education's guidance for schools:

- BB101 (2018), "Guidelines on ventilation, thermal comfort and indoor air quality
  in schools", section 5: with natural ventilation the daily average should stay
  below 1500 ppm and the concentration should not exceed 2000 ppm for more than
  20 consecutive minutes (mechanical ventilation: 1000 ppm and 1500 ppm);
- DfE, "Using CO2 monitors in education settings" (2021): below 800 ppm indicates a
  well-ventilated space; readings consistently above 1500 ppm call for action.

So the defaults are: warning above 1500 ppm, critical above 2000 ppm, judged on a
15-minute rolling mean (a pupil breathing on the sensor is not a ventilation
problem), with 100 ppm hysteresis so a mean hovering at a line does not flap.
The explanation names the band: good (≤ 800), acceptable (≤ 1500 by default),
poor, very poor. A rolling window with no readings never changes the verdict;
the silent-device rule reports the silence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.clock import iso_utc, minutes_ns
from alerts.model import Condition, Observation, Severity
from alerts.rules.verdicts import VerdictBook
from alerts.rules.windows import RollingWindow

RULE = "co2"
QUANTITY = "co2"


class Co2Settings(BaseModel):
    """`[co2]` in the rules file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    window_min: float = Field(default=15.0, gt=0, description="Rolling mean over this span.")
    good_below_ppm: float = Field(default=800.0, gt=0, description="Band label only.")
    warning_above_ppm: float = Field(default=1500.0, gt=0)
    critical_above_ppm: float = Field(default=2000.0, gt=0)
    hysteresis_ppm: float = Field(
        default=100.0, ge=0, description="A level clears only this far below its line."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Co2Settings:
        if not self.good_below_ppm <= self.warning_above_ppm < self.critical_above_ppm:
            raise ValueError(
                "need good_below_ppm ≤ warning_above_ppm < critical_above_ppm, got "
                f"{self.good_below_ppm:g}, {self.warning_above_ppm:g}, "
                f"{self.critical_above_ppm:g}"
            )
        return self


class IndoorCo2:
    """Rule family `co2`: key `co2:{device_id}`, on a rolling mean with hysteresis."""

    def __init__(self, settings: Co2Settings | None = None) -> None:
        self.settings = settings or Co2Settings()
        self._window_ns = minutes_ns(self.settings.window_min)
        self._windows: dict[str, RollingWindow] = {}
        self._verdicts = VerdictBook()

    def resume(self, open_conditions: Iterable[tuple[str, Severity, int]]) -> None:
        """Take over this family's alerts still open before a restart (key, severity, since)."""
        self._verdicts.resume(c for c in open_conditions if c[0].startswith(f"{RULE}:"))

    def observe(self, observation: Observation) -> Sequence[Condition]:
        ppm = observation.values.get(QUANTITY)
        if ppm is None:
            return []
        window = self._windows.get(observation.device_id)
        if window is None:
            window = self._windows[observation.device_id] = RollingWindow(self._window_ns)
        if not window.add(observation.time_ns, ppm):
            return []
        mean = window.mean()
        assert mean is not None
        condition = self._verdicts.report(self._judge(observation, mean, len(window)))
        return [] if condition is None else [condition]

    def advance(self, now_ns: int) -> Sequence[Condition]:
        # The mean moves only with readings; silence is the health rule's to report.
        return []

    def _level(self, key: str, mean_ppm: float) -> Severity | None:
        """The severity a mean earns given the key's current verdict (hysteresis)."""
        settings = self.settings
        current = self._verdicts.severity(key)
        critical_holds = settings.critical_above_ppm - settings.hysteresis_ppm
        warning_holds = settings.warning_above_ppm - settings.hysteresis_ppm
        if mean_ppm > settings.critical_above_ppm or (
            current is Severity.CRITICAL and mean_ppm > critical_holds
        ):
            return Severity.CRITICAL
        if mean_ppm > settings.warning_above_ppm or (
            current is not None and mean_ppm > warning_holds
        ):
            return Severity.WARNING
        return None

    def _band(self, mean_ppm: float) -> str:
        settings = self.settings
        if mean_ppm <= settings.good_below_ppm:
            return "good"
        if mean_ppm <= settings.warning_above_ppm:
            return "acceptable"
        if mean_ppm <= settings.critical_above_ppm:
            return "poor"
        return "very poor"

    def _judge(self, observation: Observation, mean_ppm: float, readings: int) -> Condition:
        settings = self.settings
        key = f"{RULE}:{observation.device_id}"
        severity = self._level(key, mean_ppm)
        where = observation.device_id + (f" ({observation.site})" if observation.site else "")
        band = self._band(mean_ppm)
        if severity is None:
            summary = f"CO2 at {where} back to {mean_ppm:.0f} ppm ({band})"
        else:
            line = (
                settings.critical_above_ppm
                if severity is Severity.CRITICAL
                else settings.warning_above_ppm
            )
            summary = (
                f"CO2 at {where}: {settings.window_min:g}-minute mean {mean_ppm:.0f} ppm "
                f"({band} ventilation; limit {line:g} ppm)"
            )
        return Condition(
            key=key,
            rule=RULE,
            active=severity is not None,
            severity=severity or Severity.WARNING,
            at_ns=observation.time_ns,
            summary=summary,
            explanation={
                "mean_ppm": round(mean_ppm, 1),
                "latest_ppm": observation.values[QUANTITY],
                "readings": readings,
                "window_min": settings.window_min,
                "window_end": iso_utc(observation.time_ns),
                "band": band,
                "warning_above_ppm": settings.warning_above_ppm,
                "critical_above_ppm": settings.critical_above_ppm,
                "hysteresis_ppm": settings.hysteresis_ppm,
            },
            route_id=observation.route_id,
            device_id=observation.device_id,
            domain=observation.domain,
            site=observation.site,
        )
