"""Open data: devices marked public and their readings, for anyone, no key needed.

Pupils and hackathon teams read these from a browser or a ten-line script
(docs/open-data.md). A device that is not public does not exist here: every answer
about it is the same 404 as for an id nobody registered.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from api.auth import CallerDep
from api.csv_responses import (
    Rendered,
    csv_openapi,
    json_response,
    render_csv,
    render_json,
    wants_csv,
)
from api.deps import ServicesDep
from api.readings_pages import (
    READING,
    READINGS_CSV_EXAMPLE,
    Cache,
    DeviceId,
    FormatParam,
    Params,
    RouteFilter,
    SiteFilter,
    latest_filters,
    latest_of_devices,
    page_response,
    readings_page,
    render_latest,
)
from api.schemas.readings import (
    DeviceLatest,
    LatestReadings,
    OpenDevice,
    OpenDevices,
    ReadingsError,
    ReadingsPage,
    format_time,
)
from storage import Point
from storage.registry import DeviceRecord, Domain

router = APIRouter(prefix="/open", tags=["open data"])

DEVICES_CSV_COLUMNS = (
    "device_id", "name", "domain", "owner", "latitude", "longitude", "quantities",
    "latest_reading_at",
)  # fmt: skip
DEVICES_CSV_EXAMPLE = (
    ",".join(DEVICES_CSV_COLUMNS) + "\r\n"
    'aq-school-07,"Greenfield Primary, playground",air,Greenfield Primary,52.9548,-1.1581,'
    "air_temperature;pm2_5;relative_humidity,2026-01-15T03:10:00Z\r\n"
)
BAD_PARAMETER: dict[int | str, dict[str, Any]] = {
    401: {"model": ReadingsError, "description": "An API key was sent and is not valid"},
    422: {"model": ReadingsError, "description": "A parameter is wrong; the detail says how"},
    429: {
        "model": ReadingsError,
        "description": "Too many requests from this address; wait `Retry-After` seconds",
    },
}
NOT_PUBLIC: dict[int | str, dict[str, Any]] = {
    **BAD_PARAMETER,
    404: {"model": ReadingsError, "description": "No public device with this id"},
}


def public_device(services: ServicesDep, device_id: DeviceId) -> DeviceRecord:
    """The device when it is public; else the 404 an unknown id gets, word for word."""
    device = services.registry.device(device_id)
    if device is None or not device.public:
        raise HTTPException(404, detail=f"no public device {device_id!r}")
    return device


PublicDevice = Annotated[DeviceRecord, Depends(public_device)]


def open_device_json(device: DeviceRecord, point: Point | None) -> dict[str, Any]:
    location = None
    if device.latitude is not None and device.longitude is not None:
        location = {"latitude": device.latitude, "longitude": device.longitude}
    quantities = (
        sorted(
            name
            for name, value in point.fields.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        )
        if point is not None
        else []
    )
    return {
        "device_id": device.device_id,
        "name": device.name,
        "domain": device.domain,
        "owner": device.owner,
        "location": location,
        "quantities": quantities,
        "latest_reading_at": format_time(point.time_ns) if point is not None else None,
    }


@router.get(
    "/devices",
    summary="Public devices",
    response_model=OpenDevices,
    responses={
        **csv_openapi("Public devices as JSON, or CSV", DEVICES_CSV_EXAMPLE),
        **BAD_PARAMETER,
    },
)
def open_devices(
    _: CallerDep,
    request: Request,
    services: ServicesDep,
    cache: Cache,
    domain: Annotated[
        Domain | None, Query(description="Only devices of this domain.", examples=["air"])
    ] = None,
    format: FormatParam = None,
) -> Any:
    """Every device marked public: who runs it, where it is, what it measures, when it last
    sent a reading. No key needed. The list may be a few seconds old (it is shared between
    callers)."""
    csv = wants_csv(request, format)

    def render() -> Rendered:
        public = cache.devices().public
        latest = services.store.latest(READING) if public else {}
        devices = [
            open_device_json(public[device_id], latest.get(device_id))
            for device_id in sorted(public)
            if domain is None or public[device_id].domain == domain
        ]
        if not csv:
            return render_json({"devices": devices})
        return render_csv(
            DEVICES_CSV_COLUMNS,
            (
                (
                    device["device_id"],
                    device["name"],
                    device["domain"],
                    device["owner"],
                    device["location"]["latitude"] if device["location"] else None,
                    device["location"]["longitude"] if device["location"] else None,
                    ";".join(device["quantities"]),
                    device["latest_reading_at"],
                )
                for device in devices
            ),
            filename="devices.csv",
        )

    return cache.bodies.get(("open devices", domain, csv), render).response()


@router.get(
    "/devices/{device_id}",
    summary="One public device",
    response_model=OpenDevice,
    responses=NOT_PUBLIC,
)
def open_device(
    _: CallerDep, device_id: DeviceId, device: PublicDevice, services: ServicesDep
) -> Any:
    """Who runs the device, where it is, what it measures and when it last sent a reading."""
    point = services.store.latest(READING, tags={"device_id": device_id}).get(device_id)
    return json_response(open_device_json(device, point))


@router.get(
    "/devices/{device_id}/readings",
    summary="A public device's readings",
    response_model=ReadingsPage,
    responses={
        **csv_openapi("Readings as JSON, or CSV (`Accept: text/csv` or `format=csv`)",
                      READINGS_CSV_EXAMPLE),
        **NOT_PUBLIC,
    },
)  # fmt: skip
def open_device_readings(
    _: CallerDep,
    device_id: DeviceId,
    device: PublicDevice,
    params: Params,
    request: Request,
    services: ServicesDep,
) -> Any:
    """Raw readings, oldest first, or one aggregate per window: the same options and shape
    as for keyed callers.

    * `start`, `end`: ISO 8601 with a time zone; default the last 24 hours.
    * `quantity`: one quantity (e.g. `air_temperature`), or all.
    * `window=1h&function=mean`: one mean (or min, max, count) per hour instead.
    * `format=csv`: a CSV a spreadsheet opens.
    * More than `limit` rows: follow `next` (or the `Link` header).
    """
    page = readings_page(services.store, device.device_id, params)
    return page_response(request, services, device.device_id, params, page)


@router.get(
    "/devices/{device_id}/readings/latest",
    summary="A public device's latest reading",
    response_model=DeviceLatest,
    responses={**csv_openapi("The latest reading as JSON, or CSV", READINGS_CSV_EXAMPLE),
               **NOT_PUBLIC},
)  # fmt: skip
def open_device_latest(
    _: CallerDep,
    device_id: DeviceId,
    device: PublicDevice,
    request: Request,
    services: ServicesDep,
    format: FormatParam = None,
) -> Any:
    """Every quantity of the device's newest uplink, at that uplink's time."""
    point = services.store.latest(READING, tags={"device_id": device_id}).get(device_id)
    return render_latest(
        [(device_id, point, device)],
        csv=wants_csv(request, format),
        filename=f"{device_id}-latest.csv",
        single=True,
    ).response()


@router.get(
    "/readings/latest",
    summary="The latest reading of every public device",
    response_model=LatestReadings,
    responses={
        **csv_openapi("Latest readings as JSON, or CSV", READINGS_CSV_EXAMPLE),
        **BAD_PARAMETER,
    },
)
def open_latest(
    _: CallerDep,
    request: Request,
    services: ServicesDep,
    cache: Cache,
    domain: Annotated[
        Domain | None, Query(description="Only devices of this domain.", examples=["air"])
    ] = None,
    route: RouteFilter = None,
    site: SiteFilter = None,
    format: FormatParam = None,
) -> Any:
    """The newest reading of each public device that has sent one, ordered by device id.

    The answer may be a few seconds old (it is shared between callers)."""
    return latest_of_devices(
        services.store,
        cache,
        latest_filters(domain, route, site),
        public_only=True,
        csv=wants_csv(request, format),
    )
