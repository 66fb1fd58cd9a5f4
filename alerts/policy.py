"""The numbers behind a gritting decision, with GRITTING.md's defaults, overridable per route.

A route's overrides live in the registry as JSON (`RouteRecord.policy`) and a what-if
replay reads a TOML file (`--policy`), so both are checked here with errors that name
the key and say what is wrong: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from alerts.clock import NS_PER_MINUTE


class PolicyError(ValueError):
    """A gritting policy (route override or policy file) that cannot be used, and why."""


class GrittingPolicy(BaseModel):
    """Thresholds and timings for one route. Temperatures in °C, durations in minutes."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    marginal_threshold_c: float = Field(
        1.0, description="MARGINAL at or below this RST, now or forecast within the horizon."
    )
    freezing_threshold_c: float = Field(0.0, description="FREEZING at or below this RST.")
    horizon_minutes: float = Field(
        180.0, gt=0, le=24 * 60, description="How far ahead the forecast looks."
    )
    silence_minutes: float = Field(
        45.0, gt=0, description="A sensor with no valid reading for longer than this is UNKNOWN."
    )
    hysteresis_c: float = Field(
        0.5,
        ge=0,
        description="To leave a colder state, RST must stay this far above its threshold…",
    )
    hysteresis_minutes: float = Field(30.0, ge=0, description="…for this long (the data's clock).")
    trend_window_minutes: float = Field(
        120.0, gt=0, description="Readings the forecast is fitted to."
    )
    trend_min_points: int = Field(4, ge=2, description="Fewest readings for a trend line.")
    precautionary: bool = Field(False, description="MARGINAL recommends TREAT instead of MONITOR.")
    treat_when_forecast_at_or_below_c: float | None = Field(
        0.0,
        description="MARGINAL recommends TREAT once a trusted forecast reaches this RST (frost "
        "forecast: salt goes down before the road freezes); None (false in TOML): MONITOR, "
        "GRITTING.md's table.",
    )
    treat_lookahead_minutes: float = Field(
        120.0,
        gt=0,
        description="How far ahead a cooling-curve forecast is trusted to call TREAT.",
    )
    treat_lookahead_line_minutes: float = Field(
        60.0,
        gt=0,
        description="How far ahead a straight-line forecast (the fallback) is trusted to call "
        "TREAT: an early-evening line carries sunset's cooling rate on for hours.",
    )
    max_jump_c_per_minute: float = Field(
        1.5,
        gt=0,
        description="A reading further than this from the last valid one, per minute, is a jump.",
    )
    max_cooling_c_per_hour: float = Field(
        2.0, gt=0, description="The forecast never cools faster than this."
    )
    dew_point_margin_c: float = Field(
        1.0, ge=0, description="The forecast is held this far below the dew point (latent heat)."
    )

    @field_validator("treat_when_forecast_at_or_below_c", mode="before")
    @classmethod
    def _false_is_off(cls, value: object) -> object:
        """TOML has no null: `false` switches forecast-driven TREAT off, as None does."""
        return None if value is False else value

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> Self:
        if not self.freezing_threshold_c < self.marginal_threshold_c:
            raise ValueError(
                f"freezing_threshold_c ({self.freezing_threshold_c}) must be below "
                f"marginal_threshold_c ({self.marginal_threshold_c})"
            )
        treat = self.treat_when_forecast_at_or_below_c
        if treat is not None and not treat < self.marginal_threshold_c:
            raise ValueError(
                f"treat_when_forecast_at_or_below_c ({treat}) must be below "
                f"marginal_threshold_c ({self.marginal_threshold_c}); "
                "to treat every marginal night set precautionary = true"
            )
        return self

    @cached_property
    def treat_lookahead_ns(self) -> int:
        return round(min(self.treat_lookahead_minutes, self.horizon_minutes) * NS_PER_MINUTE)

    @cached_property
    def treat_lookahead_line_ns(self) -> int:
        return round(min(self.treat_lookahead_line_minutes, self.horizon_minutes) * NS_PER_MINUTE)

    @cached_property
    def horizon_ns(self) -> int:
        return round(self.horizon_minutes * NS_PER_MINUTE)

    @cached_property
    def silence_ns(self) -> int:
        return round(self.silence_minutes * NS_PER_MINUTE)

    @cached_property
    def hysteresis_ns(self) -> int:
        return round(self.hysteresis_minutes * NS_PER_MINUTE)

    @cached_property
    def trend_window_ns(self) -> int:
        return round(self.trend_window_minutes * NS_PER_MINUTE)

    def with_overrides(
        self, overrides: Mapping[str, object], *, source: str = "route policy"
    ) -> GrittingPolicy:
        """This policy with `overrides` (`RouteRecord.policy`) applied; PolicyError says why not."""
        if not isinstance(overrides, Mapping):
            raise PolicyError(
                f"{source}: expected a table of settings, got {type(overrides).__name__}"
            )
        unknown = [key for key in overrides if key not in GrittingPolicy.model_fields]
        if unknown:
            raise PolicyError(f"{source}: " + "; ".join(_unknown_key(str(key)) for key in unknown))
        try:
            return GrittingPolicy.model_validate(self.model_dump() | dict(overrides))
        except ValidationError as error:
            raise PolicyError(
                f"{source}: " + "; ".join(_describe(e) for e in error.errors())
            ) from None


def load_policy(path: str | Path, *, base: GrittingPolicy | None = None) -> GrittingPolicy:
    """The policy in a TOML file's `[gritting]` table, over `base` (the defaults).

    The settings sit in a `[gritting]` table, not at the top level, so one file can
    later carry other domains' thresholds beside them and a `wherry.toml` can embed it:

        [gritting]
        marginal_threshold_c = 0.5
        horizon_minutes = 120
    """
    source = str(path)
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except OSError as error:
        raise PolicyError(f"{source}: cannot read the policy file ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{source}: not valid TOML ({error})") from None
    others = sorted(key for key in document if key != "gritting")
    if "gritting" not in document:
        hint = f"; found {', '.join(others)}" if others else " and the file is empty"
        raise PolicyError(f"{source}: expected the settings in a [gritting] table{hint}")
    if others:
        raise PolicyError(
            f"{source}: unexpected top-level keys {', '.join(others)}: put settings in [gritting]"
        )
    table = document["gritting"]
    if not isinstance(table, dict):
        raise PolicyError(f"{source}: `gritting` must be a table ([gritting])")
    return (base or GrittingPolicy()).with_overrides(table, source=f"{source} [gritting]")


def _unknown_key(key: str) -> str:
    close = difflib.get_close_matches(key, GrittingPolicy.model_fields, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown setting {key!r}{hint}"


def _describe(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"])
    value = error.get("input")
    if not location:  # a model-level check, e.g. thresholds out of order
        return str(error["msg"]).removeprefix("Value error, ")
    return f"{location}: {error['msg']} (got {value!r})"
