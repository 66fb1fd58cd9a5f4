"""Devices for engineers: what is registered, what is silent or badly connected, what is
heard but not registered, and one device's readings, link and configuration.

Reading these pages needs any signed-in key, like `GET /api/v1/devices`: a highways
officer following a road sensor from the board, or a reader, sees the same device
page; only engineers and admins get the buttons that change something, and only they
see unregistered sightings (as in the API).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.auth import Caller
from api.deps import ServicesDep
from api.pages.readings_view import (
    LINK_UNITS,
    RANGES,
    Health,
    Thresholds,
    When,
    health_of,
    link_chart,
    link_summary,
    newest,
    shown_value,
    to_ns,
    when,
)
from api.pages.session import require
from api.pages.templating import render
from api.roles import ANY_KEY, ENGINEERS
from decoders import QUANTITIES, UnknownDecoder, get_decoder
from decoders.fieldmap import merged
from storage.registry import (
    DEVICE_STATUSES,
    DOMAINS,
    InvalidValue,
    SightingRecord,
    format_field_map,
)
from storage.registry.validation import parse_domain

router = APIRouter()

MAX_SILENT_MINUTES = 525_600
DEFAULT_SILENT_MINUTES = 60
"""A device unheard for longer than this is called silent in the list (the health rule's
default), unless the filter asks for another number."""

Text = Annotated[str, Query(max_length=100)]
SignedIn = Annotated[Caller, require(ANY_KEY)]
"""Any signed-in key: reading device pages, as `GET /api/v1/devices` allows."""
EngineerSignedIn = Annotated[Caller, require(ENGINEERS)]
"""An engineer or admin: sightings, and every page that changes something."""


def can_edit(caller: Caller) -> bool:
    return caller.role in ENGINEERS


@dataclass(frozen=True, slots=True)
class Filters:
    """The list's filters as typed, and what is wrong with any of them."""

    domain: str
    route: str
    status: str
    silent: str
    battery: bool
    link: bool
    problems: dict[str, str]

    @property
    def any(self) -> bool:
        return bool(
            self.domain or self.route or self.status or self.silent or self.battery or self.link
        )


@router.get("/devices", response_class=HTMLResponse)
def device_list(
    request: Request,
    services: ServicesDep,
    caller: SignedIn,
    domain: Text = "",
    route: Text = "",
    status: Text = "",
    silent: Text = "",
    battery: Text = "",
    link: Text = "",
) -> HTMLResponse:
    """Registered devices, filtered; each row says in words what is wrong with it."""
    registry = services.registry
    routes = registry.routes()
    problems: dict[str, str] = {}
    domain_wanted = _checked(problems, "domain", lambda: parse_domain(domain) if domain else None)
    if route and route not in {r.route_id for r in routes}:
        problems["route"] = f"route '{route}' is not registered: choose one from the list"
    if status and status not in DEVICE_STATUSES:
        problems["status"] = f"status '{status}' is not one of {', '.join(DEVICE_STATUSES)}"
    silent_minutes = _silent_minutes(problems, silent)
    filters = Filters(domain, route, status, silent, bool(battery), bool(link), problems)

    devices = registry.devices(
        domain=domain_wanted,
        route_id=route if route and "route" not in problems else None,
        status=status if status and "status" not in problems else None,
    )
    now = services.clock()
    limits = Thresholds.of(services.health)
    rows = health_of(devices, services.store, now, limits)
    if silent_minutes is not None:
        rows = [
            row
            for row in rows
            if row.device.status == "active"
            and (row.silent_minutes is None or row.silent_minutes > silent_minutes)
        ]
    if filters.battery:
        rows = [row for row in rows if row.battery_low]
    if filters.link:
        rows = [row for row in rows if row.link_weak]
    silent_after = silent_minutes or DEFAULT_SILENT_MINUTES
    shown = [_row(row, silent_after, now) for row in rows]
    return render(
        request,
        "devices_list.html",
        {
            "title": "Devices",
            "filters": filters,
            "rows": shown,
            "total": len(registry.devices()) if filters.any else len(devices),
            "domains": DOMAINS,
            "statuses": DEVICE_STATUSES,
            "routes": routes,
            "can_edit": can_edit(caller),
            "sightings": len(registry.sightings()) if can_edit(caller) else 0,
            "silent_after": silent_after,
            "low_battery": limits.battery_words,
            "weak_link": limits.link_words,
            "show": shown_value,
        },
        status_code=422 if problems else 200,
    )


def _checked(problems: dict[str, str], name: str, parse: Callable[[], str | None]) -> str | None:
    try:
        return parse()
    except InvalidValue as problem:
        problems[name] = str(problem)
        return None


def _silent_minutes(problems: dict[str, str], text: str) -> int | None:
    if not text.strip():
        return None
    words = (
        f"silent for more than must be a whole number of minutes from 1 to "
        f"{MAX_SILENT_MINUTES:,} (a year), e.g. 120"
    )
    try:
        minutes = int(text.strip())
    except ValueError:
        problems["silent"] = f"'{text.strip()}' is not a number: {words}"
        return None
    if not 1 <= minutes <= MAX_SILENT_MINUTES:
        problems["silent"] = words
        return None
    return minutes


@dataclass(frozen=True, slots=True)
class Row:
    health: Health
    heard: When | None
    problems: list[str]


def _row(health: Health, silent_after: int, now: datetime) -> Row:
    return Row(health, when(health.last_heard_ns, now), health.problems(silent_after))


# -- sightings --------------------------------------------------------------------------------


@router.get("/sightings", response_class=HTMLResponse)
def sighting_list(request: Request, services: ServicesDep, _: EngineerSignedIn) -> HTMLResponse:
    """Devices heard but not registered, newest first, each with why in words."""
    now = services.clock()
    sightings = services.registry.sightings()
    return render(
        request,
        "devices_sightings.html",
        {
            "title": "Unregistered devices heard",
            "sightings": [
                {
                    "record": sighting,
                    "reason": sighting_reason(sighting),
                    "first": when(to_ns(sighting.first_seen), now),
                    "last": when(to_ns(sighting.last_seen), now),
                }
                for sighting in sightings
            ],
        },
    )


def sighting_reason(sighting: SightingRecord) -> str:
    """Why this device's uplinks are not used, in words an engineer can act on."""
    heard = f"Heard {sighting.count} time{'' if sighting.count == 1 else 's'} on {sighting.network}"
    if sighting.application_id:
        heard += f" (application {sighting.application_id})"
    if sighting.dev_eui:
        why = (
            f"no device with id '{sighting.device_id}' or DevEUI {sighting.dev_eui} is "
            f"registered, so its uplinks are counted here and not decoded or stored"
        )
    else:
        why = (
            f"no device with id '{sighting.device_id}' is registered and its uplinks carry no "
            f"DevEUI, so they are counted here and not decoded or stored; registering it "
            f"needs the DevEUI from the device's label"
        )
    return f"{heard}, but {why}."


# -- one device -------------------------------------------------------------------------------


@router.get("/devices/{device_id}", response_class=HTMLResponse)
def device_page(
    request: Request,
    services: ServicesDep,
    device_id: str,
    caller: SignedIn,
    range: Text = "24h",
) -> HTMLResponse:
    """Latest values with units, a chart per quantity, the radio link, decoder and flags."""
    device = services.registry.device(device_id)
    if device is None:
        return render(
            request,
            "error.html",
            {
                "title": "No such device",
                "message": f"No device '{device_id}' is registered. "
                "It may have been heard but not registered: see the unregistered devices.",
            },
            status_code=404,
        )
    span = range if range in RANGES else "24h"
    now = services.clock()
    store = services.store
    shown = newest(store, device_id, now=now, span=span)
    point, values, charts = shown.point, shown.values, shown.charts
    limits = Thresholds.of(services.health)
    link = link_summary(store, device_id, now, limits)
    link_charts = (
        [
            link_chart(store, device_id, "rssi", now=now, span=span, label="RSSI"),
            link_chart(store, device_id, "snr", now=now, span=span, label="SNR"),
        ]
        if link.uplinks or span != "24h"
        else []
    )
    health = health_of([device], store, now, limits)[0]
    try:
        decoder = get_decoder(device.decoder)
        decoder_name: str | None = f"{decoder.vendor} {decoder.model}"
        effective = merged(decoder.default_field_map, device.field_map)
        defaults = dict(decoder.default_field_map)
    except UnknownDecoder:
        decoder_name, effective, defaults = None, dict(device.field_map), {}
    return render(
        request,
        "devices_device.html",
        {
            "title": device.name or device.device_id,
            "device": device,
            "values": [(value, shown_value(value.value, value.unit)) for value in values],
            "latest": when(point.time_ns if point is not None else None, now),
            "charts": charts,
            "link": link,
            "link_charts": link_charts,
            "link_units": LINK_UNITS,
            "uplinks": [(u, when(u.time_ns, now)) for u in link.uplinks[:10]],
            "weak_link": limits.link_words,
            "health": health,
            "problems": health.problems(DEFAULT_SILENT_MINUTES),
            "heard": when(health.last_heard_ns, now),
            "span": span,
            "ranges": RANGES,
            "decoder_name": decoder_name,
            "field_map": sorted(effective.items()),
            "own_field_map": format_field_map(device.field_map),
            "overridden": {k for k, v in device.field_map.items() if defaults.get(k) != v},
            "quantities": QUANTITIES,
            "can_edit": can_edit(caller),
            "show": shown_value,
        },
    )
