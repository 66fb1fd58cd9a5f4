"""One device or route as an editor (the API, a script) asks for it, and the rules it must meet.

The rules are `validation`'s, so the API and a CSV import refuse the same value with
the same message. Every broken rule is collected, each with the field it concerns,
so a request is fixed in one go. What exists outside the registry (decoders,
quantities, the decoder's own check of a field map) comes in as a `Catalogue`,
keeping `storage` free of `decoders`.
"""

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from storage.registry.errors import ChangeRejected
from storage.registry.records import DEVICE_STATUSES, DeviceStatus, FieldProblem
from storage.registry.validation import (
    InvalidValue,
    check_field_map_entries,
    parse_coordinate,
    parse_decoder,
    parse_dev_eui,
    parse_domain,
    parse_identifier,
    parse_join_eui,
    parse_length_km,
    parse_measure,
    parse_policy,
    parse_priority,
    parse_text,
)

T = TypeVar("T")

FieldMapCheck = Callable[[str, Mapping[str, str]], str | None]
"""(decoder id, field map) → why the decoder cannot honour the map, or None when it can."""

MAX_NOTES = 2000


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The decoders and quantities a device may name, and the decoders' own field-map check."""

    decoders: Collection[str]
    quantities: Collection[str]
    field_map_problem: FieldMapCheck | None = None


@dataclass(frozen=True, slots=True)
class DeviceDraft:
    """A device to create, or the whole of one after an edit. Values are checked, not trusted."""

    device_id: str
    dev_eui: str
    decoder: str
    domain: str
    name: str | None = None
    join_eui: str | None = None
    route_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    public: bool = False
    owner: str | None = None
    field_map: Mapping[str, str] = field(default_factory=dict)
    site: str | None = None
    application_id: str | None = None
    notes: str | None = None
    status: str = "active"


@dataclass(frozen=True, slots=True)
class RouteDraft:
    """A route to create, or the whole of one after an edit."""

    route_id: str
    length_km: float
    priority: int
    name: str | None = None
    area: str | None = None
    policy: Mapping[str, object] = field(default_factory=dict)
    spread_rate_g_m2: float | None = None
    width_m: float | None = None


DEVICE_FIELDS = frozenset(each.name for each in fields(DeviceDraft))
ROUTE_FIELDS = frozenset(each.name for each in fields(RouteDraft))


def checked_device(draft: DeviceDraft, catalogue: Catalogue) -> DeviceDraft:
    """`draft` with every value in its clean form (DevEUI lower case, …); ChangeRejected else."""
    problems: list[FieldProblem] = []
    check = _Checker(problems)
    lat, lon = draft.latitude, draft.longitude
    clean = DeviceDraft(
        device_id=check(
            "device_id", lambda: parse_identifier("device_id", _text("device_id", draft.device_id))
        ),
        dev_eui=check("dev_eui", lambda: parse_dev_eui(_text("dev_eui", draft.dev_eui))),
        decoder=check(
            "decoder", lambda: parse_decoder(_text("decoder", draft.decoder), catalogue.decoders)
        ),
        domain=check("domain", lambda: parse_domain(_text("domain", draft.domain))),
        name=check("name", lambda: _free_text("name", draft.name)),
        join_eui=check("join_eui", lambda: parse_join_eui(_text("join_eui", draft.join_eui or ""))),
        route_id=check("route_id", lambda: _route_reference(draft.route_id)),
        latitude=check("latitude", lambda: _coordinate("latitude", lat, 90)),
        longitude=check("longitude", lambda: _coordinate("longitude", lon, 180)),
        public=check("public", lambda: _flag("public", draft.public)),
        owner=check("owner", lambda: _free_text("owner", draft.owner)),
        field_map=check("field_map", lambda: _field_map(draft.field_map, catalogue.quantities)),
        site=check("site", lambda: _free_text("site", draft.site)),
        application_id=check(
            "application_id", lambda: _free_text("application_id", draft.application_id)
        ),
        notes=check("notes", lambda: _free_text("notes", draft.notes, MAX_NOTES)),
        status=check("status", lambda: _status(draft.status)),
    )
    if (lat is None) != (lon is None):
        given, absent = ("latitude", "longitude") if lon is None else ("longitude", "latitude")
        problems.append(
            FieldProblem(absent, f"{given} is given without {absent}: give both or neither")
        )
    if not problems and catalogue.field_map_problem is not None:
        why = catalogue.field_map_problem(clean.decoder, clean.field_map)
        if why:
            problems.append(FieldProblem("field_map", f"field_map: {why}"))
    if problems:
        raise ChangeRejected(problems)
    return clean


def checked_route(draft: RouteDraft) -> RouteDraft:
    """`draft` with every value in its clean form; ChangeRejected listing every broken rule."""
    problems: list[FieldProblem] = []
    check = _Checker(problems)
    clean = RouteDraft(
        route_id=check(
            "route_id", lambda: parse_identifier("route_id", _text("route_id", draft.route_id))
        ),
        length_km=check("length_km", lambda: _length_km(draft.length_km)),
        priority=check("priority", lambda: _priority(draft.priority)),
        name=check("name", lambda: _free_text("name", draft.name)),
        area=check("area", lambda: _free_text("area", draft.area)),
        policy=check("policy", lambda: parse_policy(draft.policy)),
        spread_rate_g_m2=check(
            "spread_rate_g_m2",
            lambda: parse_measure(
                "spread_rate_g_m2",
                _number("spread_rate_g_m2", draft.spread_rate_g_m2),
                unit="grams of salt per square metre",
                example="10",
            ),
        ),
        width_m=check(
            "width_m",
            lambda: parse_measure(
                "width_m", _number("width_m", draft.width_m), unit="metres", example="7.3"
            ),
        ),
    )
    if problems:
        raise ChangeRejected(problems)
    return clean


def unknown_fields(changes: Mapping[str, object], known: Collection[str]) -> list[FieldProblem]:
    """A problem for every name in `changes` that is not a field of the draft."""
    return [
        FieldProblem(
            name, f"'{name}' is not a field that can be changed: use {', '.join(sorted(known))}"
        )
        for name in changes
        if name not in known
    ]


class _Checker:
    """Runs one rule at a time; a broken rule is noted against its field and checking goes on."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self._problems = problems

    def __call__(self, name: str, rule: Callable[[], T]) -> Any:
        try:
            return rule()
        except InvalidValue as problem:
            self._problems.append(FieldProblem(name, str(problem)))
            return None


def _text(kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidValue(f"{kind} must be text, got {_shown(value)}")
    return value.strip()


def _free_text(kind: str, value: object, max_length: int = 200) -> str | None:
    if value is None:
        return None
    return parse_text(kind, _text(kind, value), max_length=max_length)


def _number(kind: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValue(f"{kind} must be a number, got {_shown(value)}")
    return float(value)


def _coordinate(kind: str, value: object, limit: float) -> float | None:
    number = _number(kind, value)
    return None if number is None else parse_coordinate(kind, repr(number), limit)


def _length_km(value: object) -> float:
    number = _number("length_km", value)
    if number is None:
        raise InvalidValue("length_km is missing: give the route's length in km, e.g. 12.5")
    return parse_length_km(repr(number))


def _priority(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise InvalidValue(
                f"priority {_shown(value)} is not a whole number: use 1 (highest), 2, 3, …"
            )
    return parse_priority(str(value))


def _flag(kind: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue(f"{kind} must be true or false, got {_shown(value)}")
    return value


def _route_reference(value: object) -> str | None:
    if value is None or value == "":
        return None
    return parse_identifier("route_id", _text("route_id", value))


def _field_map(value: object, known_quantities: Collection[str]) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidValue(
            f"field_map must map vendor fields to quantities, e.g. "
            f'{{"temperature": "road_surface_temperature"}}, got {_shown(value)}'
        )
    entries: list[tuple[str, str]] = []
    for vendor, quantity in value.items():
        if not isinstance(vendor, str) or not isinstance(quantity, str):
            raise InvalidValue(
                f"field_map entries map text to text, got {_shown(vendor)}: {_shown(quantity)}"
            )
        entries.append((vendor, quantity))
    return check_field_map_entries(entries, known_quantities)


def _status(value: object) -> DeviceStatus:
    for status in DEVICE_STATUSES:
        if value == status:
            return status
    raise InvalidValue(f"status {_shown(value)} is not one of {', '.join(DEVICE_STATUSES)}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"
