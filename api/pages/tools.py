"""Engineer tools: register a device, import a devices CSV, register a sighted device, and
try a payload on a decoder. Engineers and admins only; every POST checks the form's CSRF
token and origin.

Each tool calls what the JSON API calls (the registry's `create_device` and
`apply_device_import`, `check_device_csv`, the decoders route's `try_payload`), so a
page refuses what the API refuses, with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from api.auth import Caller
from api.catalogue import check_device_csv
from api.csv_bodies import MAX_CSV_BYTES
from api.deps import ServicesDep
from api.pages.device_forms import LABELS, DeviceForm, register
from api.pages.devices import EngineerSignedIn, sighting_reason
from api.pages.session import CSRF_FIELD, check_form
from api.pages.templating import render
from api.routers.decoders import try_payload
from api.routers.sightings import sighting_draft
from api.schemas.registry import PayloadTrial, PayloadTrialResult, SightingDraft
from decoders import QUANTITIES, all_decoders
from storage.registry import (
    DEVICE_COLUMNS,
    DOMAINS,
    DeviceRow,
    ImportRejected,
    InvalidValue,
    Registry,
    RowError,
)
from storage.registry.validation import parse_field_map

router = APIRouter()

FormText = Annotated[str, Form()]


def _choices(registry: Registry) -> dict[str, Any]:
    """What the device form's selects offer."""
    return {
        "decoders": [
            (decoder.id, f"{decoder.id} — {decoder.vendor} {decoder.model}")
            for decoder in all_decoders()
        ],
        "domains": DOMAINS,
        "routes": [
            (route.route_id, f"{route.route_id}" + (f" — {route.name}" if route.name else ""))
            for route in registry.routes()
        ],
        "labels": LABELS,
        "quantities": sorted(QUANTITIES),
    }


# -- register a device ------------------------------------------------------------------------


@router.get("/devices/new", response_class=HTMLResponse)
def new_device(request: Request, services: ServicesDep, _: EngineerSignedIn) -> HTMLResponse:
    return render(
        request,
        "tools_register.html",
        {
            "title": "Register a device",
            "form": DeviceForm(),
            "problems": {},
            **_choices(services.registry),
        },
    )


@router.post("/devices/new", response_class=HTMLResponse)
def create_device(
    request: Request,
    services: ServicesDep,
    caller: EngineerSignedIn,
    form: Annotated[DeviceForm, Form()],
) -> Response:
    """Register, then go to the device's page; refused, show the form again with why."""
    check_form(request, form.csrf_token)
    outcome = register(services.registry, form, actor=caller.actor)
    if outcome.device is not None:
        return RedirectResponse(f"/devices/{outcome.device.device_id}", status_code=303)
    return render(
        request,
        "tools_register.html",
        {
            "title": "Register a device",
            "form": form,
            "problems": outcome.problems,
            **_choices(services.registry),
        },
        status_code=422,
    )


# -- register a sighting ----------------------------------------------------------------------


@router.get("/sightings/{device_id}/register", response_class=HTMLResponse)
def sighting_form(
    request: Request, services: ServicesDep, caller: EngineerSignedIn, device_id: str
) -> HTMLResponse:
    """The register form, filled in with what the uplinks told us."""
    found = _sighting(request, services, caller, device_id)
    if isinstance(found, HTMLResponse):
        return found
    draft = found
    candidates = draft.candidate_decoders
    form = DeviceForm(
        device_id=draft.sighting.device_id,
        dev_eui=draft.sighting.dev_eui or "",
        decoder=candidates[0] if len(candidates) == 1 else "",
    )
    return _sighting_page(request, services, draft, form, {})


@router.post("/sightings/{device_id}/register", response_class=HTMLResponse)
def register_sighting(
    request: Request,
    services: ServicesDep,
    caller: EngineerSignedIn,
    device_id: str,
    form: Annotated[DeviceForm, Form()],
) -> Response:
    """Register the sighted device; its id and application come from its uplinks."""
    check_form(request, form.csrf_token)
    found = _sighting(request, services, caller, device_id)
    if isinstance(found, HTMLResponse):
        return found
    draft = found
    form = form.model_copy(update={"device_id": draft.sighting.device_id})
    outcome = register(
        services.registry,
        form,
        actor=caller.actor,
        application_id=draft.sighting.application_id,
        origin="sighting",
    )
    if outcome.device is not None:
        return RedirectResponse(f"/devices/{outcome.device.device_id}", status_code=303)
    return _sighting_page(request, services, draft, form, outcome.problems, status_code=422)


def _sighting(
    request: Request, services: ServicesDep, caller: Caller, device_id: str
) -> SightingDraft | HTMLResponse:
    try:
        return sighting_draft(caller, device_id, services.registry)
    except HTTPException as missing:
        return render(
            request,
            "error.html",
            {"title": "No such unregistered device", "message": str(missing.detail)},
            status_code=404,
        )


def _sighting_page(
    request: Request,
    services: ServicesDep,
    draft: SightingDraft,
    form: DeviceForm,
    problems: dict[str, str],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    sighting = services.registry.sighting(draft.sighting.device_id)
    return render(
        request,
        "tools_sighting.html",
        {
            "title": f"Register {draft.sighting.device_id}",
            "draft": draft,
            "reason": sighting_reason(sighting) if sighting is not None else "",
            "form": form,
            "problems": problems,
            **_choices(services.registry),
        },
        status_code=status_code,
    )


# -- CSV import -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreviewRow:
    """One line of the file as the dry run sees it."""

    line: int
    device_id: str | None
    ok: bool
    what: str
    """For a good row, what applying it does; for a bad one, the reason."""


@router.get("/devices/import", response_class=HTMLResponse)
def import_form(request: Request, _: EngineerSignedIn) -> HTMLResponse:
    return _import_page(request, text="", preview=None)


@router.post("/devices/import", response_class=HTMLResponse)
async def import_devices(
    request: Request, services: ServicesDep, caller: EngineerSignedIn
) -> Response:
    """Check (dry run) or apply a devices CSV, uploaded or pasted; all or nothing."""
    try:
        form = await request.form(max_part_size=MAX_CSV_BYTES + 1)
    except MultiPartException as unreadable:
        return _import_page(
            request,
            text="",
            preview=None,
            problem=f"the form could not be read: {unreadable}",
            status_code=413,
        )
    token = form.get(CSRF_FIELD)
    check_form(request, token if isinstance(token, str) else None)
    text, problem = await _csv_text(form.get("csv_file"), form.get("csv_text"))
    if problem is not None:
        return _import_page(request, text="", preview=None, problem=problem, status_code=422)
    apply = form.get("action") == "apply"
    return await run_in_threadpool(_check_or_apply, request, services, caller, text, apply)


async def _csv_text(upload: object, pasted: object) -> tuple[str, str | None]:
    """The CSV from the uploaded file if one was chosen, else from the text box."""
    if isinstance(upload, UploadFile) and upload.filename:
        body = await upload.read(MAX_CSV_BYTES + 1)
        if len(body) > MAX_CSV_BYTES:
            return "", f"the file is over {MAX_CSV_BYTES // (1024 * 1024)} MiB: split it"
        try:
            return body.decode("utf-8-sig"), None
        except UnicodeDecodeError as bad:
            return "", (
                f"the file is not UTF-8 text (byte {bad.start}): save it as 'CSV UTF-8' "
                f"and upload it again"
            )
    text = pasted if isinstance(pasted, str) else ""
    if not text.strip():
        return "", "choose a CSV file or paste the CSV into the box"
    return text, None


def _check_or_apply(
    request: Request, services: ServicesDep, caller: Caller, text: str, apply: bool
) -> HTMLResponse:
    registry = services.registry
    parsed = check_device_csv(text, registry)
    preview = _preview(parsed.rows, parsed.errors, registry)
    if apply and not parsed.errors:
        try:
            applied = registry.apply_device_import(parsed.rows, actor=caller.actor)
        except ImportRejected as rejected:
            preview = _preview([], rejected.errors, registry)
            return _import_page(request, text=text, preview=preview, refused=True, status_code=422)
        return _import_page(request, text="", preview=preview, applied=applied)
    return _import_page(
        request,
        text=text,
        preview=preview,
        refused=apply,
        status_code=422 if apply else 200,
    )


def _preview(rows: list[DeviceRow], errors: list[RowError], registry: Registry) -> list[PreviewRow]:
    """Every row in line order: good ones saying what they will do, bad ones why."""
    known = {device.device_id for device in registry.devices()}
    shown = [PreviewRow(row.line, row.device_id, True, _does(row, known)) for row in rows]
    shown += [PreviewRow(error.line, error.row_id, False, error.reason) for error in errors]
    return sorted(shown, key=lambda row: (row.line, row.ok))


def _does(row: DeviceRow, known: set[str]) -> str:
    action = "updates the registered device" if row.device_id in known else "registers it"
    details = [row.decoder, row.domain]
    if row.route_id:
        details.append(f"route {row.route_id}")
    details.append("public" if row.public else "private")
    return f"{action} ({', '.join(details)})"


def _import_page(
    request: Request,
    *,
    text: str,
    preview: list[PreviewRow] | None,
    problem: str | None = None,
    refused: bool = False,
    applied: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    bad = [row for row in preview or [] if not row.ok]
    return render(
        request,
        "tools_import.html",
        {
            "title": "Import devices from CSV",
            "text": text,
            "preview": preview,
            "bad": bad,
            "good": [row for row in preview or [] if row.ok],
            "problem": problem,
            "refused": refused,
            "applied": applied,
            "columns": ",".join(DEVICE_COLUMNS),
            "max_mib": MAX_CSV_BYTES // (1024 * 1024),
        },
        status_code=status_code,
    )


# -- decoder test -----------------------------------------------------------------------------


@router.get("/tools/decoder", response_class=HTMLResponse)
def decoder_test(
    request: Request,
    caller: EngineerSignedIn,
    decoder: Annotated[str, Query(max_length=100)] = "",
    payload: Annotated[str, Query(alias="hex", max_length=2048)] = "",
    f_port: Annotated[str, Query(max_length=10)] = "",
    field_map: Annotated[str, Query(max_length=2000)] = "",
) -> HTMLResponse:
    """Decode a payload as a device with this decoder and field map would be decoded.

    A GET form: it changes nothing, and the address can be sent to a colleague.
    """
    problems: dict[str, str] = {}
    result = None
    if "hex" in request.query_params:  # the form was sent, not just opened
        result = _try(caller, decoder, payload, f_port, field_map, problems)
    choices = [
        (d.id, f"{d.id} — {d.vendor} {d.model}"
         + (f" (port {', '.join(str(p) for p in sorted(d.f_ports))})" if d.f_ports else ""))
        for d in all_decoders()
    ]  # fmt: skip
    return render(
        request,
        "tools_decoder.html",
        {
            "title": "Test a decoder",
            "decoders": choices,
            "values": {
                "decoder": decoder,
                "hex": payload,
                "f_port": f_port,
                "field_map": field_map,
            },
            "problems": problems,
            "result": result,
            "labels": {
                "decoder": "Decoder",
                "hex": "Payload (hex)",
                "f_port": "Port (FPort)",
                "field_map": "Field map",
            },
        },
        status_code=422 if problems else 200,
    )


def _try(
    caller: Caller,
    decoder: str,
    hex_text: str,
    f_port: str,
    field_map: str,
    problems: dict[str, str],
) -> PayloadTrialResult | None:
    """The API's own trial of the payload; its refusals land beside the fields."""
    mapping: dict[str, str] | None = None
    if field_map.strip():
        try:
            mapping = parse_field_map(field_map.strip(), QUANTITIES)
        except InvalidValue as problem:
            problems["field_map"] = str(problem)
    if not decoder:
        problems["decoder"] = "choose the decoder to try"
    if not hex_text.strip():
        problems["hex"] = "give the payload as hex bytes, e.g. 02 0a 39"
    try:
        trial = PayloadTrial.model_validate(
            {"hex": hex_text, "f_port": f_port.strip() or None, "field_map": mapping}
        )
    except ValidationError as invalid:
        for error in invalid.errors(include_url=False):
            name = str(error["loc"][0]) if error["loc"] else "hex"
            problems.setdefault(name, f"{name}: {error['msg']}")
        return None
    if problems:
        return None
    try:
        return try_payload(caller, decoder, trial)
    except HTTPException as refused:
        if refused.status_code == 404:
            problems["decoder"] = str(refused.detail)
        elif isinstance(refused.detail, list):
            for entry in refused.detail:
                problems[str(entry["loc"][-1])] = str(entry["msg"])
        else:
            problems["hex"] = str(refused.detail)
        return None
