"""Parse and check device and route CSVs, without touching a database.

This is the dry run: it finds every bad row, with its line number and a reason a
person can act on, so a file is fixed in one pass. The registry applies only
rows that came through here clean. The caller says which decoders, quantities,
routes (and already registered DevEUIs) exist, so this module stays free of
`decoders` and of the database.
"""

import csv
import io
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from storage.registry.records import DeviceRow, RouteRow, RowError
from storage.registry.validation import (
    InvalidValue,
    dev_eui_taken,
    parse_coordinate,
    parse_decoder,
    parse_dev_eui,
    parse_domain,
    parse_field_map,
    parse_identifier,
    parse_length_km,
    parse_priority,
    parse_public,
    parse_route_reference,
    parse_text,
)

if TYPE_CHECKING:
    from _csv import Reader

__all__ = [
    "DEVICE_COLUMNS",
    "ROUTE_COLUMNS",
    "DeviceImport",
    "DeviceRow",
    "RouteImport",
    "RouteRow",
    "RowError",
    "parse_device_csv",
    "parse_route_csv",
]

DEVICE_COLUMNS = (
    "device_id",
    "dev_eui",
    "name",
    "decoder",
    "domain",
    "route_id",
    "latitude",
    "longitude",
    "public",
    "owner",
    "field_map",
)
ROUTE_COLUMNS = ("route_id", "name", "length_km", "priority", "area")

_BOM = "\ufeff"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DeviceImport:
    """The clean rows of a device CSV and every problem found; apply only when `ok`."""

    rows: list[DeviceRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class RouteImport:
    """The clean rows of a route CSV and every problem found; apply only when `ok`."""

    rows: list[RouteRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class _Record:
    line: int
    cells: dict[str, str]


def parse_device_csv(
    text: str,
    *,
    known_decoders: Collection[str],
    known_quantities: Collection[str],
    known_routes: Collection[str],
    registered_dev_euis: Mapping[str, str] | None = None,
    field_map_problem: Callable[[str, Mapping[str, str]], str | None] | None = None,
) -> DeviceImport:
    """Check a devices CSV (columns `DEVICE_COLUMNS`, header on line 1).

    `registered_dev_euis` (DevEUI → device_id, from the registry) lets the dry run
    also report a DevEUI that already belongs to a different device.
    `field_map_problem(decoder, field_map)` (the decoders' own check, see
    `drafts.Catalogue`) says why a row's decoder cannot honour its field map.
    """
    records, errors = _read(text, DEVICE_COLUMNS)
    registered = {eui.lower(): owner for eui, owner in (registered_dev_euis or {}).items()}
    rows: list[DeviceRow] = []
    line_of_id: dict[str, int] = {}
    owner_of_eui: dict[str, tuple[str, int]] = {}
    for record in records:
        row, reasons = _device_row(record, known_decoders, known_quantities, known_routes)
        if row is not None and field_map_problem is not None:
            why = field_map_problem(row.decoder, row.field_map)
            if why:
                reasons.append(f"field_map: {why}")
        device_id, dev_eui = _device_keys(record.cells)
        if device_id is not None:
            if device_id in line_of_id:
                reasons.append(
                    f"device_id '{device_id}' is already on line {line_of_id[device_id]}: "
                    f"list each device once"
                )
            else:
                line_of_id[device_id] = record.line
        if dev_eui is not None:
            if dev_eui in owner_of_eui:
                other, other_line = owner_of_eui[dev_eui]
                reasons.append(
                    f"dev_eui {dev_eui} is already used by '{other}' on line {other_line}: "
                    f"each device has its own DevEUI"
                )
            else:
                owner_of_eui[dev_eui] = (device_id or "?", record.line)
            registered_owner = registered.get(dev_eui)
            if registered_owner is not None and registered_owner != device_id:
                reasons.append(dev_eui_taken(dev_eui, registered_owner))
        if reasons or row is None:
            errors.append(
                RowError(record.line, record.cells["device_id"] or None, "; ".join(reasons))
            )
        else:
            rows.append(row)
    return DeviceImport(rows=rows, errors=errors)


def parse_route_csv(text: str) -> RouteImport:
    """Check a routes CSV (columns `ROUTE_COLUMNS`, header on line 1)."""
    records, errors = _read(text, ROUTE_COLUMNS)
    rows: list[RouteRow] = []
    line_of_id: dict[str, int] = {}
    for record in records:
        row, reasons = _route_row(record)
        route_id = row.route_id if row is not None else _valid_id("route_id", record.cells)
        if route_id is not None:
            if route_id in line_of_id:
                reasons.append(
                    f"route_id '{route_id}' is already on line {line_of_id[route_id]}: "
                    f"list each route once"
                )
            else:
                line_of_id[route_id] = record.line
        if reasons or row is None:
            errors.append(
                RowError(record.line, record.cells["route_id"] or None, "; ".join(reasons))
            )
        else:
            rows.append(row)
    return RouteImport(rows=rows, errors=errors)


def _device_row(
    record: _Record,
    known_decoders: Collection[str],
    known_quantities: Collection[str],
    known_routes: Collection[str],
) -> tuple[DeviceRow | None, list[str]]:
    """The row as a `DeviceRow`, or None with every rule it breaks."""
    cells = record.cells
    reasons: list[str] = []
    device_id = _check(reasons, lambda: parse_identifier("device_id", cells["device_id"]))
    dev_eui = _check(reasons, lambda: parse_dev_eui(cells["dev_eui"]))
    name = _check(reasons, lambda: parse_text("name", cells["name"]))
    decoder = _check(reasons, lambda: parse_decoder(cells["decoder"], known_decoders))
    domain = _check(reasons, lambda: parse_domain(cells["domain"]))
    route_id = _check(reasons, lambda: parse_route_reference(cells["route_id"], known_routes))
    latitude = _check(reasons, lambda: parse_coordinate("latitude", cells["latitude"], 90))
    longitude = _check(reasons, lambda: parse_coordinate("longitude", cells["longitude"], 180))
    public = _check(reasons, lambda: parse_public(cells["public"]))
    owner = _check(reasons, lambda: parse_text("owner", cells["owner"]))
    field_map = _check(reasons, lambda: parse_field_map(cells["field_map"], known_quantities))
    if bool(cells["latitude"]) != bool(cells["longitude"]):
        given, absent = (
            ("latitude", "longitude") if cells["latitude"] else ("longitude", "latitude")
        )
        reasons.append(f"{given} is given without {absent}: give both or neither")
    if (
        reasons
        or device_id is None
        or dev_eui is None
        or decoder is None
        or domain is None
        or public is None
        or field_map is None
    ):
        return None, reasons
    row = DeviceRow(
        device_id=device_id,
        dev_eui=dev_eui,
        name=name,
        decoder=decoder,
        domain=domain,
        route_id=route_id,
        latitude=latitude,
        longitude=longitude,
        public=public,
        owner=owner,
        field_map=field_map,
        line=record.line,
    )
    return row, reasons


def _route_row(record: _Record) -> tuple[RouteRow | None, list[str]]:
    """The row as a `RouteRow`, or None with every rule it breaks."""
    cells = record.cells
    reasons: list[str] = []
    route_id = _check(reasons, lambda: parse_identifier("route_id", cells["route_id"]))
    name = _check(reasons, lambda: parse_text("name", cells["name"]))
    length_km = _check(reasons, lambda: parse_length_km(cells["length_km"]))
    priority = _check(reasons, lambda: parse_priority(cells["priority"]))
    area = _check(reasons, lambda: parse_text("area", cells["area"]))
    if reasons or route_id is None or length_km is None or priority is None:
        return None, reasons
    return RouteRow(route_id, name, length_km, priority, area, line=record.line), reasons


def _device_keys(cells: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The row's device_id and DevEUI when each is valid on its own (for duplicate checks)."""
    dev_eui: str | None
    try:
        dev_eui = parse_dev_eui(cells["dev_eui"])
    except InvalidValue:
        dev_eui = None
    return _valid_id("device_id", cells), dev_eui


def _valid_id(column: str, cells: Mapping[str, str]) -> str | None:
    try:
        return parse_identifier(column, cells[column])
    except InvalidValue:
        return None


def _check(reasons: list[str], parse: Callable[[], T]) -> T | None:
    """Run one rule; on failure note its reason and carry on, so every problem is reported."""
    try:
        return parse()
    except InvalidValue as problem:
        reasons.append(str(problem))
        return None


def _read(text: str, columns: tuple[str, ...]) -> tuple[list[_Record], list[RowError]]:
    """Rows as column → stripped cell, each with the line it starts on; header problems
    and unreadable rows come back as errors."""
    records: list[_Record] = []
    errors: list[RowError] = []
    reader = csv.reader(io.StringIO(text.removeprefix(_BOM), newline=""), strict=True)
    rows = _numbered(reader, errors)
    header_line, header = next(rows, (1, []))
    header_problem = _header_problem([cell.strip().lower() for cell in header], columns)
    if header_problem is not None:
        errors.insert(0, RowError(header_line, None, header_problem))
        return [], errors
    names = [cell.strip().lower() for cell in header]
    for line, cells in rows:
        if len(cells) > len(names) and not any(cell.strip() for cell in cells[len(names) :]):
            cells = cells[: len(names)]  # trailing empty cells, as some spreadsheets write them
        if len(cells) != len(names):
            errors.append(
                RowError(
                    line,
                    (cells[0].strip() or None) if cells else None,
                    f"row has {len(cells)} cells but the header has {len(names)} columns: "
                    f"check for a missing comma, or quote a cell that contains a comma",
                )
            )
            continue
        records.append(_Record(line, {n: c.strip() for n, c in zip(names, cells, strict=True)}))
    return records, errors


def _numbered(reader: "Reader", errors: list[RowError]) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV rows with the physical line each starts on (quoted cells may span lines).

    A row the csv module cannot read becomes an error and reading goes on with the next.
    """
    end = 0
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as problem:
            end = reader.line_num
            errors.append(RowError(start, None, _unreadable(problem)))
            continue
        end = reader.line_num
        if any(cell.strip() for cell in cells):
            yield start, cells


def _unreadable(problem: csv.Error) -> str:
    if "unexpected end of data" in str(problem):
        return (
            "a quoted cell starting on this line is never closed, so the rest of the file "
            "was read as one cell: check for a stray '\"'"
        )
    return f"cannot read this row as CSV ({problem}): after a closing '\"' only ',' may follow"


def _header_problem(header: list[str], columns: tuple[str, ...]) -> str | None:
    expected = ",".join(columns)
    if not any(header):
        return f"the first line must be the header: {expected}"
    if len(header) == 1 and ";" in header[0]:
        return (
            f"the header uses ';' between columns: save the file with ',' as separator "
            f"(expected {expected})"
        )
    problems: list[str] = []
    missing = [column for column in columns if column not in header]
    unknown = [name for name in header if name not in columns]
    repeated = sorted({name for name in header if header.count(name) > 1 and name in columns})
    if missing:
        problems.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if unknown:
        shown = ", ".join(f"'{name}'" if name else "(blank)" for name in unknown)
        problems.append(f"unknown column{'s' if len(unknown) > 1 else ''} {shown}")
    if repeated:
        problems.append(f"repeated column{'s' if len(repeated) > 1 else ''} {', '.join(repeated)}")
    if problems:
        return f"header: {'; '.join(problems)}: the columns are exactly {expected}"
    return None
