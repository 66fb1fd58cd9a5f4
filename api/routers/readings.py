"""Readings of any registered device, public or not: for holders of any API key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from api.auth import AnyKey
from api.csv_responses import csv_openapi, wants_csv
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
from api.schemas.readings import DeviceLatest, LatestReadings, ReadingsError, ReadingsPage
from storage.registry import Domain

router = APIRouter(tags=["readings"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ReadingsError, "description": "No API key, or one that is not valid"},
    404: {"model": ReadingsError, "description": "No device with this id is registered"},
    422: {"model": ReadingsError, "description": "A parameter is wrong; the detail says how"},
}
LATEST_ERRORS: dict[int | str, dict[str, Any]] = {code: ERRORS[code] for code in (401, 422)}


@router.get(
    "/devices/{device_id}/readings",
    summary="A device's readings",
    response_model=ReadingsPage,
    responses={
        **csv_openapi("Readings as JSON, or CSV (`Accept: text/csv` or `format=csv`)",
                      READINGS_CSV_EXAMPLE),
        **ERRORS,
    },
)  # fmt: skip
def device_readings(
    _: AnyKey,
    device_id: DeviceId,
    params: Params,
    request: Request,
    services: ServicesDep,
    cache: Cache,
) -> Any:
    """Raw readings of one device, oldest first, or one aggregate per window.

    * **Raw**: every reading in `[start, end)` (default: the last 24 hours), one row per
      quantity per uplink, each with its unit. `include_invalid=true` adds readings the
      plausibility rules rejected, with `valid: false` and the reason.
    * **Aggregated**: `window=15m` (or `1h`, `1d` …) and `function=mean|min|max|count`;
      windows start at whole multiples of the window since the epoch (like InfluxQL's
      `GROUP BY time()`), so the first may start before `start`. Empty windows are left out.

    Pages hold at most `limit` rows; when there are more, `next` holds a cursor and the
    `Link` header the URL of the next page.
    """
    if device_id not in cache.devices().devices and services.registry.device(device_id) is None:
        raise HTTPException(404, detail=f"no device {device_id!r} is registered")
    page = readings_page(services.store, device_id, params)
    return page_response(request, services, device_id, params, page)


@router.get(
    "/devices/{device_id}/readings/latest",
    summary="A device's latest reading",
    response_model=DeviceLatest,
    responses={
        **csv_openapi("The latest reading as JSON, or CSV", READINGS_CSV_EXAMPLE),
        **ERRORS,
    },
)
def device_latest(
    _: AnyKey,
    device_id: DeviceId,
    request: Request,
    services: ServicesDep,
    format: FormatParam = None,
) -> Any:
    """Every quantity of the device's newest uplink, at that uplink's time.

    `time` is null and `readings` empty when the device has sent nothing yet.
    """
    device = services.registry.device(device_id)
    if device is None:
        raise HTTPException(404, detail=f"no device {device_id!r} is registered")
    point = services.store.latest(READING, tags={"device_id": device_id}).get(device_id)
    return render_latest(
        [(device_id, point, device)],
        csv=wants_csv(request, format),
        filename=f"{device_id}-latest.csv",
        single=True,
    ).response()


@router.get(
    "/readings/latest",
    summary="The latest reading of every device",
    response_model=LatestReadings,
    responses={
        **csv_openapi("Latest readings as JSON, or CSV", READINGS_CSV_EXAMPLE),
        **LATEST_ERRORS,
    },
)
def all_latest(
    _: AnyKey,
    request: Request,
    services: ServicesDep,
    cache: Cache,
    domain: Annotated[
        Domain | None, Query(description="Only devices of this domain.", examples=["road"])
    ] = None,
    route: RouteFilter = None,
    site: SiteFilter = None,
    format: FormatParam = None,
) -> Any:
    """The newest reading of each device that has sent one, ordered by device id.

    `domain`, `route` and `site` match the labels each reading was stored with. The answer
    may be a few seconds old (it is shared between callers).
    """
    return latest_of_devices(
        services.store,
        cache,
        latest_filters(domain, route, site),
        public_only=False,
        csv=wants_csv(request, format),
    )
