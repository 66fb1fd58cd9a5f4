"""Devices: list, read, register, change and retire them; import and export the CSV.

Reads need any key; changes need an engineer's. The registry checks every value
with the CSV import's rules, so the API and `wherry devices import` refuse the same
device with the same message. Refusals keep FastAPI's 422 shape (`detail` is a list
of `{loc, msg, type}`), so a client handles one kind of validation error.

CSV bodies and responses live in api/csv_bodies.py, refusals in api/refusals.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from api.auth import AnyKey, Engineer
from api.catalogue import check_device_csv, decoder_catalogue
from api.csv_bodies import (
    CsvBody,
    csv_request_body,
    csv_response,
    csv_response_doc,
    import_refused,
    import_report,
    number_cell,
)
from api.deps import RegistryDep, ServicesDep
from api.refusals import KEY_NEEDED, conflict, not_found, registry_refusals
from api.schemas.registry import (
    Device,
    DeviceChanges,
    DeviceList,
    DomainName,
    ImportReport,
    NewDevice,
    StatusName,
)
from storage import ReadingStore
from storage.registry import (
    DEVICE_COLUMNS,
    DeviceDraft,
    DeviceRecord,
    ImportRejected,
    format_field_map,
)

MINUTE_NS = 60 * 1_000_000_000


# -- silence ---------------------------------------------------------------------------------


def silent(
    devices: Sequence[DeviceRecord], store: ReadingStore, now: datetime, minutes: int
) -> list[DeviceRecord]:
    """Devices whose latest uplink is more than `minutes` old, or that were never heard."""
    latest = store.latest("uplink")
    now_ns = int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1000
    cutoff = now_ns - minutes * MINUTE_NS
    heard = {device_id for device_id, point in latest.items() if point.time_ns >= cutoff}
    return [device for device in devices if device.device_id not in heard]


# -- routes ----------------------------------------------------------------------------------

router = APIRouter(prefix="/devices", tags=["devices"], responses=KEY_NEEDED)

DEVICES_CSV_EXAMPLE = (
    ",".join(DEVICE_COLUMNS) + "\n"
    "rst-bank-road-lower,70b3d57ba0000a11,Bank Road (lower),decentlab-dl-ds18,road,"
    "matlock-bank,53.13905,-1.55452,false,Highways,temperature=road_surface_temperature\n"
)
_TAKEN = conflict("The device_id or DevEUI is already registered")


@router.get("", summary="List devices", response_model=DeviceList)
def list_devices(
    _: AnyKey,
    services: ServicesDep,
    domain: Annotated[DomainName | None, Query(description="Only this domain.")] = None,
    route: Annotated[str | None, Query(description="Only devices on this route_id.")] = None,
    owner: Annotated[str | None, Query(description="Only this owner (exact).")] = None,
    status: Annotated[StatusName | None, Query(description="active or retired.")] = None,
    public: Annotated[bool | None, Query(description="Only public, or only private.")] = None,
    silent_minutes: Annotated[
        int | None,
        Query(
            ge=1,
            le=525_600,
            description="Only devices with no uplink for more than this many minutes "
            "(devices never heard from count as silent).",
            examples=[120],
        ),
    ] = None,
) -> DeviceList:
    """Registered devices ordered by id, retired ones too unless `status` says otherwise.

    Filters combine: `?domain=road&status=active&silent_minutes=120` lists the active
    road sensors not heard from for two hours, the check before a gritting run.
    """
    devices = services.registry.devices(
        domain=domain, route_id=route, owner=owner, status=status, public=public
    )
    if silent_minutes is not None:
        devices = silent(devices, services.store, services.clock(), silent_minutes)
    return DeviceList(count=len(devices), devices=[Device.of(d) for d in devices])


@router.get(
    "/export.csv",
    summary="Export devices as CSV",
    response_class=Response,
    responses=csv_response_doc(
        DEVICES_CSV_EXAMPLE, "The import's columns: edit the file and import it again"
    ),
)
def export_devices(
    _: AnyKey,
    registry: RegistryDep,
    domain: Annotated[DomainName | None, Query()] = None,
    route: Annotated[str | None, Query()] = None,
    owner: Annotated[str | None, Query()] = None,
    status: Annotated[StatusName | None, Query()] = None,
    public: Annotated[bool | None, Query()] = None,
) -> Response:
    """Devices (filtered like the list) in exactly the columns `POST /devices/import` reads.

    Export, edit, import: rows left alone change nothing. Columns the CSV does not
    carry (join_eui, site, application_id, notes, status) keep their values on import.
    """
    devices = registry.devices(
        domain=domain, route_id=route, owner=owner, status=status, public=public
    )
    return csv_response(DEVICE_COLUMNS, [_device_cells(d) for d in devices], "devices.csv")


@router.post(
    "/import",
    summary="Import devices from CSV",
    response_model=ImportReport,
    openapi_extra={"requestBody": csv_request_body(DEVICES_CSV_EXAMPLE)},
)
def import_devices(
    caller: Engineer,
    registry: RegistryDep,
    text: CsvBody,
    dry_run: Annotated[
        bool, Query(description="Check every row and change nothing.", examples=[True])
    ] = False,
) -> ImportReport:
    """Create or update devices from a CSV (`text/csv`, or JSON `{"csv": "…"}`).

    Columns: `device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,
    owner,field_map` (see docs/registry.md). `?dry_run=true` reports every bad row with
    its line number and reason and changes nothing. Otherwise the file is applied all
    or nothing: one bad row and the answer is 422 listing every bad row, with no device
    changed. Every change is in the audit log under your key.
    """
    parsed = check_device_csv(text, registry)
    if dry_run:
        return import_report(
            dry_run=True, valid_rows=len(parsed.rows), errors=parsed.errors, applied=0
        )
    if parsed.errors:
        raise import_refused(parsed.errors)
    try:
        applied = registry.apply_device_import(parsed.rows, actor=caller.actor)
    except ImportRejected as rejected:
        raise import_refused(rejected.errors) from rejected
    return import_report(dry_run=False, valid_rows=len(parsed.rows), errors=[], applied=applied)


@router.get(
    "/{device_id}",
    summary="One device",
    response_model=Device,
    responses=not_found("device"),
)
def get_device(_: AnyKey, device_id: str, registry: RegistryDep) -> Device:
    """A registered device, retired or not."""
    record = registry.device(device_id)
    if record is None:
        raise HTTPException(404, detail=f"no device '{device_id}' is registered")
    return Device.of(record)


@router.post(
    "",
    summary="Register a device",
    response_model=Device,
    status_code=status.HTTP_201_CREATED,
    responses=_TAKEN,
)
def create_device(caller: Engineer, device: NewDevice, registry: RegistryDep) -> Device:
    """Register one device. Every broken rule comes back at once (422, one entry per
    field); a device_id or DevEUI already registered is a 409 naming the device that has it."""
    with registry_refusals():
        record = registry.create_device(
            DeviceDraft(**device.model_dump()),
            actor=caller.actor,
            catalogue=decoder_catalogue(),
        )
    return Device.of(record)


@router.patch(
    "/{device_id}",
    summary="Change a device",
    response_model=Device,
    responses={**not_found("device"), **_TAKEN},
)
def update_device(
    caller: Engineer, device_id: str, changes: DeviceChanges, registry: RegistryDep
) -> Device:
    """Change only the fields sent; `null` clears an optional one. The device as changed
    must pass every rule. `{"status": "active"}` brings a retired device back."""
    with registry_refusals():
        record = registry.update_device(
            device_id,
            changes.model_dump(exclude_unset=True),
            actor=caller.actor,
            catalogue=decoder_catalogue(),
        )
    return Device.of(record)


@router.post(
    "/{device_id}/retire",
    summary="Retire a device",
    response_model=Device,
    responses=not_found("device"),
)
def retire_device(caller: Engineer, device_id: str, registry: RegistryDep) -> Device:
    """The bridge stops reading the device's uplinks. It stays in the registry with its
    readings and DevEUI; retiring it again changes nothing."""
    with registry_refusals():
        return Device.of(registry.retire_device(device_id, actor=caller.actor))


def _device_cells(device: DeviceRecord) -> list[str]:
    return [
        device.device_id,
        device.dev_eui,
        device.name or "",
        device.decoder,
        device.domain,
        device.route_id or "",
        number_cell(device.latitude),
        number_cell(device.longitude),
        "true" if device.public else "false",
        device.owner or "",
        format_field_map(device.field_map),
    ]
