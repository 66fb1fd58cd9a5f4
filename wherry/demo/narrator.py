"""The demo's running commentary: what the gritting board decided, and what the sensors read.

Everything said is read back from where the pages read it (route decisions and
their transitions in the registry, readings in the store, sightings), so the
terminal and the browser tell the same night. Times are the data's, in UTC like
the pages'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from storage import ReadingStore
from storage.registry import Registry, RouteStatusRecord, RouteTransitionRecord
from wherry.demo.fleet import ClassroomSensor, Fleet, RiverProbe, WeatherStation

READING = "reading"
RST = "road_surface_temperature"
Echo = Callable[[str], None]


def clock(moment: datetime) -> str:
    """HH:MM UTC, as the pages show times."""
    return f"{moment.astimezone(UTC):%H:%M}"


def _iso(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _c(value: float) -> str:
    """A temperature the way a duty officer reads it: sign always, a true minus sign."""
    return f"{value:+.1f} °C".replace("-", "−")


def short_name(route_name: str) -> str:
    """'Matlock Bank' of 'Matlock Bank: Bank Road and Smedley Street'."""
    return route_name.split(":")[0].strip()


def _span(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


@dataclass
class Narrator:
    """Says each change of a route's decision once, a line of readings each simulated hour,
    each unregistered device once, and when the night reaches the present."""

    fleet: Fleet
    registry: Registry
    store: ReadingStore
    echo: Echo
    sightings_url: str | None = None
    _since: datetime | None = None
    _said: set[tuple[str, datetime, str, str]] = field(default_factory=set)
    _treat_since: dict[str, datetime] = field(default_factory=dict)
    _frost_told: set[str] = field(default_factory=set)
    _sightings: set[str] = field(default_factory=set)
    _hour: datetime | None = None

    def __post_init__(self) -> None:
        self._route_names = {route.route_id: short_name(route.name) for route in self.fleet.routes}
        self._device_names = {site.device.device_id: site.device.name for site in self.fleet.sites}

    def tell(self, sim_now: datetime) -> None:
        """Everything new up to `sim_now` (the demo's data clock)."""
        self._transitions()
        self._unregistered(sim_now)
        hour = sim_now.replace(minute=0, second=0, microsecond=0)
        if self._hour is None or hour > self._hour:
            if self._hour is not None:
                self.echo(self.readings_line(hour))
            self._hour = hour

    # -- route decisions -------------------------------------------------------------------

    def _transitions(self) -> None:
        since = self._since - timedelta(minutes=1) if self._since is not None else None
        found = self.registry.route_transitions(since=since)
        new = [t for t in found if (t.route_id, t.at, t.state, t.recommendation) not in self._said]
        if not new:
            return
        statuses = {status.route_id: status for status in self.registry.route_statuses()}
        for transition in new:
            self._said.add(
                (transition.route_id, transition.at, transition.state, transition.recommendation)
            )
            self.echo(self.transition_line(transition, statuses.get(transition.route_id)))
            self._since = max(self._since or transition.at, transition.at)

    def transition_line(
        self, transition: RouteTransitionRecord, status: RouteStatusRecord | None
    ) -> str:
        route = self._route_names.get(transition.route_id, transition.route_id)
        at = transition.at
        state, recommendation = transition.state, transition.recommendation
        detail: Mapping[str, Any] = status.detail if status is not None and status.at == at else {}
        said = self._reading_words(detail)
        line = f"{clock(at)}  {route}: {said}→ {recommendation} ({state.lower().replace('_', ' ')})"
        if recommendation == "TREAT" and state == "MARGINAL":
            line += ": salt goes down ahead of the frost"
        if recommendation == "TREAT" and transition.route_id not in self._treat_since:
            self._treat_since[transition.route_id] = at
        elif recommendation != "TREAT":
            self._treat_since.pop(transition.route_id, None)
        if state in ("FREEZING", "ICE_LIKELY") and transition.route_id not in self._frost_told:
            self._frost_told.add(transition.route_id)
            since = self._treat_since.get(transition.route_id)
            if since is not None and since < at:
                line += f"; TREAT since {clock(since)}, {_span(at - since)} ahead of the frost"
        return line

    def _reading_words(self, detail: Mapping[str, Any]) -> str:
        """'Bank Road (upper) +1.5 °C, forecast −0.9 °C by 23:01 ' from a decision's detail."""
        deciding = detail.get("deciding_sensor")
        if not isinstance(deciding, str):
            return ""
        words = self._device_names.get(deciding, deciding)
        reading = _number(detail.get("reading_c"))
        if reading is not None:
            words += f" {_c(reading)}"
        for sensor in detail.get("sensors") or ():
            if not isinstance(sensor, Mapping) or sensor.get("device_id") != deciding:
                continue
            forecast = sensor.get("forecast")
            if not isinstance(forecast, Mapping):
                break
            minimum, by = _number(forecast.get("minimum_c")), _iso(forecast.get("minimum_at"))
            at = _iso(detail.get("reading_at"))
            if (
                minimum is not None
                and by is not None
                and reading is not None
                and minimum < reading - 0.05
                and (at is None or by > at)
            ):
                words += f", forecast {_c(minimum)} by {clock(by)}"
        return words + " "

    # -- sightings -------------------------------------------------------------------------

    def _unregistered(self, sim_now: datetime) -> None:
        for sighting in self.registry.sightings():
            if sighting.device_id in self._sightings:
                continue
            self._sightings.add(sighting.device_id)
            where = f": register it at {self.sightings_url}" if self.sightings_url else ""
            eui = f" (DevEUI {sighting.dev_eui})" if sighting.dev_eui else ""
            self.echo(
                f"{clock(sim_now)}  an unregistered device is sending uplinks: "
                f"{sighting.device_id}{eui}{where}"
            )

    # -- readings --------------------------------------------------------------------------

    def readings_line(self, hour: datetime) -> str:
        """The latest readings: road surfaces by route, then the air, school and river."""
        latest = self.store.latest(READING)
        parts = []
        for route in self.fleet.routes:
            values = [
                _number(latest[site.device.device_id].fields.get(RST))
                for site in self.fleet.sites
                if site.registered
                and site.device.route_id == route.route_id
                and site.device.device_id in latest
            ]
            shown = " ".join(_c(v).removesuffix(" °C") for v in values if v is not None and v < 80)
            if shown:
                parts.append(f"{short_name(route.name)} {shown}")
        line = f"{clock(hour)}  road surface °C: " + " · ".join(parts)
        others = []
        for site in self.fleet.sites:
            point = latest.get(site.device.device_id)
            if point is None:
                continue
            fields = point.fields
            if isinstance(site.behaviour, WeatherStation):
                air, humidity = (
                    _number(fields.get("air_temperature")),
                    _number(fields.get("relative_humidity")),
                )
                if air is not None and humidity is not None:
                    others.append(f"air {_c(air)} {humidity:.0f} %")
            elif isinstance(site.behaviour, ClassroomSensor):
                co2, pm = _number(fields.get("co2")), _number(fields.get("pm2_5"))
                if co2 is not None and pm is not None:
                    others.append(f"school CO2 {co2:.0f} ppm, PM2.5 {pm:.0f} µg/m³")
            elif isinstance(site.behaviour, RiverProbe):
                depth, water = (
                    _number(fields.get("water_depth")),
                    _number(fields.get("water_temperature")),
                )
                if depth is not None and water is not None:
                    others.append(f"river {depth:.2f} m, {_c(water)}")
        if others:
            line += "\n       " + " · ".join(others)
        return line
