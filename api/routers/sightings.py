"""Unregistered sightings: devices heard but not registered, and registering one in one step.

The uplinks already say the device_id, usually the DevEUI, and the application; the
draft pre-fills those and lists the decoders that can read the latest payload, so
the engineer supplies only what uplinks cannot tell (decoder, domain, route, place).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api.auth import Engineer
from api.catalogue import decoder_catalogue
from api.deps import RegistryDep
from api.refusals import KEY_NEEDED, conflict, invalid, not_found, registry_refusals
from api.schemas.registry import (
    Device,
    DeviceDraftInfo,
    SightingDraft,
    SightingInfo,
    SightingList,
    SightingRegistration,
)
from decoders import DecodeError, UnknownDecoder, all_decoders, decode
from storage.registry import DeviceDraft, FieldProblem, SightingRecord

router = APIRouter(prefix="/sightings", tags=["devices"], responses=KEY_NEEDED)

NO_SIGHTING = not_found("unregistered sighting")


@router.get("", summary="Unregistered devices heard", response_model=SightingList)
def list_sightings(_: Engineer, registry: RegistryDep) -> SightingList:
    """Devices whose uplinks arrive but that are not registered (by device_id or DevEUI),
    most recently heard first, with how many uplinks and the latest payload."""
    sightings = registry.sightings()
    return SightingList(count=len(sightings), sightings=[_info(s) for s in sightings])


@router.get(
    "/{device_id}",
    summary="A sighting and its registration draft",
    response_model=SightingDraft,
    responses=NO_SIGHTING,
)
def sighting_draft(_: Engineer, device_id: str, registry: RegistryDep) -> SightingDraft:
    """What the uplinks told us about an unregistered device, pre-filled for registering it,
    and which decoders read its latest payload without an error."""
    sighting = _sighting(registry, device_id)
    needed = ["decoder", "domain"] + ([] if sighting.dev_eui else ["dev_eui"])
    return SightingDraft(
        sighting=_info(sighting),
        draft=DeviceDraftInfo(
            device_id=sighting.device_id,
            dev_eui=sighting.dev_eui,
            application_id=sighting.application_id,
        ),
        needed=needed,
        candidate_decoders=_decoders_that_read(sighting),
    )


@router.post(
    "/{device_id}/register",
    summary="Register a sighted device",
    response_model=Device,
    status_code=status.HTTP_201_CREATED,
    responses={**NO_SIGHTING, **conflict("The DevEUI is already registered to another device")},
)
def register_sighting(
    caller: Engineer, device_id: str, registration: SightingRegistration, registry: RegistryDep
) -> Device:
    """Register the device with the device_id, DevEUI and application its uplinks carried
    plus what the body adds. A `dev_eui` in the body wins over the uplinks' (and is needed
    when they carried none). Audited with origin `sighting`."""
    sighting = _sighting(registry, device_id)
    values = registration.model_dump()
    dev_eui = values.pop("dev_eui") or sighting.dev_eui
    if not dev_eui:
        raise invalid(
            [
                FieldProblem(
                    "dev_eui",
                    "dev_eui is missing: the uplinks carried no DevEUI, so give the device's "
                    "16-hex-digit DevEUI",
                )
            ]
        )
    draft = DeviceDraft(
        device_id=sighting.device_id,
        dev_eui=dev_eui,
        application_id=sighting.application_id,
        **values,
    )
    with registry_refusals():
        record = registry.create_device(
            draft, actor=caller.actor, catalogue=decoder_catalogue(), origin="sighting"
        )
    return Device.of(record)


def _sighting(registry: RegistryDep, device_id: str) -> SightingRecord:
    sighting = registry.sighting(device_id)
    if sighting is None:
        raise HTTPException(
            404,
            detail=f"no unregistered device '{device_id}' has been heard "
            f"(it may be registered already: GET /api/v1/devices/{device_id})",
        )
    return sighting


def _decoders_that_read(sighting: SightingRecord) -> list[str]:
    """Decoders that turn the latest payload on its port into at least one reading."""
    found = []
    for decoder in all_decoders():
        try:
            decoded = decode(decoder.id, sighting.payload, sighting.f_port)
        except (DecodeError, UnknownDecoder):
            continue
        if decoded.readings:
            found.append(decoder.id)
    return found


def _info(sighting: SightingRecord) -> SightingInfo:
    return SightingInfo(
        network=sighting.network,
        device_id=sighting.device_id,
        application_id=sighting.application_id,
        dev_eui=sighting.dev_eui,
        f_port=sighting.f_port,
        payload_hex=sighting.payload.hex(),
        count=sighting.count,
        first_seen=sighting.first_seen,
        last_seen=sighting.last_seen,
    )
