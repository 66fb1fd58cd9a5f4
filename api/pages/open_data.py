"""Open data for schools and hackathons: the public sensors on one page, no sign-in.

Each sensor has a small chart, its latest values, and links to the `/api/v1/open/…`
downloads; the page ends with a curl line and ten lines of Python that work as
written against this server's real address, using only Python's standard library.
A private device does not exist here: its page is the same 404 as an unknown id.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import ServicesDep
from api.pages.readings_view import (
    RANGES,
    Chart,
    Value,
    When,
    latest_values,
    main_quantities,
    newest,
    quantity_label,
    reading_chart,
    shown_value,
    when,
)
from api.pages.session import PageCallerDep
from api.pages.templating import render
from api.readings_cache import TimedCache
from api.readings_pages import READING, Cache
from api.schemas.readings import DEVICE_ID_PATTERN
from api.services import Services
from storage import Point
from storage.registry import DOMAINS, DeviceRecord

router = APIRouter()

API_PATH = "/api/v1/open"
CACHE_TTL_S = 5.0
"""A class of pupils opening the page at once costs the store one round of charts."""
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Sensor:
    """One public device as the open-data page shows it."""

    device: DeviceRecord
    values: list[tuple[Value, str]]
    latest: When | None
    chart: Chart | None


@dataclass(frozen=True, slots=True)
class Examples:
    """Copy-paste examples, with this server's address and a sensor that has readings."""

    api: str
    curl: str
    python: str
    device_id: str | None
    quantity: str | None


@router.get("/open", response_class=HTMLResponse)
def open_data(
    request: Request,
    services: ServicesDep,
    cache: Cache,
    _: PageCallerDep,
    domain: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    """Every public sensor with a chart of the last day, its latest values and downloads."""
    chosen = domain if domain in DOMAINS else ""
    public = cache.devices().public
    sensors = _sensor_cache(request).get(
        ("open", chosen), lambda: _sensors(services, public, chosen)
    )
    example = next((s for s in sensors if s.chart is not None), None)
    return render(
        request,
        "open_index.html",
        {
            "title": "Open data",
            "sensors": sensors,
            "domains": DOMAINS,
            "domain": chosen,
            "examples": examples(
                api_base(request, services),
                example.device.device_id if example else None,
                example.chart.quantity if example and example.chart else None,
            ),
        },
    )


@router.get("/open/{device_id}", response_class=HTMLResponse)
def open_sensor(
    request: Request,
    services: ServicesDep,
    _: PageCallerDep,
    device_id: str,
    range: Annotated[str, Query(max_length=8)] = "24h",
) -> HTMLResponse:
    """One public sensor: a chart per quantity, its latest values, downloads and examples."""
    device = services.registry.device(device_id)
    if device is None or not device.public:
        return render(
            request,
            "error.html",
            {
                "title": "No such public sensor",
                "message": f"No public sensor has the id '{device_id}'. "
                "The open-data page lists every public sensor.",
            },
            status_code=404,
        )
    span = range if range in RANGES else "24h"
    now = services.clock()
    shown = newest(services.store, device_id, now=now, span=span)
    point, values, charts = shown.point, shown.values, shown.charts
    quantity = charts[0].quantity if charts else None
    return render(
        request,
        "open_sensor.html",
        {
            "title": device.name or device.device_id,
            "device": device,
            "values": [(value, shown_value(value.value, value.unit)) for value in values],
            "latest": when(point.time_ns if point is not None else None, now),
            "charts": charts,
            "span": span,
            "ranges": RANGES,
            "examples": examples(api_base(request, services), device_id, quantity),
        },
    )


def api_base(request: Request, services: Services) -> str:
    """The open-data API as a pupil's program must call it: `public_base_url` when set
    (behind a proxy the request's own address may be an internal one), else this request's."""
    base = services.public_base_url or str(request.base_url)
    return base.rstrip("/") + API_PATH


def examples(api: str, device_id: str | None, quantity: str | None) -> Examples:
    """A curl line and a short standard-library Python program for this server."""
    lines = [
        "import csv",
        "import json",
        "from urllib.request import urlopen",
        "",
        f"BASE = {_quoted(api)}",
        "",
        'for device in json.load(urlopen(f"{BASE}/devices"))["devices"]:',
        '    print(device["device_id"], device["name"], device["quantities"])',
    ]
    curl = f'curl "{api}/devices"'
    if device_id is not None and quantity is not None and _safe(device_id, quantity):
        readings = f"/devices/{device_id}/readings?quantity={quantity}&window=1h&format=csv"
        lines += [
            "",
            f'url = f"{{BASE}}{readings}"',
            'text = urlopen(url).read().decode("utf-8")',
            "for row in csv.DictReader(text.splitlines()):",
            '    print(row["time"], row["value"], row["unit"])',
        ]
        curl = f'curl -o {device_id}.csv "{api}{readings}"'
    else:
        lines.remove("import csv")
    return Examples(api, curl, "\n".join(lines) + "\n", device_id, quantity)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _safe(device_id: str, quantity: str) -> bool:
    """Only ids that need no quoting in a URL, a shell or a Python string go in an example."""
    return bool(re.fullmatch(DEVICE_ID_PATTERN, device_id)) and quantity.isidentifier()


def _sensor_cache(request: Request) -> TimedCache[list[Sensor]]:
    state = request.app.state
    with _CACHE_LOCK:
        found: TimedCache[list[Sensor]] | None = getattr(state, "open_page_cache", None)
        if found is None:
            found = TimedCache(CACHE_TTL_S)
            state.open_page_cache = found
        return found


def _sensors(services: Services, public: Mapping[str, DeviceRecord], domain: str) -> list[Sensor]:
    now = services.clock()
    devices = [public[key] for key in sorted(public) if not domain or public[key].domain == domain]
    latest = services.store.latest(READING) if devices else {}
    return [_sensor(services, device, latest.get(device.device_id), now) for device in devices]


def _sensor(services: Services, device: DeviceRecord, point: Point | None, now: datetime) -> Sensor:
    values = latest_values(point)
    main: Sequence[str] = main_quantities(values)
    chart = (
        reading_chart(
            services.store,
            device.device_id,
            main[0],
            now=now,
            span="24h",
            label=quantity_label(main[0]),
        )
        if main
        else None
    )
    return Sensor(
        device=device,
        values=[(value, shown_value(value.value, value.unit)) for value in values],
        latest=when(point.time_ns if point is not None else None, now),
        chart=chart,
    )
