"""The "Log a treatment" form: what a duty officer typed, checked field by field.

Each problem is worded for the person at the form and filed under its field, so the
page can show it beside that field; the registry's own checks (the API's) still run
after these and are filed the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from storage.registry import NewTreatment

FIELDS = ("started_at", "ended_at", "spread_rate_g_m2", "notes")
MAX_NOTES = 2000
FUTURE_SLACK = timedelta(minutes=15)
"""A start a little ahead of the server's clock is a slow watch, not a mistake."""
EXAMPLE = "2026-01-14 03:10"


@dataclass
class TreatmentForm:
    """The form's values as typed (shown back on error) and the problems per field."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def blank(cls, now: datetime) -> TreatmentForm:
        return cls(values={"started_at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")})


def read_treatment(
    route_id: str, typed: Mapping[str, str], now: datetime
) -> tuple[NewTreatment | None, TreatmentForm]:
    """The run to log, or None and the form with each problem beside its field."""
    form = TreatmentForm(values={name: typed.get(name, "").strip() for name in FIELDS})
    values, errors = form.values, form.errors
    started = _moment(values["started_at"], "started_at", errors, required=True)
    ended = _moment(values["ended_at"], "ended_at", errors, required=False)
    if started is not None and started > now + FUTURE_SLACK:
        errors["started_at"] = "This is in the future: enter when the run started (UTC)."
    if started is not None and ended is not None and ended < started:
        errors["ended_at"] = "The run cannot end before it started."
    rate = _rate(values["spread_rate_g_m2"], errors)
    if len(values["notes"]) > MAX_NOTES:
        errors["notes"] = f"Notes are limited to {MAX_NOTES} characters."
    if errors or started is None:
        return None, form
    treatment = NewTreatment(
        route_id=route_id,
        started_at=started,
        ended_at=ended,
        spread_rate_g_m2=rate,
        notes=values["notes"] or None,
    )
    return treatment, form


def _moment(text: str, name: str, errors: dict[str, str], *, required: bool) -> datetime | None:
    if not text:
        if required:
            errors[name] = f"Enter when the run started, in UTC, like {EXAMPLE}."
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        errors[name] = f"Enter a date and time in UTC, like {EXAMPLE}."
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _rate(text: str, errors: dict[str, str]) -> float | None:
    if not text:
        return None
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not math.isfinite(rate) or not 0 < rate <= 100:
        errors["spread_rate_g_m2"] = (
            "Enter grams of salt per square metre, above 0 and at most 100 "
            "(or leave it empty for the route's usual rate)."
        )
        return None
    return rate
