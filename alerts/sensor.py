"""One road sensor's state through the night: its valid readings, its forecast and its hysteresis.

The state follows GRITTING.md's table from the latest valid reading, the dew point,
the surface wetness (when reported) and the forecast. A colder state is taken at
once; a warmer one only after the evidence has held (RST at least `hysteresis_c`
above the state's threshold over `hysteresis_minutes` of readings), so noise around
a threshold cannot make the recommendation flap. Every timer runs on the data's clock.

Unless the policy switches it off (`treat_when_forecast_at_or_below_c = None`), a MARGINAL
sensor also *calls TREAT* (`treat_ahead`) when a trusted forecast reaches frost: the
cooling curve up to `treat_lookahead_minutes` ahead, a straight line only up to
`treat_lookahead_line_minutes`, because a line fitted in the early evening carries
sunset's cooling rate on for hours. A call, like a reading at or below freezing, stands
until the sensor is CLEAR again, and a sensor MARGINAL by a forecast does not leave that
state before the time the forecast was made for (decision 0008).

Readings the sensor cannot have meant never decide: probe error codes and values
outside the physical range arrive already flagged by plausibility, and a single
reading that jumps further from the last valid one than the surface can change
(`max_jump_c_per_minute`) is rejected here. Two consecutive readings that agree with
each other are a real change of level, so a sensor is never locked out by its own
history.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from alerts.clock import NS_PER_MINUTE
from alerts.model import Prediction, SensorState, SensorStatus
from alerts.policy import GrittingPolicy
from alerts.prediction import TrendFit, bound_prediction, fit_trend
from alerts.route import TreatAhead, celsius, local_hhmm

MAX_READINGS = 720  # a trend window's worth even at one reading every 10 s
REFIT_AFTER_NS = 30 * NS_PER_MINUTE
REFIT_COLD_AFTER_NS = 60 * NS_PER_MINUTE
REFIT_RESIDUAL_C = 0.3
BACKOFF_MEMORY_NS = 180 * NS_PER_MINUTE
MAX_BACKOFF = 3  # hold at most 8 × hysteresis_minutes (4 h by default)

_TREND_NAMES = {"newton": "cooling curve", "linear": "trend line", "none": "forecast"}


@dataclass(frozen=True, slots=True)
class InvalidReading:
    """A reading that did not count, and why (kept for the explanation and the engineers)."""

    time_ns: int
    value_c: float | None
    reason: str


class SensorTracker:
    """The state machine of one road sensor on one route (the route's policy applies)."""

    def __init__(
        self, device_id: str, policy: GrittingPolicy, *, created_at_ns: int | None = None
    ) -> None:
        self.device_id = device_id
        self.created_at_ns = created_at_ns
        self._policy = policy
        self._readings: deque[tuple[int, float]] = deque(maxlen=MAX_READINGS)
        self._latest: tuple[int, float] | None = None
        self._pending: tuple[int, float] | None = None
        self._invalid: deque[InvalidReading] = deque(maxlen=8)
        self._own_dew: tuple[int, float] | None = None
        self._wet: tuple[int, bool] | None = None
        self._seq = 0
        self._held: SensorState | None = None
        self._held_reason = ""
        self._freezing_calm_since: int | None = None
        self._marginal_calm_since: int | None = None
        self._forecast_calm_since: int | None = None
        self._left_at: dict[SensorState, int] = {}
        self._backoff: dict[SensorState, int] = {}
        self._fit: TrendFit | None = None
        self._fit_at_ns = 0
        self._prediction: Prediction | None = None
        self._prediction_key: tuple[int, float | None] | None = None
        self._evaluated: tuple[int, float | None, bool | None] | None = None
        self._ahead: TreatAhead | None = None
        self._forecast_stands_until = 0

    # -- what arrives ---------------------------------------------------------------------

    @property
    def policy(self) -> GrittingPolicy:
        return self._policy

    def set_policy(self, policy: GrittingPolicy) -> None:
        """The route's policy changed: keep the readings, re-judge them by the new numbers."""
        if policy != self._policy:
            self._policy = policy
            self._ahead = None
            self._forecast_stands_until = 0
            self._fit = None
            self._prediction_key = None
            self._evaluated = None
            self._trim()

    def add_reading(self, time_ns: int, rst_c: float) -> InvalidReading | None:
        """Take a valid RST reading; None when it counts, else the reason it does not."""
        if not math.isfinite(rst_c):
            return self._reject(time_ns, None, "not a number")
        latest = self._latest
        if latest is not None and time_ns <= latest[0]:
            if time_ns == latest[0] and rst_c == latest[1]:
                return None  # the same uplink again
            return self._reject(time_ns, rst_c, "arrived after a later reading (out of order)")
        if latest is not None and not self._plausible_step(latest, time_ns, rst_c):
            pending = self._pending
            if (
                pending is None
                or time_ns <= pending[0]
                or not self._plausible_step(pending, time_ns, rst_c)
            ):
                self._pending = (time_ns, rst_c)
                minutes = (time_ns - latest[0]) / NS_PER_MINUTE
                return self._reject(
                    time_ns,
                    rst_c,
                    f"jump of {rst_c - latest[1]:+.1f} °C in {minutes:.0f} min "
                    f"from {celsius(latest[1])} "
                    "(a road surface changes at most "
                    f"{self._policy.max_jump_c_per_minute:.1f} °C/min)",
                )
        self._accept(time_ns, rst_c)
        return None

    def add_flagged(self, time_ns: int, reason: str, value_c: float | None = None) -> None:
        """A reading plausibility rejected upstream: the sensor is alive, the value says nothing."""
        self._invalid.append(InvalidReading(time_ns, value_c, reason))

    def set_dew_point(self, time_ns: int, dew_point_c: float) -> None:
        """The dew point measured (or derived) by this same device."""
        if math.isfinite(dew_point_c) and (self._own_dew is None or time_ns >= self._own_dew[0]):
            self._own_dew = (time_ns, dew_point_c)

    def set_surface_wet(self, time_ns: int, wet: bool) -> None:
        if self._wet is None or time_ns >= self._wet[0]:
            self._wet = (time_ns, wet)

    # -- what it says ---------------------------------------------------------------------

    @property
    def latest_valid_at_ns(self) -> int | None:
        return None if self._latest is None else self._latest[0]

    @property
    def treat_ahead(self) -> TreatAhead | None:
        """This sensor's TREAT call while MARGINAL (a trusted frost forecast, or a freeze earlier
        on), as of the last `status`; None: no call. The route counts it when the sensor is
        MARGINAL and working (`alerts.route.judge_route`)."""
        return self._ahead

    @property
    def recent_invalid(self) -> tuple[InvalidReading, ...]:
        return tuple(self._invalid)

    def silent_deadline_ns(self) -> int | None:
        """The data time after which this sensor counts as silent (None: not yet known)."""
        since = self.latest_valid_at_ns if self._latest is not None else self.created_at_ns
        return None if since is None else since + self._policy.silence_ns

    def is_silent(self, now_ns: int) -> bool:
        """No valid reading for longer than the silence window (a sensor never heard
        counts from when the engine started watching it, not from the epoch)."""
        deadline = self.silent_deadline_ns()
        return deadline is not None and now_ns > deadline

    def status(
        self, now_ns: int, *, route_dew_point: tuple[int, float] | None = None
    ) -> SensorStatus:
        """The state at `now_ns`; `route_dew_point` is (time, °C) from another device en route."""
        dew_point = self._fresh_dew_point(now_ns, route_dew_point)
        wet = (
            self._wet[1]
            if self._wet is not None and now_ns - self._wet[0] <= self._policy.silence_ns
            else None
        )
        latest = self._latest
        if latest is None:
            return SensorStatus(
                self.device_id,
                SensorState.UNKNOWN,
                now_ns,
                self._no_reading_reason(),
                dew_point_c=dew_point,
                surface_wet=wet,
            )
        key = (self._seq, dew_point, wet)
        if key != self._evaluated:
            self._evaluate(dew_point, wet)
            self._evaluated = key
        assert self._held is not None
        prediction = self._prediction
        if now_ns - latest[0] > self._policy.silence_ns:
            minutes = (now_ns - latest[0]) / NS_PER_MINUTE
            reason = (
                f"no valid reading for {minutes:.0f} min "
                f"(silence window {self._policy.silence_minutes:.0f} min)"
            )
            if self._invalid and self._invalid[-1].time_ns > latest[0]:
                reason += f"; latest reading invalid: {self._invalid[-1].reason}"
            return SensorStatus(
                self.device_id,
                SensorState.UNKNOWN,
                now_ns,
                reason,
                latest[1],
                latest[0],
                dew_point,
                wet,
                prediction,
            )
        return SensorStatus(
            self.device_id,
            self._held,
            now_ns,
            self._held_reason,
            latest[1],
            latest[0],
            dew_point,
            wet,
            prediction,
        )

    # -- inside ---------------------------------------------------------------------------

    def _plausible_step(self, reference: tuple[int, float], time_ns: int, rst_c: float) -> bool:
        minutes = max((time_ns - reference[0]) / NS_PER_MINUTE, 1.0)
        return abs(rst_c - reference[1]) <= self._policy.max_jump_c_per_minute * minutes

    def _reject(self, time_ns: int, value_c: float | None, reason: str) -> InvalidReading:
        invalid = InvalidReading(time_ns, value_c, reason)
        self._invalid.append(invalid)
        return invalid

    def _accept(self, time_ns: int, rst_c: float) -> None:
        policy = self._policy
        previous = self._latest
        if previous is not None and time_ns - previous[0] > policy.silence_ns:
            # After a silence the evidence restarts: warm readings either side of a gap
            # do not show the surface stayed warm through it.
            self._freezing_calm_since = self._marginal_calm_since = self._forecast_calm_since = None
        self._latest = (time_ns, rst_c)
        self._pending = None
        self._readings.append((time_ns, rst_c))
        self._seq += 1
        self._trim()
        self._freezing_calm_since = _run_start(
            self._freezing_calm_since,
            time_ns,
            rst_c >= policy.freezing_threshold_c + policy.hysteresis_c,
        )
        self._marginal_calm_since = _run_start(
            self._marginal_calm_since,
            time_ns,
            rst_c >= policy.marginal_threshold_c + policy.hysteresis_c,
        )

    def _trim(self) -> None:
        if self._latest is None:
            return
        oldest = self._latest[0] - self._policy.trend_window_ns
        while self._readings and self._readings[0][0] < oldest:
            self._readings.popleft()

    def _fresh_dew_point(
        self, now_ns: int, route_dew_point: tuple[int, float] | None
    ) -> float | None:
        window = self._policy.silence_ns
        if self._own_dew is not None and now_ns - self._own_dew[0] <= window:
            return self._own_dew[1]
        if route_dew_point is not None and now_ns - route_dew_point[0] <= window:
            return route_dew_point[1]
        return None

    def _no_reading_reason(self) -> str:
        if self._invalid:
            return f"no valid reading yet; latest invalid: {self._invalid[-1].reason}"
        return "no reading has arrived yet"

    def _forecast(self, dew_point: float | None) -> Prediction:
        """The forecast from the latest reading, refitting only when the cached fit will not do."""
        assert self._latest is not None
        latest_at, latest_c = self._latest
        policy = self._policy
        fit = self._fit
        if fit is None or self._refit_needed(fit, latest_at, latest_c):
            times = np.fromiter(
                (t for t, _ in self._readings), dtype=np.int64, count=len(self._readings)
            )
            temps = np.fromiter(
                (v for _, v in self._readings), dtype=np.float64, count=len(self._readings)
            )
            fit = fit_trend(times, temps, min_points_line=policy.trend_min_points)
            self._fit = fit
            self._fit_at_ns = latest_at
        key = (latest_at, dew_point)
        if self._prediction is None or key != self._prediction_key:
            self._prediction = bound_prediction(
                fit,
                latest_at,
                policy.horizon_ns,
                floor_c=dew_point,
                start_c=latest_c,
                max_cooling_c_per_hour=policy.max_cooling_c_per_hour,
                dew_point_margin_c=policy.dew_point_margin_c,
            )
            self._prediction_key = key
        return self._prediction

    def _refit_needed(self, fit: TrendFit, latest_at: int, latest_c: float) -> bool:
        """Refit (~0.1 ms) when the new reading strays from the cached fit, or the fit is
        older than 30 min while the forecast can change the call (RST above the freezing
        threshold, or above the marginal one when forecasts never call TREAT), or older
        than an hour otherwise (the explanation still quotes it)."""
        if fit.model == "none":
            return True
        if abs(fit.at(latest_at) - latest_c) > max(REFIT_RESIDUAL_C, 3.0 * fit.rms_c):
            return True
        age = latest_at - self._fit_at_ns
        policy = self._policy
        forecast_decides_above = (
            policy.marginal_threshold_c
            if policy.treat_when_forecast_at_or_below_c is None
            else policy.freezing_threshold_c
        )
        if latest_c <= forecast_decides_above:
            return age >= REFIT_COLD_AFTER_NS
        return age >= REFIT_AFTER_NS

    def _evaluate(self, dew_point: float | None, wet: bool | None) -> None:
        """Re-judge the latest reading: raw state from the table, then hysteresis."""
        assert self._latest is not None
        latest_at, rst = self._latest
        policy = self._policy
        prediction = self._forecast(dew_point)
        raw, raw_reason = self._classify(rst, dew_point, wet, prediction)
        if (
            raw is SensorState.MARGINAL
            and rst > policy.marginal_threshold_c
            and prediction.minimum_at_ns is not None
        ):  # MARGINAL by forecast: it stands until the time it was made for
            self._forecast_stands_until = max(self._forecast_stands_until, prediction.minimum_at_ns)

        forecast_min = prediction.minimum_c
        self._forecast_calm_since = _run_start(
            self._forecast_calm_since,
            latest_at,
            forecast_min is None
            or forecast_min >= policy.marginal_threshold_c + policy.hysteresis_c,
        )

        self._held, self._held_reason = self._hold(raw, raw_reason, latest_at)
        self._judge_ahead(prediction, dew_point)

    def _hold(self, raw: SensorState, raw_reason: str, latest_at: int) -> tuple[SensorState, str]:
        """Hysteresis: a colder state at once, a warmer one only when the evidence has held."""
        held = self._held
        if held is None or raw.coldness >= held.coldness:
            if held is not None and _band(raw) is not _band(held):
                self._entered(_band(raw), latest_at)
            return raw, raw_reason
        state = held
        while state.coldness > raw.coldness:
            waiting = self._still_waiting(state, latest_at)
            if waiting is not None:
                return state, f"{raw_reason}; held at {state} until {waiting}"
            self._left_at[_band(state)] = latest_at
            state = (
                SensorState.CLEAR
                if state is SensorState.MARGINAL
                else max(raw, SensorState.MARGINAL, key=_cold)
            )
        return raw, raw_reason

    def _judge_ahead(self, prediction: Prediction, dew_point: float | None) -> None:
        """Whether a MARGINAL sensor calls TREAT (`TreatAhead`): a trusted forecast at or below
        `treat_when_forecast_at_or_below_c`, or a freeze earlier on. Either call stands until
        the sensor is CLEAR again: salt already down is not called off by a warm spell, and a
        thawing road is not MONITOR between two TREATs."""
        policy = self._policy
        threshold = policy.treat_when_forecast_at_or_below_c
        held = self._held
        assert self._latest is not None
        latest_at, latest_c = self._latest
        if threshold is None or held is SensorState.CLEAR:
            self._ahead = None
            return
        if held is not SensorState.MARGINAL:  # FREEZING or ICE_LIKELY: TREAT by the table
            if latest_c <= policy.freezing_threshold_c or self._ahead is None:
                self._ahead = TreatAhead(latest_at, latest_c)
            return
        trusted = self._trusted(prediction, dew_point)
        if trusted is not None and trusted.minimum_c is not None and trusted.minimum_c <= threshold:
            if trusted.minimum_at_ns is not None:
                self._forecast_stands_until = max(
                    self._forecast_stands_until, trusted.minimum_at_ns
                )
            self._ahead = TreatAhead(latest_at, latest_c, trusted)
        call = self._ahead
        if call is None:
            return
        if call.forecast is None:
            self._held_reason += (
                f"; calls TREAT until clear (read {celsius(call.reading_c)} "
                f"at {local_hhmm(call.made_at_ns)})"
            )
        else:
            within = _duration_words(self._trust_window(call.forecast))
            self._held_reason += (
                f"; calls TREAT ahead of frost (forecast at {local_hhmm(call.made_at_ns)}: "
                f"{celsius(call.coldest_c)} within {within})"
            )

    def _trusted(self, prediction: Prediction, dew_point: float | None) -> Prediction | None:
        """The forecast a TREAT may rest on: the cooling curve's over `treat_lookahead_minutes`,
        a straight line's only over `treat_lookahead_line_minutes` (decision 0008: a line, or
        a curve far ahead, carries the early evening's cooling on too long)."""
        policy = self._policy
        fit = self._fit
        if prediction.model == "none" or fit is None or self._latest is None:
            return None
        window = self._trust_window(prediction)
        if window >= policy.horizon_ns:
            return prediction
        latest_at, latest_c = self._latest
        return bound_prediction(
            fit,
            latest_at,
            window,
            floor_c=dew_point,
            start_c=latest_c,
            max_cooling_c_per_hour=policy.max_cooling_c_per_hour,
            dew_point_margin_c=policy.dew_point_margin_c,
        )

    def _trust_window(self, forecast: Prediction) -> int:
        policy = self._policy
        if forecast.model == "newton":
            return policy.treat_lookahead_ns
        return policy.treat_lookahead_line_ns

    def _entered(self, band: SensorState, time_ns: int) -> None:
        """Back-off: falling back into a band left less than `BACKOFF_MEMORY_NS` ago doubles
        the hold needed to leave it again (up to 8×); a surface hovering at a threshold
        keeps the colder call instead of flapping. A longer stay outside resets it."""
        left_at = self._left_at.get(band)
        if left_at is not None and time_ns - left_at <= BACKOFF_MEMORY_NS:
            self._backoff[band] = min(self._backoff.get(band, 0) + 1, MAX_BACKOFF)
        else:
            self._backoff[band] = 0

    def _hold_ns(self, band: SensorState) -> int:
        return self._policy.hysteresis_ns << self._backoff.get(band, 0)

    def _still_waiting(self, state: SensorState, latest_at: int) -> str | None:
        """What the sensor still needs to show before it may leave `state` (None: nothing)."""
        policy = self._policy
        hold = self._hold_ns(_band(state))
        waits: list[str] = []
        if state is SensorState.MARGINAL:
            if latest_at < self._forecast_stands_until:
                waits.append(
                    f"its forecast for {local_hhmm(self._forecast_stands_until)} has passed"
                )
            level = policy.marginal_threshold_c + policy.hysteresis_c
            since = self._marginal_calm_since
            forecast_since = self._forecast_calm_since
            if since is not None and forecast_since is None:
                waits.append(
                    f"the forecast stays at or above {celsius(level)} "
                    f"for {hold / NS_PER_MINUTE:.0f} min"
                )
                return " and ".join(waits)
            if since is not None and forecast_since is not None:
                since = max(since, forecast_since)
        else:
            level = policy.freezing_threshold_c + policy.hysteresis_c
            since = self._freezing_calm_since
        if since is None or latest_at - since < hold:
            done = 0.0 if since is None else (latest_at - since) / NS_PER_MINUTE
            waits.append(
                f"RST stays at or above {celsius(level)} for {hold / NS_PER_MINUTE:.0f} min "
                f"({done:.0f} min so far)"
            )
        return " and ".join(waits) or None

    def _classify(
        self, rst: float, dew_point: float | None, wet: bool | None, prediction: Prediction
    ) -> tuple[SensorState, str]:
        """GRITTING.md's table for one reading, with the rule in words."""
        policy = self._policy
        reading = f"RST {celsius(rst)}"
        if rst <= policy.freezing_threshold_c:
            below = f"at or below {celsius(policy.freezing_threshold_c)}"
            if wet:
                return SensorState.ICE_LIKELY, f"{reading} {below} on a wet surface: ice likely"
            if dew_point is not None and rst <= dew_point:
                return SensorState.ICE_LIKELY, (
                    f"{reading} {below} and at or below the dew point {celsius(dew_point)}: "
                    "frost likely"
                )
            moisture = (
                "dew point unknown" if dew_point is None else f"dew point {celsius(dew_point)}"
            )
            return SensorState.FREEZING, f"{reading} {below} ({moisture})"
        marginal = f"{celsius(policy.marginal_threshold_c)}"
        if rst <= policy.marginal_threshold_c:
            return SensorState.MARGINAL, f"{reading} at or below {marginal}"
        forecast = prediction.minimum_c
        trend = _TREND_NAMES[prediction.model]
        horizon = _duration_words(policy.horizon_ns)
        if forecast is not None and forecast <= policy.marginal_threshold_c:
            return SensorState.MARGINAL, (
                f"{reading}, {trend} forecasts {celsius(forecast)} within {horizon}: "
                f"at or below {marginal}"
            )
        if forecast is None:
            return (
                SensorState.CLEAR,
                f"{reading}, above {marginal} (too few readings for a forecast)",
            )
        return (
            SensorState.CLEAR,
            f"{reading}, {trend} forecasts no lower than {celsius(forecast)} within {horizon}",
        )


def _duration_words(duration_ns: int) -> str:
    """3 h, 90 min: as the explanations say a horizon or a look-ahead."""
    minutes = duration_ns / NS_PER_MINUTE
    return f"{minutes / 60:.0f} h" if minutes % 60 == 0 else f"{minutes:.0f} min"


def _run_start(since: int | None, time_ns: int, calm: bool) -> int | None:
    """When the current run of calm readings began (None: the latest reading broke it)."""
    if not calm:
        return None
    return time_ns if since is None else since


def _band(state: SensorState) -> SensorState:
    """The threshold a state is left by: FREEZING for ICE_LIKELY too (both at 0 °C)."""
    return SensorState.FREEZING if state is SensorState.ICE_LIKELY else state


def _cold(state: SensorState) -> int:
    return state.coldness
