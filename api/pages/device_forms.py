"""A device as typed into a page's form, handed to the registry exactly as the API hands it.

Form fields arrive as text. Coordinates and the field map are read with the CSV import's
own text rules (`parse_coordinate`, `parse_field_map`), everything else goes to
`Registry.create_device` as typed, so the page refuses what the API and the CSV import
refuse, with the same message, placed beside the field it concerns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from pydantic import BaseModel

from api.catalogue import decoder_catalogue
from storage.registry import (
    AlreadyRegistered,
    ChangeRejected,
    DeviceDraft,
    DeviceRecord,
    FieldProblem,
    InvalidValue,
    Registry,
)
from storage.registry.drafts import checked_device
from storage.registry.validation import parse_coordinate, parse_field_map

LABELS: Mapping[str, str] = {
    "device_id": "Device id",
    "dev_eui": "DevEUI",
    "join_eui": "JoinEUI",
    "name": "Name",
    "decoder": "Decoder",
    "field_map": "Field map",
    "domain": "Domain",
    "route_id": "Route",
    "latitude": "Latitude",
    "longitude": "Longitude",
    "owner": "Owner",
    "site": "Site",
    "public": "Open data",
    "notes": "Notes",
    "application_id": "Application",
    "status": "Status",
}
"""Field names as the form shows them, in the form's order (the error summary's order)."""


class DeviceForm(BaseModel):
    """The register form's fields, every one as the text the browser sent."""

    csrf_token: str = ""
    device_id: str = ""
    dev_eui: str = ""
    join_eui: str = ""
    name: str = ""
    decoder: str = ""
    domain: str = ""
    route_id: str = ""
    latitude: str = ""
    longitude: str = ""
    public: str = ""
    owner: str = ""
    site: str = ""
    field_map: str = ""
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """A registered device, or the problems by field (several joined) and nothing written."""

    device: DeviceRecord | None
    problems: dict[str, str]


def register(
    registry: Registry,
    form: DeviceForm,
    *,
    actor: str,
    application_id: str | None = None,
    origin: str = "edit",
) -> Outcome:
    """Register the device the form describes, or say beside each field what is wrong."""
    draft, early = _draft(form, application_id)
    if early:
        # The text could not even be read: collect the registry's other complaints
        # without writing anything, so the whole form is fixed in one go.
        try:
            checked_device(draft, decoder_catalogue())
        except ChangeRejected as rejected:
            early += [p for p in rejected.problems if p.field not in {e.field for e in early}]
        return Outcome(None, by_field(early))
    try:
        record = registry.create_device(
            draft, actor=actor, catalogue=decoder_catalogue(), origin=origin
        )
    except ChangeRejected as rejected:
        return Outcome(None, by_field(rejected.problems))
    except AlreadyRegistered as taken:
        field = "device_id" if taken.owner == draft.device_id.strip() else "dev_eui"
        return Outcome(None, {field: str(taken)})
    return Outcome(record, {})


def by_field(problems: list[FieldProblem]) -> dict[str, str]:
    """Reasons by field, in the form's order (several for one field joined)."""
    found: dict[str, list[str]] = {}
    for problem in problems:
        found.setdefault(problem.field, []).append(problem.reason)
    order = list(LABELS)
    fields = sorted(found, key=lambda name: order.index(name) if name in order else len(order))
    return {field: "; ".join(found[field]) for field in fields}


def _draft(form: DeviceForm, application_id: str | None) -> tuple[DeviceDraft, list[FieldProblem]]:
    problems: list[FieldProblem] = []

    def coordinate(kind: str, text: str, limit: float) -> float | None:
        try:
            return parse_coordinate(kind, text.strip(), limit)
        except InvalidValue as problem:
            problems.append(FieldProblem(kind, str(problem)))
            return None

    try:
        field_map = parse_field_map(form.field_map.strip(), decoder_catalogue().quantities)
    except InvalidValue as problem:
        problems.append(FieldProblem("field_map", str(problem)))
        field_map = {}
    draft = DeviceDraft(
        device_id=form.device_id,
        dev_eui=form.dev_eui,
        decoder=form.decoder,
        domain=form.domain,
        name=_optional(form.name),
        join_eui=_optional(form.join_eui),
        route_id=_optional(form.route_id),
        latitude=coordinate("latitude", form.latitude, 90),
        longitude=coordinate("longitude", form.longitude, 180),
        public=form.public.lower() in {"on", "true", "yes", "1"},
        owner=_optional(form.owner),
        field_map=field_map,
        site=_optional(form.site),
        application_id=application_id,
        notes=_optional(form.notes),
    )
    if problems and any(p.field in {"latitude", "longitude"} for p in problems):
        # One unreadable coordinate must not also be reported as "given without the other".
        draft = replace(draft, latitude=None, longitude=None)
    return draft, problems


def _optional(text: str) -> str | None:
    return text.strip() or None
