"""The season report the council asked for: per route, which nights the sensors said to
treat, which nights were treated, which runs the sensors would have saved, and what
those runs cost in salt, fuel and driver time (GRITTING.md, "Evidence").

A night is 18:00 to 10:00 local time (Europe/London, through both clock changes).
The sensors' verdict for a night comes from the route's decisions in force during
it: the decision in force at 18:00 (carried over from the afternoon) and every
transition until 10:00. A run belongs to the night it prepares for: one started
between 10:00 and the next 10:00 counts for the night in between, so an evening
pre-treatment at 16:00 belongs to that night. A treated night is **avoidable**
when the sensors said `CLEAR` from 18:00 to 10:00 without a break; a night with no
decision in force at 18:00 is never called avoidable (no evidence is not good news).

Pure: decisions, treatments and routes in; plain JSON-able dicts out.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from alerts.model import Recommendation, RouteDecision, SensorState
from storage.registry.records import RouteRecord, TreatmentRecord

LOCAL_ZONE = ZoneInfo("Europe/London")
NIGHT_STARTS = time(18, 0)
NIGHT_ENDS = time(10, 0)  # on the next day
_NS = 1_000_000_000


class CostAssumptions(BaseModel):
    """What a gritting run costs when the route or the treatment log does not say.

    Defaults and their sources are in docs/decisions/0009-season-report.md: a
    two-lane single carriageway is 7.3 m wide (DMRB), 10 g/m² is the usual
    precautionary dry-salt rate for frost (NWSRG practical guidance), a gritter
    treats at about 30 km/h on average and burns about 0.45 l of diesel a km with
    the spreader running, with one driver. Replace them with the fleet's own figures.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    width_m: float = Field(7.3, gt=0, description="carriageway width treated, m")
    spread_rate_g_m2: float = Field(10.0, gt=0, description="dry salt per square metre, g/m²")
    treating_speed_kmh: float = Field(30.0, gt=0, description="average speed while treating")
    fuel_l_per_km: float = Field(0.45, gt=0, description="gritter diesel use while treating")
    crew: int = Field(1, ge=1, description="people on a run, for driver hours")


@dataclass(frozen=True, slots=True)
class RunCost:
    """One run's estimated salt, fuel and time, and where each input came from."""

    salt_tonnes: float
    fuel_litres: float
    driver_hours: float
    hours: float
    spread_rate_g_m2: float
    width_m: float
    duration_from: str  # "log" (ended_at − started_at) or "length/speed"
    spread_rate_from: str  # "treatment", "route" or "default"
    width_from: str  # "route" or "default"


def run_cost(
    treatment: TreatmentRecord, route: RouteRecord, assumptions: CostAssumptions
) -> RunCost:
    """Salt = length × width × spread rate; fuel = length × use per km; time from the log,
    else from length ÷ treating speed."""
    if treatment.spread_rate_g_m2 is not None:
        rate, rate_from = treatment.spread_rate_g_m2, "treatment"
    elif route.spread_rate_g_m2 is not None:
        rate, rate_from = route.spread_rate_g_m2, "route"
    else:
        rate, rate_from = assumptions.spread_rate_g_m2, "default"
    if route.width_m is not None:
        width, width_from = route.width_m, "route"
    else:
        width, width_from = assumptions.width_m, "default"
    if treatment.ended_at is not None and treatment.ended_at > treatment.started_at:
        hours = (treatment.ended_at - treatment.started_at).total_seconds() / 3600
        duration_from = "log"
    else:
        hours = route.length_km / assumptions.treating_speed_kmh
        duration_from = "length/speed"
    return RunCost(
        salt_tonnes=route.length_km * 1000 * width * rate / 1e6,
        fuel_litres=route.length_km * assumptions.fuel_l_per_km,
        driver_hours=hours * assumptions.crew,
        hours=hours,
        spread_rate_g_m2=rate,
        width_m=width,
        duration_from=duration_from,
        spread_rate_from=rate_from,
        width_from=width_from,
    )


def night_bounds(evening: date, zone: ZoneInfo = LOCAL_ZONE) -> tuple[datetime, datetime]:
    """The night that starts on `evening`: 18:00 local to 10:00 local next day, as UTC."""
    start = datetime.combine(evening, NIGHT_STARTS, tzinfo=zone)
    end = datetime.combine(evening + timedelta(days=1), NIGHT_ENDS, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def night_of_run(started_at: datetime, zone: ZoneInfo = LOCAL_ZONE) -> date:
    """The evening of the night a run started at `started_at` prepares for (10:00 → 10:00)."""
    local = started_at.astimezone(zone)
    return local.date() if local.time() >= NIGHT_ENDS else local.date() - timedelta(days=1)


def night_of_instant(at: datetime, zone: ZoneInfo = LOCAL_ZONE) -> date | None:
    """The evening of the night `at` falls in, or None between 10:00 and 18:00 local."""
    local = at.astimezone(zone)
    if local.time() >= NIGHT_STARTS:
        return local.date()
    if local.time() < NIGHT_ENDS:
        return local.date() - timedelta(days=1)
    return None


@dataclass(frozen=True, slots=True)
class NightVerdict:
    """What the sensors said about one route on one night."""

    evening: date
    has_evidence: bool  # some decision was in force at some moment of the night
    needed_treatment: bool  # TREAT was in force at some moment of the night
    never_left_clear: bool  # CLEAR from 18:00 to 10:00 without a break
    coldest_state: SensorState | None
    unknown: bool  # the route was UNKNOWN (all sensors silent) at some moment


class _Timeline:
    """One route's decisions in time order, asked what was in force over an interval."""

    def __init__(self, decisions: Iterable[RouteDecision]) -> None:
        ordered = sorted(decisions, key=lambda d: d.at_ns)
        self._at = [d.at_ns for d in ordered]
        self._decisions = ordered

    def verdict(self, evening: date, zone: ZoneInfo) -> NightVerdict:
        start, end = night_bounds(evening, zone)
        start_ns, end_ns = _ns(start), _ns(end)
        first = bisect.bisect_right(self._at, start_ns)
        last = bisect.bisect_left(self._at, end_ns)
        in_force = self._decisions[first - 1] if first > 0 else None
        during = self._decisions[first:last]
        seen = ([in_force] if in_force is not None else []) + during
        known = [d.state for d in seen if d.state is not SensorState.UNKNOWN]
        return NightVerdict(
            evening=evening,
            has_evidence=bool(seen),
            needed_treatment=any(d.recommendation is Recommendation.TREAT for d in seen),
            never_left_clear=in_force is not None
            and all(d.state is SensorState.CLEAR for d in seen),
            coldest_state=max(known, key=lambda s: s.coldness) if known else None,
            unknown=any(d.state is SensorState.UNKNOWN for d in seen),
        )


def _ns(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def _evenings(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def _season_span(
    decisions: Sequence[RouteDecision], treatments: Sequence[TreatmentRecord], zone: ZoneInfo
) -> tuple[date, date] | None:
    evenings: list[date] = [night_of_run(t.started_at, zone) for t in treatments]
    for decision in decisions:
        at = datetime.fromtimestamp(decision.at_ns / _NS, tz=UTC)
        evening = night_of_instant(at, zone)
        evenings.append(evening if evening is not None else at.astimezone(zone).date())
    if not evenings:
        return None
    return min(evenings), max(evenings)


@dataclass(frozen=True, slots=True)
class Cost:
    """Salt, fuel and driver time of some runs, summed."""

    salt_tonnes: float = 0.0
    fuel_litres: float = 0.0
    driver_hours: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.salt_tonnes + other.salt_tonnes,
            self.fuel_litres + other.fuel_litres,
            self.driver_hours + other.driver_hours,
        )

    def as_json(self) -> dict[str, float]:
        return {
            "salt_tonnes": round(self.salt_tonnes, 3),
            "fuel_litres": round(self.fuel_litres, 1),
            "driver_hours": round(self.driver_hours, 2),
        }


@dataclass(frozen=True, slots=True)
class RouteSeason:
    """One route's season, counted; `as_json` adds the per-night and per-run detail."""

    route: RouteRecord
    verdicts: Mapping[date, NightVerdict]
    runs_by_night: Mapping[date, Sequence[TreatmentRecord]]
    costs: Mapping[int, RunCost]  # by treatment id

    @property
    def needed(self) -> list[date]:
        return [e for e, v in self.verdicts.items() if v.needed_treatment]

    @property
    def treated(self) -> list[date]:
        return [e for e in self.verdicts if self.runs_by_night.get(e)]

    @property
    def avoidable(self) -> list[date]:
        return [e for e in self.treated if self.verdicts[e].never_left_clear]

    @property
    def runs(self) -> int:
        return sum(len(self.runs_by_night[e]) for e in self.treated)

    @property
    def avoidable_runs(self) -> list[TreatmentRecord]:
        return [run for e in self.avoidable for run in self.runs_by_night[e]]

    def cost_of(self, runs: Iterable[TreatmentRecord]) -> Cost:
        total = Cost()
        for run in runs:
            one = self.costs[run.id]
            total = total + Cost(one.salt_tonnes, one.fuel_litres, one.driver_hours)
        return total

    @property
    def avoidable_cost(self) -> Cost:
        return self.cost_of(self.avoidable_runs)

    @property
    def all_runs_cost(self) -> Cost:
        return self.cost_of(run for e in self.treated for run in self.runs_by_night[e])

    def as_json(self) -> dict[str, object]:
        needed = self.needed
        return {
            "route_id": self.route.route_id,
            "name": self.route.name,
            "length_km": self.route.length_km,
            "nights": len(self.verdicts),
            "nights_needing_treatment": len(needed),
            "nights_treated": len(self.treated),
            "runs": self.runs,
            "avoidable_nights": len(self.avoidable),
            "avoidable_runs": len(self.avoidable_runs),
            "needed_but_untreated": [
                e.isoformat() for e in needed if not self.runs_by_night.get(e)
            ],
            "nights_without_evidence": sum(1 for v in self.verdicts.values() if not v.has_evidence),
            "nights_with_unknown": sum(1 for v in self.verdicts.values() if v.unknown),
            "avoidable_cost": self.avoidable_cost.as_json(),
            "all_runs_cost": self.all_runs_cost.as_json(),
            "avoidable": [
                self._run_json(e, run) for e in self.avoidable for run in self.runs_by_night[e]
            ],
            "night_details": [self._night_json(e, v) for e, v in self.verdicts.items()],
        }

    def _run_json(self, evening: date, run: TreatmentRecord) -> dict[str, object]:
        cost = self.costs[run.id]
        return {
            "treatment_id": run.id,
            "evening": evening.isoformat(),
            "started_at": run.started_at.astimezone(UTC).isoformat(),
            **Cost(cost.salt_tonnes, cost.fuel_litres, cost.driver_hours).as_json(),
            "hours": round(cost.hours, 2),
            "hours_from": cost.duration_from,
            "spread_rate_g_m2": cost.spread_rate_g_m2,
            "spread_rate_from": cost.spread_rate_from,
            "width_m": cost.width_m,
            "width_from": cost.width_from,
        }

    def _night_json(self, evening: date, verdict: NightVerdict) -> dict[str, object]:
        runs = self.runs_by_night.get(evening, ())
        return {
            "evening": evening.isoformat(),
            "needed_treatment": verdict.needed_treatment,
            "treated": bool(runs),
            "runs": len(runs),
            "never_left_clear": verdict.never_left_clear,
            "avoidable": bool(runs) and verdict.never_left_clear,
            "coldest_state": verdict.coldest_state.value if verdict.coldest_state else None,
            "unknown": verdict.unknown,
            "evidence": verdict.has_evidence,
        }


def route_season(
    route: RouteRecord,
    decisions: Sequence[RouteDecision],
    treatments: Sequence[TreatmentRecord],
    evenings: Sequence[date],
    assumptions: CostAssumptions,
    zone: ZoneInfo = LOCAL_ZONE,
) -> RouteSeason:
    """One route's season: what the sensors said each night, which runs were made, their cost."""
    timeline = _Timeline(decisions)
    verdicts = {evening: timeline.verdict(evening, zone) for evening in evenings}
    runs_by_night: dict[date, list[TreatmentRecord]] = {}
    for treatment in sorted(treatments, key=lambda t: t.started_at):
        evening = night_of_run(treatment.started_at, zone)
        if evening in verdicts:
            runs_by_night.setdefault(evening, []).append(treatment)
    costs = {
        run.id: run_cost(run, route, assumptions) for runs in runs_by_night.values() for run in runs
    }
    return RouteSeason(route, verdicts, runs_by_night, costs)


def season_report(
    decisions: Sequence[RouteDecision],
    treatments: Sequence[TreatmentRecord],
    routes: Sequence[RouteRecord],
    *,
    first_evening: date | None = None,
    last_evening: date | None = None,
    assumptions: CostAssumptions | None = None,
    zone: ZoneInfo = LOCAL_ZONE,
) -> dict[str, object]:
    """The season report for `routes`, from their decisions (time-ordered transitions) and
    the treatments highways logged.

    The season runs from the night of `first_evening` to that of `last_evening`
    (inclusive); by default from the earliest to the latest night any decision or
    treatment falls in. Decisions and treatments of routes not in `routes` are ignored.
    """
    chosen = assumptions if assumptions is not None else CostAssumptions()
    span = _season_span(decisions, treatments, zone)
    first = first_evening or (span[0] if span else None)
    last = last_evening or (span[1] if span else None)
    evenings = _evenings(first, last) if first is not None and last is not None else []
    by_route_decisions: dict[str, list[RouteDecision]] = {}
    for decision in decisions:
        by_route_decisions.setdefault(decision.route_id, []).append(decision)
    by_route_treatments: dict[str, list[TreatmentRecord]] = {}
    for treatment in treatments:
        by_route_treatments.setdefault(treatment.route_id, []).append(treatment)
    seasons = [
        route_season(
            route,
            by_route_decisions.get(route.route_id, []),
            by_route_treatments.get(route.route_id, []),
            evenings,
            chosen,
            zone,
        )
        for route in routes
    ]
    return {
        "season": {
            "first_evening": first.isoformat() if first else None,
            "last_evening": last.isoformat() if last else None,
            "nights": len(evenings),
            "night": f"{NIGHT_STARTS:%H:%M}–{NIGHT_ENDS:%H:%M} {zone.key}",
        },
        "assumptions": chosen.model_dump(),
        "routes": {one.route.route_id: one.as_json() for one in seasons},
        "totals": {
            "nights_needing_treatment": sum(len(one.needed) for one in seasons),
            "nights_treated": sum(len(one.treated) for one in seasons),
            "runs": sum(one.runs for one in seasons),
            "avoidable_nights": sum(len(one.avoidable) for one in seasons),
            "avoidable_runs": sum(len(one.avoidable_runs) for one in seasons),
            "avoidable_cost": sum((one.avoidable_cost for one in seasons), Cost()).as_json(),
            "all_runs_cost": sum((one.all_runs_cost for one in seasons), Cost()).as_json(),
        },
    }
