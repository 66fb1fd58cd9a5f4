"""Reading pages: what the readings and open-data routes share, apart from who may call them.

A page is a list of rows, oldest first: raw readings (valid ones from the `reading`
measurement, flagged ones from `flagged` on request) or one aggregate per window and
quantity. Pages are cut by a cursor — the last time shown and how many rows at that time
were shown — so a page boundary between two readings of the same instant loses nothing
and repeats nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NamedTuple

from fastapi import Depends, HTTPException, Path, Query, Request, Response

from api.csv_responses import (
    Format,
    Rendered,
    csv_response,
    json_response,
    render_csv,
    render_json,
    wants_csv,
)
from api.deps import ServicesDep
from api.readings_cache import ReadingsCache, readings_cache
from api.schemas.readings import (
    DEFAULT_LIMIT,
    DEFAULT_RANGE_NS,
    DEVICE_ID_PATTERN,
    MAX_LIMIT,
    Cursor,
    InvalidParameter,
    check_window_count,
    format_time,
    parse_quantity,
    parse_time,
    parse_window,
    unit_of,
)
from api.services import Services
from decoders import QUANTITIES
from storage import Point, ReadingStore
from storage.readings import AggregateFunction
from storage.registry import DeviceRecord

READING = "reading"
FLAGGED = "flagged"
CSV_COLUMNS = ("device_id", "time", "quantity", "value", "unit", "valid", "reason")


class Row(NamedTuple):
    time_ns: int
    quantity: str
    value: float | int | None
    valid: bool = True
    reason: str | None = None


# -- query parameters -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadingsParams:
    """The readings query parameters, checked: times in ns, window in ns, cursor decoded."""

    quantity: str | None
    start_ns: int
    end_ns: int
    window: str | None
    window_ns: int | None
    function: AggregateFunction | None
    limit: int
    cursor: Cursor | None
    include_invalid: bool
    csv: bool


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_ns(services: Services) -> int:
    return (services.clock() - _EPOCH) // timedelta(microseconds=1) * 1000


RouteFilter = Annotated[
    str | None,
    Query(max_length=64, description="Only devices on this route.", examples=["a38"]),
]
SiteFilter = Annotated[
    str | None,
    Query(max_length=200, description="Only devices at this site.", examples=["greenfield"]),
]
FormatParam = Annotated[
    Format | None,
    Query(description="`json` or `csv`; wins over the Accept header.", examples=["csv"]),
]


async def readings_params(
    request: Request,
    services: ServicesDep,
    quantity: Annotated[
        str | None,
        Query(
            max_length=64,
            description="One canonical quantity (e.g. `road_surface_temperature`); all if left "
            "out.",
            examples=["road_surface_temperature"],
        ),
    ] = None,
    start: Annotated[
        str | None,
        Query(
            max_length=40,
            description="Start of the range, inclusive: ISO 8601 with a time zone "
            "(`2026-01-15T00:00:00Z`). Default: one day before `end`.",
            examples=["2026-01-15T00:00:00Z"],
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    end: Annotated[
        str | None,
        Query(
            max_length=40,
            description="End of the range, exclusive: ISO 8601 with a time zone. Default: now.",
            examples=["2026-01-16T00:00:00Z"],
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    window: Annotated[
        str | None,
        Query(
            max_length=12,
            description="Aggregate per window of this length: a whole number and s, m, h, d or "
            "w (`15m`, `1h`, `1d`). Windows start at multiples of the window since "
            "1970-01-01T00:00Z; at most 10,000 windows per request.",
            examples=["15m"],
            json_schema_extra={"pattern": "^[1-9][0-9]{0,6}[smhdw]$"},
        ),
    ] = None,
    function: Annotated[
        AggregateFunction | None,
        Query(
            description="With `window`: mean (default), min, max or count per window.",
            examples=["mean"],
        ),
    ] = None,
    format: FormatParam = None,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_LIMIT, description="Most rows in one page.", examples=[1000]),
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            max_length=100,
            description="The `next` value of the previous page.",
            examples=["MToxNzY4NDQ2MDAwMDAwMDAwMDAwOjE"],
        ),
    ] = None,
    include_invalid: Annotated[
        bool,
        Query(
            description="Also return readings the plausibility rules rejected, with "
            "`valid: false` and the reason. Raw readings only.",
            examples=[False],
        ),
    ] = False,
) -> ReadingsParams:
    """The checked parameters. `async` only so FastAPI runs it without a thread hop: it
    does no I/O."""
    try:
        end_ns = parse_time("end", end) if end is not None else None
        start_ns = parse_time("start", start) if start is not None else None
        if end_ns is None:
            end_ns = now_ns(services)
        if start_ns is None:
            start_ns = end_ns - DEFAULT_RANGE_NS
        if end_ns <= start_ns:
            raise InvalidParameter(
                f"end ({format_time(end_ns)}) must be after start ({format_time(start_ns)})"
            )
        window_ns = parse_window(window) if window is not None else None
        if window is not None and window_ns is not None:
            check_window_count(window.strip(), window_ns, start_ns, end_ns)
            if include_invalid:
                raise InvalidParameter(
                    "include_invalid applies to raw readings: windows aggregate valid "
                    "readings only; leave out window or include_invalid"
                )
        elif function is not None:
            raise InvalidParameter(f"function={function} needs a window, e.g. window=15m")
        return ReadingsParams(
            quantity=parse_quantity(quantity) if quantity is not None else None,
            start_ns=start_ns,
            end_ns=end_ns,
            window=window.strip() if window is not None else None,
            window_ns=window_ns,
            function=(function or "mean") if window_ns is not None else None,
            limit=limit,
            cursor=Cursor.decode(cursor) if cursor is not None else None,
            include_invalid=include_invalid,
            csv=wants_csv(request, format),
        )
    except InvalidParameter as exc:
        raise HTTPException(422, detail=str(exc)) from exc


# -- pages ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    next: Cursor | None


def readings_page(store: ReadingStore, device_id: str, params: ReadingsParams) -> Page:
    """One page of a device's readings (raw or aggregated), oldest first."""
    if params.window_ns is not None and params.function is not None:
        return _cut(_aggregate_rows(store, device_id, params), params)
    return _raw_page(store, device_id, params)


def _read_from(params: ReadingsParams) -> int:
    """Where reading starts: the range's start, or the cursor's time on later pages."""
    if params.cursor is None:
        return params.start_ns
    return max(params.start_ns, params.cursor.time_ns)


def _after_cursor(rows: Sequence[Row], cursor: Cursor | None) -> tuple[list[Row], int]:
    """Rows without those at the cursor's time already shown; and how many were dropped."""
    if cursor is None:
        return list(rows), 0
    dropped = 0
    for row in rows:
        if row.time_ns != cursor.time_ns or dropped == cursor.shown_at_time:
            break
        dropped += 1
    return list(rows[dropped:]), dropped


def _next_cursor(page: Sequence[Row], cursor: Cursor | None, dropped: int) -> Cursor:
    last = page[-1].time_ns
    shown = sum(1 for row in page if row.time_ns == last)
    if cursor is not None and cursor.time_ns == last:
        shown += dropped
    return Cursor(last, shown)


def _cut(rows: list[Row], params: ReadingsParams) -> Page:
    """Aggregates are computed whole (at most MAX_WINDOWS per quantity), then cut."""
    rest, dropped = _after_cursor(rows, params.cursor)
    if len(rest) > params.limit:
        page = rest[: params.limit]
        return Page(page, _next_cursor(page, params.cursor, dropped))
    return Page(rest, None)


def _aggregate_rows(store: ReadingStore, device_id: str, params: ReadingsParams) -> list[Row]:
    """Every window's aggregate of each quantity from where reading starts, by time then name.

    A cursor's time is a window start, so reading again from it yields whole windows (the
    first window of the range may start before `start`: then reading starts at `start`).
    """
    window_ns, function = params.window_ns, params.function
    if window_ns is None or function is None:
        return []
    tags = {"device_id": device_id}
    start = _read_from(params)
    if start >= params.end_ns:
        return []
    if params.quantity is not None:
        quantities = [params.quantity]
    else:
        quantities = [
            name
            for name in store.field_names(READING, tags=tags, start_ns=start, end_ns=params.end_ns)
            if name in QUANTITIES
        ]
    aggregates = store.aggregate_fields(
        READING,
        quantities,
        function=function,
        window_ns=window_ns,
        start_ns=start,
        end_ns=params.end_ns,
        tags=tags,
    )
    rows = [
        Row(window, quantity, value)
        for quantity, windows in aggregates.items()
        for window, value in windows
    ]
    rows.sort(key=lambda row: (row.time_ns, row.quantity))
    return rows


def _raw_page(store: ReadingStore, device_id: str, params: ReadingsParams) -> Page:
    """Merge valid and flagged points by time; fetch more until a whole page is certain.

    Each stream is read `fetch` points at a time. When a stream returns that many, rows at
    or after its last time may be incomplete, so only earlier rows count; if they do not
    fill the page, `fetch` doubles. Readings at one instant stay in the store's stable order.
    """
    start = _read_from(params)
    shown = params.cursor.shown_at_time if params.cursor is not None else 0
    fetch = params.limit + shown + 1
    while True:
        rows: list[tuple[int, int, Row]] = []
        boundary: int | None = None
        for stream, points in enumerate(_raw_points(store, device_id, params, start, fetch)):
            if len(points) == fetch:
                last = points[-1].time_ns
                boundary = last if boundary is None else min(boundary, last)
            rows.extend((row.time_ns, stream, row) for point in points for row in _rows(point))
        rows.sort(key=lambda entry: (entry[0], entry[1]))  # stable: keeps each stream's order
        ordered = [row for time_ns, _, row in rows if boundary is None or time_ns < boundary]
        rest, dropped = _after_cursor(ordered, params.cursor)
        if len(rest) > params.limit:
            page = rest[: params.limit]
            return Page(page, _next_cursor(page, params.cursor, dropped))
        if boundary is None:
            return Page(rest, None)
        fetch *= 2


def _raw_points(
    store: ReadingStore, device_id: str, params: ReadingsParams, start: int, fetch: int
) -> list[list[Point]]:
    """Valid points (only those carrying the quantity), then flagged ones when asked for."""
    tags = {"device_id": device_id}
    fields = [params.quantity] if params.quantity is not None else None
    streams = [
        store.query(
            READING, tags=tags, start_ns=start, end_ns=params.end_ns, limit=fetch, fields=fields
        )
    ]
    if params.include_invalid:
        flagged_tags = {**tags, "quantity": params.quantity} if params.quantity else tags
        streams.append(
            store.query(
                FLAGGED, tags=flagged_tags, start_ns=start, end_ns=params.end_ns, limit=fetch
            )
        )
    return streams


def _rows(point: Point) -> list[Row]:
    """The rows of one stored point: one per quantity, or the one flagged reading."""
    if point.measurement == FLAGGED:
        value = point.fields.get("value")
        reason = point.fields.get("reason")
        return [
            Row(
                point.time_ns,
                point.tags.get("quantity", ""),
                value if isinstance(value, float) else None,
                False,
                str(reason) if reason is not None else "invalid",
            )
        ]
    return [
        Row(point.time_ns, name, value)
        for name, value in sorted(point.fields.items())
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


# -- bodies ---------------------------------------------------------------------------------


def reading_json(row: Row) -> dict[str, Any]:
    return {
        "time": format_time(row.time_ns),
        "quantity": row.quantity,
        "value": row.value,
        "unit": unit_of(row.quantity),
        "valid": row.valid,
        "reason": row.reason,
    }


def csv_row(device_id: str, row: Row) -> tuple[str, str, str, float | int | None, Any, bool, Any]:
    return (
        device_id,
        format_time(row.time_ns),
        row.quantity,
        row.value,
        unit_of(row.quantity),
        row.valid,
        row.reason,
    )


def page_response(
    request: Request,
    services: Services,
    device_id: str,
    params: ReadingsParams,
    page: Page,
) -> Any:
    """JSON (the ReadingsPage model) or CSV, with a `Link: <…>; rel="next"` when there is more."""
    headers: dict[str, str] = {}
    token = page.next.encode() if page.next is not None else None
    if token is not None:
        headers["Link"] = f'<{next_url(request, services, token, params)}>; rel="next"'
    if params.csv:
        return csv_response(
            CSV_COLUMNS,
            (csv_row(device_id, row) for row in page.rows),
            filename=f"{device_id}-readings.csv",
            headers=headers,
        )
    return json_response(
        {
            "device_id": device_id,
            "start": format_time(params.start_ns),
            "end": format_time(params.end_ns),
            "quantity": params.quantity,
            "window": params.window,
            "function": params.function,
            "readings": [reading_json(row) for row in page.rows],
            "next": token,
        },
        headers=headers,
    )


def next_url(request: Request, services: Services, token: str, params: ReadingsParams) -> str:
    """This request's URL for the next page, with the range pinned (a default `end` moves)."""
    url = request.url.include_query_params(
        cursor=token, start=format_time(params.start_ns), end=format_time(params.end_ns)
    )
    if services.public_base_url:
        base = services.public_base_url.rstrip("/")
        return f"{base}{url.path}?{url.query}"
    return str(url)


# -- latest ---------------------------------------------------------------------------------


def device_latest_json(
    device_id: str, point: Point | None, device: DeviceRecord | None
) -> dict[str, Any]:
    tags = point.tags if point is not None else {}
    return {
        "device_id": device_id,
        "name": device.name if device is not None else None,
        "domain": tags.get("domain") or (device.domain if device is not None else None),
        "route": tags.get("route") or (device.route_id if device is not None else None),
        "site": tags.get("site") or (device.site if device is not None else None),
        "time": format_time(point.time_ns) if point is not None else None,
        "readings": [reading_json(row) for row in _rows(point)] if point is not None else [],
    }


def render_latest(
    entries: Sequence[tuple[str, Point | None, DeviceRecord | None]],
    *,
    csv: bool,
    filename: str,
    single: bool,
) -> Rendered:
    """One device's latest (the DeviceLatest model) or many (LatestReadings), JSON or CSV."""
    if csv:
        return render_csv(
            CSV_COLUMNS,
            (
                csv_row(device_id, row)
                for device_id, point, _ in entries
                if point is not None
                for row in _rows(point)
            ),
            filename=filename,
        )
    devices = [device_latest_json(*entry) for entry in entries]
    return render_json(devices[0] if single else {"devices": devices})


def latest_of_devices(
    store: ReadingStore,
    cache: ReadingsCache,
    tags: Mapping[str, str] | None,
    *,
    public_only: bool,
    csv: bool,
) -> Response:
    """The latest reading of every device (or every public one) matching `tags`, from one
    store query, the finished body kept for the cache's `ttl`."""
    key = ("latest", public_only, tuple(sorted((tags or {}).items())), csv)

    def render() -> Rendered:
        snapshot = cache.devices()
        latest = store.latest(READING, tags=tags)
        known = snapshot.public if public_only else snapshot.devices
        return render_latest(
            [
                (device_id, latest[device_id], known.get(device_id))
                for device_id in sorted(latest)
                if not public_only or device_id in known
            ],
            csv=csv,
            filename="latest.csv",
            single=False,
        )

    return cache.bodies.get(key, render).response()


def latest_filters(
    domain: str | None, route: str | None, site: str | None
) -> dict[str, str] | None:
    tags = {key: value for key, value in (("domain", domain), ("route", route), ("site", site))}
    chosen = {key: value for key, value in tags.items() if value is not None}
    return chosen or None


# -- what the routes declare ----------------------------------------------------------------

Params = Annotated[ReadingsParams, Depends(readings_params)]
Cache = Annotated[ReadingsCache, Depends(readings_cache)]
DeviceId = Annotated[
    str,
    Path(
        min_length=2,
        max_length=36,
        pattern=DEVICE_ID_PATTERN,
        description="The device's id (TTN rules: lower-case a-z, 0-9 and '-', 2–36 long).",
        examples=["rst-a38-01"],
    ),
]

READINGS_CSV_EXAMPLE = (
    ",".join(CSV_COLUMNS) + "\r\n"
    "rst-a38-01,2026-01-15T03:10:00Z,battery_voltage,3.61,V,true,\r\n"
    "rst-a38-01,2026-01-15T03:10:00Z,road_surface_temperature,-1.25,°C,true,\r\n"
)
