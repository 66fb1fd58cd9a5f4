"""A route's decision in the words, icons and times the gritting board and route page show.

One place turns a stored decision (or a live `route` event, which carries the same JSON)
into what a duty officer reads, so the board, the route page and the live updates can
never word the same decision differently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from storage import ReadingStore
from storage.registry import RouteRecord, RouteStatusRecord

NOT_DECIDED = (
    "No decision yet: no reading from this route's sensors has been evaluated since wherry "
    "started. Treat as unknown (fail safe)."
)
"""The JSON API's words for a route with no decision (api/routers/gritting.py)."""


@dataclass(frozen=True, slots=True)
class Label:
    """A state or recommendation as words, a text icon and a CSS class: never colour alone."""

    words: str
    icon: str
    css: str
    meaning: str


STATES: Mapping[str, Label] = {
    "ICE_LIKELY": Label(
        "Ice likely", "\u2744", "state-ice", "at or below 0 °C and at or below the dew point"
    ),
    "FREEZING": Label("Freezing", "\u2744", "state-freezing", "a sensor reads 0 °C or below"),
    "MARGINAL": Label("Marginal", "\u2248", "state-marginal", "+1 °C or below, now or forecast"),
    "CLEAR": Label("Clear", "\u25cb", "state-clear", "above +1 °C and not forecast below it"),
    "UNKNOWN": Label("Unknown", "?", "state-unknown", "no valid reading to decide on"),
}
RECOMMENDATIONS: Mapping[str, Label] = {
    "TREAT": Label("Treat", "\u25b2", "rec-treat", "grit this route"),
    "MONITOR": Label("Monitor", "\u25c6", "rec-monitor", "watch it: it may need treating"),
    "NO_ACTION": Label("No action", "\u2713", "rec-none", "no treatment needed"),
}
_RANK = {"TREAT": 0, "MONITOR": 1, "NO_ACTION": 2}


@dataclass(frozen=True, slots=True)
class Moment:
    """A time as a page shows it: ISO 8601 for `<time>`, UTC clock text, and how long ago."""

    iso: str
    text: str
    ago: str


@dataclass(frozen=True, slots=True)
class RouteView:
    route_id: str
    name: str
    priority: int
    state: Label
    recommendation: Label
    state_code: str
    recommendation_code: str
    explanation: str
    decided: Moment | None
    predicted_minimum: str | None
    predicted_minimum_at: Moment | None
    freshest: Moment | None
    silent: tuple[str, ...]
    sensors: tuple[Mapping[str, object], ...]

    @property
    def rank(self) -> str:
        """Sorts TREAT first, then MONITOR, then by priority and id (the board's order)."""
        return f"{_RANK.get(self.recommendation_code, 0)}-{self.priority:05d}-{self.route_id}"

    @property
    def announcement(self) -> str:
        """What the live region says when this route changes."""
        return (
            f"{self.name}: {self.recommendation.words}, {self.state.words.lower()}. "
            f"{self.explanation}"
        )


def route_view(
    route: RouteRecord,
    status: RouteStatusRecord | None,
    freshest_ns: int | None,
    now: datetime,
) -> RouteView:
    """The board's view of `route`; no decision yet reads UNKNOWN / TREAT, never clear."""
    detail: Mapping[str, object] = status.detail if status is not None else {}
    state = status.state if status is not None else "UNKNOWN"
    recommendation = status.recommendation if status is not None else "TREAT"
    minimum = _number(detail.get("predicted_minimum_c"))
    return RouteView(
        route_id=route.route_id,
        name=route.name or route.route_id,
        priority=route.priority,
        state=STATES.get(state, STATES["UNKNOWN"]),
        recommendation=RECOMMENDATIONS.get(recommendation, RECOMMENDATIONS["TREAT"]),
        state_code=state if state in STATES else "UNKNOWN",
        recommendation_code=recommendation if recommendation in RECOMMENDATIONS else "TREAT",
        explanation=status.explanation if status is not None else NOT_DECIDED,
        decided=moment(status.at, now) if status is not None else None,
        predicted_minimum=None if minimum is None else celsius(minimum),
        predicted_minimum_at=moment(_time(detail.get("predicted_minimum_at")), now),
        freshest=moment(_from_ns(freshest_ns), now),
        silent=tuple(str(s) for s in _list(detail.get("silent"))),
        sensors=tuple(s for s in _list(detail.get("sensors")) if isinstance(s, Mapping)),
    )


def status_from_event(data: Mapping[str, object]) -> RouteStatusRecord | None:
    """A live `route` event (the decision's JSON, alerts/gritting.py) as a stored decision."""
    route_id, at = data.get("route_id"), _time(data.get("at"))
    state, recommendation = data.get("state"), data.get("recommendation")
    if not isinstance(route_id, str) or at is None:
        return None
    if not isinstance(state, str) or not isinstance(recommendation, str):
        return None
    explanation = data.get("explanation")
    return RouteStatusRecord(
        route_id=route_id,
        state=state,
        recommendation=recommendation,
        at=at,
        explanation=explanation if isinstance(explanation, str) else "",
        detail=dict(data),
    )


def freshest_readings(store: ReadingStore) -> dict[str, int]:
    """Each route's newest valid reading time (ns), in one store query."""
    newest = store.latest("reading", group_by="route")
    return {route_id: point.time_ns for route_id, point in newest.items()}


def freshest_reading(store: ReadingStore, route_id: str) -> int | None:
    """One route's newest valid reading time (ns), or None before its first."""
    newest = store.latest("reading", tags={"route": route_id}, group_by="route")
    point = newest.get(route_id)
    return None if point is None else point.time_ns


def sort_views(views: Sequence[RouteView]) -> list[RouteView]:
    return sorted(views, key=lambda view: view.rank)


def moment(at: datetime | None, now: datetime) -> Moment | None:
    if at is None:
        return None
    at = at.astimezone(UTC).replace(microsecond=0)
    return Moment(at.isoformat().replace("+00:00", "Z"), f"{at:%d %b %H:%M} UTC", ago(at, now))


def ago(at: datetime, now: datetime) -> str:
    """'just now', '12 min ago', '3 h 5 min ago', '2 days ago', or 'in 40 min' ahead."""
    seconds = (now - at).total_seconds()
    ahead = seconds < 0
    minutes = int(abs(seconds) // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        text = f"{minutes} min"
    elif minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        text = f"{hours} h {rest} min" if rest else f"{hours} h"
    else:
        text = f"{minutes // (24 * 60)} days"
    return f"in {text}" if ahead else f"{text} ago"


def celsius(value: float) -> str:
    """'+0.6 °C', '−1.2 °C' (a real minus sign, read correctly by screen readers)."""
    text = f"{value:+.1f}".replace("-", "\N{MINUS SIGN}")
    return f"{text} °C"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _from_ns(time_ns: int | None) -> datetime | None:
    if time_ns is None:
        return None
    return datetime.fromtimestamp(time_ns / 1e9, UTC)


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []
