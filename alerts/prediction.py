"""Where a road surface's temperature is heading tonight: a Newton cooling curve within physics.

After sunset a road surface loses heat by radiation and its temperature decays towards
an equilibrium set by the sky, the air and the ground beneath: T(t) = Ta + (T0 − Ta)·e^(−k·t).
The cooling is fastest in the early evening and slows through the night, so a straight
line fitted to the early evening carries that fast rate on for hours and predicts several
degrees too much cooling (a mild night would be called marginal). The curve is fitted here
with NumPy alone: a 1-D search over k (two geometric grids) with linear least squares for
Ta and T0 − Ta at each k.

Noise can fake a bend, and a fake bend forecasts too little cooling, the dangerous way.
So the curve is only believed when its bend is real (it beats the straight line by an
F-test at 95 %, one extra parameter), and of all the curves the readings allow (k inside
its one-sided 90 % profile interval) the one that levels off slowest, i.e. forecasts the
most cooling, is used. Noise thus widens the interval and makes the forecast more
cautious, down to the straight line itself. With too few points for the
curve the line is the fallback; with too few for the line there is no forecast.

Two physical bounds then apply to whichever model was fitted:

- **Cooling rate**: a road surface does not cool faster than `max_cooling_c_per_hour`
  (default 2 °C/h, the top of clear-night cooling rates) sustained over hours, so the
  forecast never falls below `level − rate × time`.
- **Dew point**: once the surface reaches the dew point, water condenses (or frost
  deposits) on it and releases latent heat (≈ 2.5 MJ/kg) that offsets the radiative loss,
  so a dry surface above the dew point is forecast to fall no lower than
  `dew point − dew_point_margin_c` (default 1 °C below, the depression a surface
  typically reaches under deposition). A surface already at or below the dew point is
  wet and condensing: the latent heat has not held it, and the dew point itself falls
  with the air through the night, so there the fit alone (rate-capped) forecasts. Holding
  a wet surface at its present level would hide exactly the frost that matters most,
  a wet road freezing.

Warming or flat data never forecast a fall: the minimum is then the present level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from alerts.model import Prediction

NS_PER_HOUR = 3_600_000_000_000

DEFAULT_MAX_COOLING_C_PER_HOUR = 2.0
DEFAULT_DEW_POINT_MARGIN_C = 1.0
DEFAULT_MIN_POINTS_LINE = 4
DEFAULT_MIN_POINTS_CURVE = 6
DEFAULT_MIN_SPAN_CURVE_NS = NS_PER_HOUR  # 60 min

# k (per hour) between a 12-minute and a 100-hour time constant: slower than that is a line.
_K_COARSE = np.geomspace(0.01, 5.0, 28)
_K_STEP = float(_K_COARSE[1] / _K_COARSE[0])
_K_FINE_FACTORS = np.geomspace(1.0 / _K_STEP, _K_STEP, 11)
# Resolution of the sensors' readings (°C²): keeps the F-test finite on noiseless data.
_NOISE_FLOOR_C2 = 1e-4

# 95 % critical values of F(1, ν): the curve must beat the line by this much (ν = n − 3).
_F_CRITICAL_95 = (
    (1, 161.4),
    (2, 18.5),
    (3, 10.1),
    (4, 7.71),
    (5, 6.61),
    (6, 5.99),
    (7, 5.59),
    (8, 5.32),
    (9, 5.12),
    (10, 4.96),
    (12, 4.75),
    (15, 4.54),
    (20, 4.35),
    (30, 4.17),
    (60, 4.00),
)

# 99.9 % critical values of F(3, ν): a later start for the curve must beat the whole window.
_F3_CRITICAL_999 = ((1, 5404.0), (2, 999.2), (3, 141.1), (4, 56.18), (5, 33.20), (6, 23.70),
                    (7, 18.77), (8, 15.83), (9, 13.90), (10, 12.55), (12, 10.80), (15, 9.34),
                    (20, 8.10), (30, 7.05), (60, 6.17))  # fmt: skip

# k's interval for the cautious curve: one-sided 90 % (t² of the 90th percentile, ν = n − 3).
_F_INTERVAL = (
    (1, 9.47),
    (2, 3.56),
    (3, 2.68),
    (4, 2.35),
    (5, 2.18),
    (6, 2.07),
    (7, 2.00),
    (8, 1.95),
    (9, 1.91),
    (10, 1.88),
    (12, 1.84),
    (15, 1.80),
    (20, 1.76),
    (30, 1.72),
    (60, 1.68),
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TrendFit:
    """A fitted trend, before the physical bounds: the part worth caching between readings.

    Times are hours relative to `origin_ns`. For `newton`, T(t) = ambient + amplitude·e^(−k·t)
    through the last `points` readings (`skipped` earlier ones followed another trend);
    for `linear`, T(t) = intercept + slope·t through all of them.
    """

    model: Literal["newton", "linear", "none"]
    origin_ns: int
    points: int
    span_ns: int
    ambient_c: float = 0.0
    amplitude_c: float = 0.0
    k_per_hour: float = 0.0
    intercept_c: float = 0.0
    slope_c_per_hour: float = 0.0
    skipped: int = 0
    rms_c: float = 0.0
    reason: str = ""

    def at(self, time_ns: int) -> float:
        """The fitted (unbounded) temperature at `time_ns`."""
        hours = (time_ns - self.origin_ns) / NS_PER_HOUR
        if self.model == "newton":
            return self.ambient_c + self.amplitude_c * math.exp(-self.k_per_hour * hours)
        return self.intercept_c + self.slope_c_per_hour * hours


def fit_trend(
    times_ns: npt.NDArray[np.int64] | npt.ArrayLike,
    temps_c: npt.ArrayLike,
    *,
    min_points_line: int = DEFAULT_MIN_POINTS_LINE,
    min_points_curve: int = DEFAULT_MIN_POINTS_CURVE,
    min_span_curve_ns: int = DEFAULT_MIN_SPAN_CURVE_NS,
) -> TrendFit:
    """Fit the cooling curve where the data support it, else the line, else nothing.

    The curve may start after the first reading: the window often still holds the
    afternoon's slow drift before sunset, which no single Newton curve follows. Every
    start leaving at least `min_points_curve` readings over `min_span_curve_ns` is tried
    at once (segmented least squares: a line before the start, the curve after it) and
    a later start is taken only when it explains the data far better (an F-test at
    99.9 % for its three more parameters).
    """
    times = np.asarray(times_ns, dtype=np.int64)
    temps = np.asarray(temps_c, dtype=np.float64)
    if times.shape != temps.shape or times.ndim != 1:
        raise ValueError(
            f"times and temperatures must be 1-D of one length, got {times.shape} and {temps.shape}"
        )
    keep = np.isfinite(temps)
    if not keep.all():
        times, temps = times[keep], temps[keep]
    n = int(times.size)
    if n == 0:
        return TrendFit("none", 0, 0, 0, reason="no readings")
    if n > 1 and bool((times[1:] < times[:-1]).any()):
        order = np.argsort(times, kind="stable")
        times, temps = times[order], temps[order]
    origin = int(times[0])
    span = int(times[-1]) - origin
    if n < min_points_line:
        return TrendFit(
            "none", origin, n, span, reason=f"{n} readings, a trend needs {min_points_line}"
        )
    hours = (times - origin).astype(np.float64) / NS_PER_HOUR
    slope, intercept, sse_line = _line(hours, temps)
    if slope is None:
        return TrendFit("none", origin, n, span, reason=f"all {n} readings at one time")
    line = TrendFit(
        "linear",
        origin,
        n,
        span,
        intercept_c=intercept,
        slope_c_per_hour=slope,
        rms_c=math.sqrt(sse_line / (n - 2)) if n > 2 else 0.0,
    )
    if n < min_points_curve or span < min_span_curve_ns:
        return _with_reason(line, f"too few readings for a curve ({n} over {_duration(span)})")
    found = _curve_start(hours, temps, min_points_curve, min_span_curve_ns / NS_PER_HOUR)
    if found is None:
        return _with_reason(line, "no cooling curve fits")
    start, coarse_sse = found
    part_hours = hours[start:] - hours[start]
    part_temps = temps[start:]
    sse_part_line = sse_line if start == 0 else _line(part_hours, part_temps)[2]
    curve = _cautious_curve(part_hours, part_temps, coarse_sse, sse_part_line)
    if curve is None:
        return _with_reason(line, "the bend is within the noise")
    ambient, amplitude, k, rms = curve
    start_ns = int(times[start])
    return TrendFit(
        "newton",
        start_ns,
        int(part_temps.size),
        int(times[-1]) - start_ns,
        ambient_c=ambient,
        amplitude_c=amplitude,
        k_per_hour=k,
        skipped=start,
        rms_c=rms,
    )


def predict(
    times_ns: npt.NDArray[np.int64] | npt.ArrayLike,
    temps_c: npt.ArrayLike,
    now_ns: int,
    horizon_ns: int,
    *,
    floor_c: float | None = None,
    max_cooling_c_per_hour: float = DEFAULT_MAX_COOLING_C_PER_HOUR,
    dew_point_margin_c: float = DEFAULT_DEW_POINT_MARGIN_C,
    min_points_line: int = DEFAULT_MIN_POINTS_LINE,
    min_points_curve: int = DEFAULT_MIN_POINTS_CURVE,
    min_span_curve_ns: int = DEFAULT_MIN_SPAN_CURVE_NS,
) -> Prediction:
    """The lowest RST forecast in [now, now + horizon] and when, from readings up to now.

    `floor_c` is the dew point when one is known (see the module docstring for the bound).
    """
    fit = fit_trend(
        times_ns,
        temps_c,
        min_points_line=min_points_line,
        min_points_curve=min_points_curve,
        min_span_curve_ns=min_span_curve_ns,
    )
    return bound_prediction(
        fit,
        now_ns,
        horizon_ns,
        floor_c=floor_c,
        max_cooling_c_per_hour=max_cooling_c_per_hour,
        dew_point_margin_c=dew_point_margin_c,
    )


def bound_prediction(
    fit: TrendFit,
    now_ns: int,
    horizon_ns: int,
    *,
    floor_c: float | None = None,
    start_c: float | None = None,
    max_cooling_c_per_hour: float = DEFAULT_MAX_COOLING_C_PER_HOUR,
    dew_point_margin_c: float = DEFAULT_DEW_POINT_MARGIN_C,
) -> Prediction:
    """Turn a fit into a forecast over the horizon with the cooling-rate and dew-point bounds.

    `start_c` (the latest reading) anchors the forecast: it starts there and follows the
    fitted change, so a forecast is never warmer than what the sensor reads now. Without
    it the forecast starts from the fitted level. Cheap (no arrays), so a new reading or
    dew point re-bounds a cached fit without refitting.
    """
    if fit.model == "none":
        return Prediction("none", None, None, fit.points, note=f"No forecast: {fit.reason}.")
    horizon_h = max(horizon_ns, 0) / NS_PER_HOUR
    fitted_now = fit.at(now_ns)
    level = fitted_now if start_c is None or not math.isfinite(start_c) else start_c
    shift = level - fitted_now
    raw_end = fit.at(now_ns + max(horizon_ns, 0)) + shift
    parameters: dict[str, float] = {"level_c": _r(level)}
    if fit.model == "newton":
        ambient = fit.ambient_c + shift
        amplitude_now = level - ambient
        parameters |= {
            "ambient_c": _r(ambient),
            "time_constant_h": _r(1.0 / fit.k_per_hour),
            "rate_now_c_per_hour": _r(-fit.k_per_hour * amplitude_now),
        }
        through = f"the last {fit.points} readings" if fit.skipped else f"{fit.points} readings"
        described = (
            f"Newton cooling curve through {through} over {_duration(fit.span_ns)}, "
            f"levelling off towards {ambient:+.1f} °C "
            f"(time constant {1.0 / fit.k_per_hour:.1f} h)"
        )
        cooling = amplitude_now > 0.0
    else:
        parameters["slope_c_per_hour"] = _r(fit.slope_c_per_hour)
        described = (
            f"least-squares line through {fit.points} readings over {_duration(fit.span_ns)}, "
            f"{fit.slope_c_per_hour:+.2f} °C/h ({fit.reason})"
        )
        cooling = fit.slope_c_per_hour < 0.0

    if not cooling or horizon_h == 0.0:
        note = f"{described}: no fall forecast; lowest is the present {level:+.1f} °C."
        return Prediction(fit.model, _r(level), now_ns, fit.points, parameters, note)

    bounds: list[str] = []
    minimum = raw_end
    rate_limited = level - max_cooling_c_per_hour * horizon_h
    if minimum < rate_limited:
        minimum = rate_limited
        bounds.append(f"cooling capped at {max_cooling_c_per_hour:.1f} °C/h")
    minimum_at = now_ns + horizon_ns
    if floor_c is not None and math.isfinite(floor_c):
        parameters["dew_point_c"] = _r(floor_c)
        held = floor_c - dew_point_margin_c
        if level > floor_c and minimum < held:  # a dry surface: see the module docstring
            minimum = held
            minimum_at = now_ns + _reach_ns(
                fit, level - fitted_now, level, held, max_cooling_c_per_hour, horizon_ns
            )
            bounds.append(
                f"held at {held:+.1f} °C, {dew_point_margin_c:.1f} °C below the dew point "
                f"{floor_c:+.1f} °C (condensation releases heat)"
            )
    note = f"{described}: lowest {minimum:+.1f} °C within {_duration(horizon_ns)}"
    if bounds:
        note += "; " + "; ".join(bounds)
    return Prediction(fit.model, _r(minimum), minimum_at, fit.points, parameters, note + ".")


def _line(hours: FloatArray, temps: FloatArray) -> tuple[float | None, float, float]:
    """Least-squares slope (°C/h), intercept at hour 0 and residual sum of squares."""
    mean_t = float(hours.sum()) / hours.size
    mean_y = float(temps.sum()) / temps.size
    t_centred = hours - mean_t
    y_centred = temps - mean_y
    s_tt = float(t_centred @ t_centred)
    if s_tt <= 0.0:
        return None, mean_y, 0.0
    s_ty = float(t_centred @ y_centred)
    slope = s_ty / s_tt
    sse = max(float(y_centred @ y_centred) - slope * s_ty, 0.0)
    return slope, mean_y - slope * mean_t, sse


def _curve_start(
    hours: FloatArray, temps: FloatArray, min_points: int, min_span_h: float
) -> tuple[int, FloatArray] | None:
    """Where the cooling curve starts (None: nowhere), with its residual for each coarse k.

    Segmented least squares for every start s and every k of the coarse grid at once
    (cumulative sums): the residual of a line through readings [0, s) plus that of the
    curve through [s, n). The best later start (line, breakpoint and curve: 6
    parameters) is taken only when it beats the curve through all readings (3
    parameters) by an F-test at 99.9 %: the start is itself searched for, so noise
    finds an apparent one easily (with 13 readings, F reached 11 in 200 noisy nights
    without any break; a real sunset in the window gives 15 to 1,400). A start that
    fails the test is not tried at all: its curve would be fitted to noise.
    """
    n = hours.size
    y = temps - temps.sum() / n
    starts = np.arange(n)
    count = (n - starts).astype(np.float64)
    allowed = (count >= min_points) & (hours[-1] - hours >= min_span_h)
    allowed[1] = False  # a one-reading prefix is not a trend
    if not allowed[0]:
        return None
    e = np.exp(np.multiply.outer(-_K_COARSE, hours))
    s_e, s_ee, s_ey = _suffix_sums(np.stack((e, e * e, e * y)))
    s_y, s_yy = _suffix_sums(np.stack((y, y * y)))
    see = s_ee - s_e * s_e / count
    sey = s_ey - s_e * s_y / count
    syy = s_yy - s_y * s_y / count
    usable = (see > 1e-12) & allowed
    sse_curve = np.where(usable, syy - sey * sey / np.where(usable, see, 1.0), np.inf)
    total = sse_curve + _prefix_line_sse(hours, y)
    best_k = total.argmin(axis=0)
    best = total[best_k, starts]
    whole = float(best[0])
    if n > 6 and np.isfinite(best[2:]).any():
        start = 2 + int(np.argmin(best[2:]))
        split = max(float(best[start]), n * _NOISE_FLOOR_C2)
        f_split = (whole - split) / 3.0 / (split / (n - 6))
        if f_split >= _critical(_F3_CRITICAL_999, n - 6):
            return start, sse_curve[:, start]
    return (0, sse_curve[:, 0]) if math.isfinite(whole) else None


def _suffix_sums(values: FloatArray) -> FloatArray:
    """Σ values[..., i] for i ≥ s, for every s (last axis)."""
    return values[..., ::-1].cumsum(axis=-1)[..., ::-1]


def _prefix_line_sse(hours: FloatArray, y: FloatArray) -> FloatArray:
    """Residual sum of squares of the line through readings [0, s), for every s (0 for s < 3)."""
    columns = np.stack((hours, hours * hours, y, y * y, hours * y))
    p_t, p_tt, p_y, p_yy, p_ty = columns.cumsum(axis=1) - columns  # sums over i < s
    count = np.arange(hours.size, dtype=np.float64)
    safe = np.maximum(count, 1.0)
    stt = p_tt - p_t * p_t / safe
    sty = p_ty - p_t * p_y / safe
    syy = p_yy - p_y * p_y / safe
    fitted = (count >= 3) & (stt > 1e-12)
    return np.where(fitted, syy - sty * sty / np.where(fitted, stt, 1.0), 0.0)


def _cautious_curve(
    hours: FloatArray, temps: FloatArray, coarse_sse: FloatArray, sse_line: float
) -> tuple[float, float, float, float] | None:
    """(ambient, amplitude, k, rms) of the slowest-levelling curve inside k's 90 % interval.

    None when the straight line is inside that interval too (the bend is not real).
    The interval is the profile-likelihood one: every k whose residual is within
    F(1, n − 3) of the best, the same test that compares the line with the curve.
    """
    n = temps.size
    dof = n - 3
    if dof < 1:
        return None
    mean_y = float(temps.sum()) / n
    y_centred = temps - mean_y
    best_coarse = int(np.argmin(coarse_sse))
    fine_k = _K_FINE_FACTORS * _K_COARSE[best_coarse]
    fine = _grid_sse(fine_k, hours, y_centred)
    if fine is None:
        return None
    fine_sse = fine[0]
    best = max(float(fine_sse.min()), 0.0)
    if not math.isfinite(best):
        return None
    if sse_line <= best * (1.0 + _critical(_F_CRITICAL_95, dof) / dof):
        return None
    allowed = best * (1.0 + _critical(_F_INTERVAL, dof) / dof)
    inside = np.concatenate((_K_COARSE[coarse_sse <= allowed], fine_k[fine_sse <= allowed]))
    k = float(inside.min()) if inside.size else float(fine_k[int(np.argmin(fine_sse))])
    chosen = _grid_sse(np.array([k]), hours, y_centred)
    if chosen is None:
        return None
    sse, amplitude, mean_e = chosen
    a = float(amplitude[0])
    ambient = mean_y - a * float(mean_e[0])
    if not (math.isfinite(a) and math.isfinite(ambient)):
        return None
    return ambient, a, k, math.sqrt(max(float(sse[0]), 0.0) / dof)


def _grid_sse(
    ks: FloatArray, hours: FloatArray, y_centred: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray] | None:
    """Residual sum of squares, amplitude and mean of e^(−k·t) for each k of the grid."""
    e = np.exp(np.multiply.outer(-ks, hours))
    mean_e = e.sum(axis=1) / hours.size
    e -= mean_e[:, None]
    s_ey = e @ y_centred
    s_ee = (e * e).sum(axis=1)
    usable = s_ee > 1e-12
    if not usable.all():
        if not usable.any():
            return None
        s_ey = np.where(usable, s_ey, 0.0)
        s_ee = np.where(usable, s_ee, 1.0)
    amplitude = s_ey / s_ee
    sse = float(y_centred @ y_centred) - amplitude * s_ey
    if not usable.all():
        sse[~usable] = np.inf
    return sse, amplitude, mean_e


def _critical(table: tuple[tuple[int, float], ...], dof: int) -> float:
    return next(value for limit, value in reversed(table) if limit <= dof)


def _reach_ns(
    fit: TrendFit, shift: float, level: float, target: float, max_rate: float, horizon_ns: int
) -> int:
    """When the bounded forecast first reaches `target` (below `level`), from now, in ns."""
    drop = level - target
    if drop <= 0.0:
        return 0
    by_rate_h = drop / max_rate if max_rate > 0 else 0.0
    if fit.model == "newton":
        ambient = fit.ambient_c + shift
        ratio = (target - ambient) / (level - ambient)
        by_fit_h = -math.log(ratio) / fit.k_per_hour if 0.0 < ratio < 1.0 else 0.0
    else:
        by_fit_h = drop / -fit.slope_c_per_hour
    minutes = round(max(by_rate_h, by_fit_h) * 60)  # to the minute: people read it
    return min(minutes * 60_000_000_000, horizon_ns)


def _with_reason(fit: TrendFit, reason: str) -> TrendFit:
    return replace(fit, reason=reason)


def _duration(span_ns: int) -> str:
    minutes = round(span_ns / 60_000_000_000)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes:02d} min"
    return f"{hours} h" if hours else f"{minutes} min"


def _r(value: float) -> float:
    return round(value, 3)
