"""What-if replay: a stored season's observations through the gritting engine, on their own clock.

Observations go in, in time order; the engine's clock is advanced at every minute
boundary of data time between them, so silence and hysteresis timers run as they
would live even through hours without an uplink. Out comes, per route, every
transition of state or recommendation and the measures the council compares
policies by (GRITTING.md, "What-if replay"):

- **treatments triggered**: TREAT episodes, and route-nights with TREAT in force at
  some moment;
- **icy hours missed**: clock hours holding a valid road-surface reading ≤ 0 °C
  taken while the route was not at TREAT (the route's recommendation once that
  reading was taken into account);
- **lead time**: on each freezing night, from the start of the TREAT in force to the
  first reading ≤ 0 °C (negative when TREAT came late; a night is *missed* when
  TREAT was not in force before that reading);
- **mild nights treated**: nights with TREAT whose every valid reading stayed above
  0 °C (above +3 °C: nights no policy should treat).

"≤ 0 °C" is the ground truth here, whatever the policy's own thresholds, so two
policies are judged by one yardstick. A route-night runs from noon to noon local
time (Europe/London), not 18:00–10:00 like the season report's nights: a surface
that freezes at 17:00, or is still frozen at 11:00, is judged with the night it
belongs to instead of falling between two. Pure: no files, no decoders, no clock.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from alerts.clock import NS_PER_MINUTE
from alerts.gritting import GrittingEngine, RoutePlan
from alerts.model import Observation, Recommendation, RouteDecision, SensorState
from alerts.season import LOCAL_ZONE

RST = "road_surface_temperature"
NS_PER_HOUR = 60 * NS_PER_MINUTE
FREEZING_C = 0.0  # the yardstick for "icy", whatever a policy's thresholds are
WARM_C = 3.0  # a night whose every reading stays above this needs no treatment at all
NIGHT_TURNS = time(12, 0)  # a route-night runs from noon to noon


@dataclass(slots=True)
class NightRecord:
    """One route on one night: its coldest reading and when it first froze, and what the
    recommendation was just before."""

    evening: date
    readings: int = 0
    min_rst_c: float | None = None
    min_rst_at_ns: int | None = None
    first_freezing_ns: int | None = None
    treat_before_freezing: bool = False
    treat_since_ns: int | None = None  # start of the TREAT episode in force at first freezing

    @property
    def freezing(self) -> bool:
        return self.first_freezing_ns is not None


@dataclass(slots=True)
class RouteTrack:
    """Everything the replay learns about one route as the observations go by."""

    route_id: str
    sensors: frozenset[str]
    state: SensorState | None = None
    recommendation: Recommendation | None = None
    treat_since_ns: int | None = None
    transitions: list[RouteDecision] = field(default_factory=list)
    treat_onsets: list[RouteDecision] = field(default_factory=list)
    icy_hours: set[int] = field(default_factory=set)
    icy_hours_missed: set[int] = field(default_factory=set)
    nights: dict[date, NightRecord] = field(default_factory=dict)
    readings: int = 0
    flagged: int = 0
    min_rst_c: float | None = None
    min_rst_at_ns: int | None = None

    def take(self, decision: RouteDecision) -> None:
        """Keep a decision that changes the route's state or recommendation."""
        if (decision.state, decision.recommendation) == (self.state, self.recommendation):
            return
        treating = decision.recommendation is Recommendation.TREAT
        if treating and self.recommendation is not Recommendation.TREAT:
            self.treat_since_ns = decision.at_ns
            self.treat_onsets.append(decision)
        elif not treating:
            self.treat_since_ns = None
        self.state, self.recommendation = decision.state, decision.recommendation
        self.transitions.append(decision)

    def before_reading(self, observation: Observation, evening: date) -> None:
        """Before the engine sees it: did the night's first freezing reading find TREAT on?"""
        value = observation.values.get(RST)
        if value is None or value > FREEZING_C:
            return
        night = self._night(evening)
        if night.first_freezing_ns is None:
            night.first_freezing_ns = observation.time_ns
            night.treat_before_freezing = self.recommendation is Recommendation.TREAT
            night.treat_since_ns = self.treat_since_ns

    def after_reading(self, observation: Observation, evening: date) -> None:
        """Count the reading, its night's minimum and, when icy and untreated, its hour."""
        if RST in observation.flagged:
            self.flagged += 1
        value = observation.values.get(RST)
        if value is None:
            return
        self.readings += 1
        if self.min_rst_c is None or value < self.min_rst_c:
            self.min_rst_c, self.min_rst_at_ns = value, observation.time_ns
        if value <= FREEZING_C:
            hour = observation.time_ns // NS_PER_HOUR
            self.icy_hours.add(hour)
            if self.recommendation is not Recommendation.TREAT:
                self.icy_hours_missed.add(hour)
        night = self._night(evening)
        night.readings += 1
        if night.min_rst_c is None or value < night.min_rst_c:
            night.min_rst_c, night.min_rst_at_ns = value, observation.time_ns

    def _night(self, evening: date) -> NightRecord:
        night = self.nights.get(evening)
        if night is None:
            night = self.nights[evening] = NightRecord(evening)
        return night


@dataclass(frozen=True, slots=True)
class NightOutcome:
    """One route-night judged: did TREAT come, and in time?"""

    evening: date
    readings: int
    min_rst_c: float | None
    treat: bool
    first_treat_ns: int | None
    first_freezing_ns: int | None
    treat_before_freezing: bool
    lead_minutes: float | None
    recommendation_changes: int

    @property
    def freezing(self) -> bool:
        return self.first_freezing_ns is not None

    @property
    def never_froze(self) -> bool:
        return self.min_rst_c is not None and self.min_rst_c > FREEZING_C

    @property
    def stayed_warm(self) -> bool:
        return self.min_rst_c is not None and self.min_rst_c > WARM_C

    def as_json(self) -> dict[str, object]:
        return {
            "evening": self.evening.isoformat(),
            "readings": self.readings,
            "min_rst_c": self.min_rst_c,
            "treat": self.treat,
            "first_treat_at": iso(self.first_treat_ns),
            "first_freezing_at": iso(self.first_freezing_ns),
            "treat_before_freezing": self.treat_before_freezing if self.freezing else None,
            "lead_minutes": None if self.lead_minutes is None else round(self.lead_minutes, 1),
            "recommendation_changes": self.recommendation_changes,
        }


def judge_night(track: RouteTrack, night: NightRecord) -> NightOutcome:
    """A night's TREAT, lead time and changes, from the route's transitions."""
    start, end = replay_night_bounds(night.evening)
    times = [t.at_ns for t in track.transitions]
    first = bisect.bisect_right(times, start)
    last = bisect.bisect_left(times, end)
    in_force = track.transitions[first - 1] if first > 0 else None
    during = track.transitions[first:last]
    first_treat: int | None = None
    if in_force is not None and in_force.recommendation is Recommendation.TREAT:
        first_treat = start
    else:
        first_treat = next(
            (t.at_ns for t in during if t.recommendation is Recommendation.TREAT), None
        )
    changes = 0
    previous = in_force.recommendation if in_force is not None else None
    for transition in during:
        if transition.recommendation is not previous:
            changes += previous is not None
            previous = transition.recommendation
    lead: float | None = None
    if night.first_freezing_ns is not None:
        if night.treat_before_freezing and night.treat_since_ns is not None:
            lead = (night.first_freezing_ns - night.treat_since_ns) / NS_PER_MINUTE
        else:
            late = next(
                (
                    t.at_ns
                    for t in track.transitions
                    if t.recommendation is Recommendation.TREAT
                    and night.first_freezing_ns <= t.at_ns < end
                ),
                None,
            )
            if late is not None:
                lead = -(late - night.first_freezing_ns) / NS_PER_MINUTE
    return NightOutcome(
        evening=night.evening,
        readings=night.readings,
        min_rst_c=night.min_rst_c,
        treat=first_treat is not None,
        first_treat_ns=first_treat,
        first_freezing_ns=night.first_freezing_ns,
        treat_before_freezing=night.treat_before_freezing,
        lead_minutes=lead,
        recommendation_changes=changes,
    )


def iso(time_ns: int | None) -> str | None:
    """Nanoseconds since the epoch as ISO 8601 UTC to the millisecond (`…Z`), or None."""
    if time_ns is None:
        return None
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=time_ns // 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def replay_night_of(time_ns: int, zone: ZoneInfo = LOCAL_ZONE) -> date:
    """The evening of the route-night (noon to noon local) that `time_ns` falls in."""
    local = datetime.fromtimestamp(time_ns / 1e9, UTC).astimezone(zone)
    return local.date() if local.time() >= NIGHT_TURNS else local.date() - timedelta(days=1)


def replay_night_bounds(evening: date, zone: ZoneInfo = LOCAL_ZONE) -> tuple[int, int]:
    """Noon local on `evening` to noon local the next day, in ns since the epoch."""
    start = datetime.combine(evening, NIGHT_TURNS, tzinfo=zone)
    end = datetime.combine(evening + timedelta(days=1), NIGHT_TURNS, tzinfo=zone)
    return _ns(start), _ns(end)


def _ns(moment: datetime) -> int:
    return round(moment.timestamp()) * 1_000_000_000


@dataclass(frozen=True, slots=True)
class RouteOutcome:
    """A route's replay, judged: the figures a what-if table compares."""

    track: RouteTrack
    nights: tuple[NightOutcome, ...]
    final: RouteDecision | None

    @property
    def treat_episodes(self) -> int:
        return len(self.track.treat_onsets)

    @property
    def treat_nights(self) -> int:
        return sum(1 for night in self.nights if night.treat)

    @property
    def freezing_nights(self) -> int:
        return sum(1 for night in self.nights if night.freezing)

    @property
    def freezing_nights_missed(self) -> int:
        """Freezing nights whose first reading ≤ 0 °C found the route not at TREAT."""
        return sum(1 for n in self.nights if n.freezing and not n.treat_before_freezing)

    @property
    def lead_minutes(self) -> list[float]:
        return [n.lead_minutes for n in self.nights if n.lead_minutes is not None]

    @property
    def mild_nights_treated(self) -> int:
        """Treated nights whose every valid reading stayed above 0 °C: salt that could be saved."""
        return sum(1 for night in self.nights if night.treat and night.never_froze)

    @property
    def warm_nights_treated(self) -> int:
        """Nights treated whose every valid reading stayed above +3 °C: should never happen."""
        return sum(1 for night in self.nights if night.treat and night.stayed_warm)

    @property
    def max_changes_per_night(self) -> int:
        return max((night.recommendation_changes for night in self.nights), default=0)

    def figures(self) -> dict[str, object]:
        """The what-if measures, as numbers."""
        leads = self.lead_minutes
        return {
            "treat_episodes": self.treat_episodes,
            "treat_nights": self.treat_nights,
            "icy_hours": len(self.track.icy_hours),
            "icy_hours_missed": len(self.track.icy_hours_missed),
            "freezing_nights": self.freezing_nights,
            "freezing_nights_missed": self.freezing_nights_missed,
            "median_lead_minutes": round(statistics.median(leads), 1) if leads else None,
            "min_lead_minutes": round(min(leads), 1) if leads else None,
            "mild_nights_treated": self.mild_nights_treated,
            "warm_nights_treated": self.warm_nights_treated,
            "max_recommendation_changes_per_night": self.max_changes_per_night,
        }

    def as_json(self) -> dict[str, object]:
        track = self.track
        first_treat = track.treat_onsets[0].at_ns if track.treat_onsets else None
        return {
            "transitions": [
                {
                    "at": iso(t.at_ns),
                    "state": t.state.value,
                    "recommendation": t.recommendation.value,
                }
                for t in track.transitions
            ],
            **self.figures(),
            "first_treat": iso(first_treat),
            "min_rst_c": track.min_rst_c,
            "min_rst_at": iso(track.min_rst_at_ns),
            "readings": track.readings,
            "flagged_readings": track.flagged,
            "sensors": sorted(track.sensors),
            "treat_onsets": [
                {
                    "at": iso(onset.at_ns),
                    "state": onset.state.value,
                    "explanation": onset.explanation,
                    "deciding_sensor": onset.deciding_sensor,
                    "predicted_minimum_c": onset.predicted_minimum_c,
                    "predicted_minimum_at": iso(onset.predicted_minimum_at_ns),
                }
                for onset in track.treat_onsets
            ],
            "final": None
            if self.final is None
            else {
                "at": iso(self.final.at_ns),
                "state": self.final.state.value,
                "recommendation": self.final.recommendation.value,
                "explanation": self.final.explanation,
                "silent_sensors": list(self.final.silent),
            },
            "nights": [night.as_json() for night in self.nights],
        }


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """A replay's outcome per route, and what it went through."""

    routes: Mapping[str, RouteOutcome]
    observations: int
    other_devices: int  # observations from devices that are no route's road sensor (fed too)
    ticks: int
    first_ns: int | None
    last_ns: int | None

    def totals(self) -> dict[str, object]:
        """The what-if measures over every route (medians over every route-night)."""
        outcomes = list(self.routes.values())
        leads = [lead for outcome in outcomes for lead in outcome.lead_minutes]
        summed = (
            "treat_episodes",
            "treat_nights",
            "freezing_nights",
            "freezing_nights_missed",
            "mild_nights_treated",
            "warm_nights_treated",
        )
        totals: dict[str, object] = {
            name: sum(int(getattr(outcome, name)) for outcome in outcomes) for name in summed
        }
        totals["icy_hours"] = sum(len(o.track.icy_hours) for o in outcomes)
        totals["icy_hours_missed"] = sum(len(o.track.icy_hours_missed) for o in outcomes)
        totals["median_lead_minutes"] = round(statistics.median(leads), 1) if leads else None
        totals["min_lead_minutes"] = round(min(leads), 1) if leads else None
        totals["max_recommendation_changes_per_night"] = max(
            (o.max_changes_per_night for o in outcomes), default=0
        )
        return totals

    def report(self, summary: Mapping[str, object] | None = None) -> dict[str, object]:
        """`{"routes": {...}, "summary": {...}}`, the shape `wherry replay` prints."""
        return {
            "routes": {route_id: outcome.as_json() for route_id, outcome in self.routes.items()},
            "summary": {
                **(summary or {}),
                "observations": self.observations,
                "observations_from_other_devices": self.other_devices,
                "clock_ticks": self.ticks,
                "first_observation_at": iso(self.first_ns),
                "last_observation_at": iso(self.last_ns),
                "routes": len(self.routes),
                "totals": self.totals(),
            },
        }


def replay(
    observations: Iterable[Observation],
    plans: Sequence[RoutePlan],
    *,
    tick_ns: int = NS_PER_MINUTE,
) -> ReplayResult:
    """Run `observations` (any order; sorted here, stably) through a fresh engine for `plans`.

    Before each observation the engine's clock is advanced to every `tick_ns`
    boundary since the previous one, so time-based rules fire on the data's clock.
    Every observation reaches the engine, as it would live: a weather station is no
    route's road sensor, but its air temperature and humidity give the route's dew
    point (frost, ICE_LIKELY, the forecast's floor). Those are counted in `other_devices`.
    """
    ordered = sorted(observations, key=lambda o: o.time_ns)
    engine = GrittingEngine(plans)
    tracks = {plan.route_id: RouteTrack(plan.route_id, frozenset(plan.sensors)) for plan in plans}
    routes_of: dict[str, list[RouteTrack]] = {}
    for plan in plans:
        for sensor in plan.sensors:
            routes_of.setdefault(sensor, []).append(tracks[plan.route_id])
    other_devices = ticks = 0
    next_tick: int | None = None

    def take(decisions: Iterable[RouteDecision]) -> None:
        for decision in decisions:
            track = tracks.get(decision.route_id)
            if track is not None:
                track.take(decision)

    for observation in ordered:
        if next_tick is None:
            next_tick = (observation.time_ns // tick_ns + 1) * tick_ns
        while next_tick <= observation.time_ns:
            take(engine.advance(next_tick))
            ticks += 1
            next_tick += tick_ns
        own = routes_of.get(observation.device_id, ())
        if not own:
            other_devices += 1
            take(engine.observe(observation))
            continue
        evening = replay_night_of(observation.time_ns)
        for track in own:
            track.before_reading(observation, evening)
        take(engine.observe(observation))
        for track in own:
            track.after_reading(observation, evening)
    finals = engine.decisions()
    outcomes = {
        route_id: RouteOutcome(
            track=track,
            nights=tuple(judge_night(track, track.nights[e]) for e in sorted(track.nights)),
            final=finals.get(route_id),
        )
        for route_id, track in tracks.items()
    }
    return ReplayResult(
        routes=outcomes,
        observations=len(ordered),
        other_devices=other_devices,
        ticks=ticks,
        first_ns=ordered[0].time_ns if ordered else None,
        last_ns=ordered[-1].time_ns if ordered else None,
    )
