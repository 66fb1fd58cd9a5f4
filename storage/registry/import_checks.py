"""Rules an import's rows must meet before the registry writes them.

The CSV parser already applies them; these checks guard rows built elsewhere (the
API, scripts) with the same `validation` rules, so nothing invalid reaches the database.
"""

from collections.abc import Callable, Sequence

from storage.registry.records import DOMAINS, DeviceRow, RouteRow, RowError
from storage.registry.validation import (
    InvalidValue,
    parse_coordinate,
    parse_dev_eui,
    parse_identifier,
    parse_length_km,
    parse_priority,
)


def actor_problems(actor: str) -> list[RowError]:
    """An import is refused unless it says who makes it (the audit log needs a name)."""
    if actor.strip():
        return []
    return [RowError(0, None, "an import needs an actor: say who is making the change")]


def device_row_problems(rows: Sequence[DeviceRow]) -> list[RowError]:
    """Every row that breaks a rule or repeats a device_id or DevEUI of an earlier row."""
    problems: list[RowError] = []
    seen_ids: set[str] = set()
    seen_euis: dict[str, str] = {}
    for row in rows:
        reasons = _device_rules_broken(row)
        if row.device_id in seen_ids:
            reasons.append(f"device_id '{row.device_id}' is in the import twice")
        if row.dev_eui in seen_euis:
            reasons.append(f"dev_eui {row.dev_eui} is also given to '{seen_euis[row.dev_eui]}'")
        seen_ids.add(row.device_id)
        seen_euis.setdefault(row.dev_eui, row.device_id)
        if reasons:
            problems.append(RowError(row.line, row.device_id or None, "; ".join(reasons)))
    return problems


def _device_rules_broken(row: DeviceRow) -> list[str]:
    return _rules_broken(
        lambda: parse_identifier("device_id", row.device_id),
        lambda: _require(
            row.dev_eui == parse_dev_eui(row.dev_eui),
            f"dev_eui '{row.dev_eui}' must be written as 16 lower-case hex digits",
        ),
        lambda: _require(
            row.domain in DOMAINS, f"domain '{row.domain}' is not one of {', '.join(DOMAINS)}"
        ),
        lambda: _require(bool(row.decoder), "decoder is missing"),
        lambda: row.route_id and parse_identifier("route_id", row.route_id),
        lambda: _coordinate(row.latitude, "latitude", 90),
        lambda: _coordinate(row.longitude, "longitude", 180),
        lambda: _require(
            (row.latitude is None) == (row.longitude is None),
            "latitude and longitude go together: give both or neither",
        ),
    )


def route_row_problems(rows: Sequence[RouteRow]) -> list[RowError]:
    """Every row that breaks a rule or repeats a route_id of an earlier row."""
    problems: list[RowError] = []
    seen: set[str] = set()
    for row in rows:
        reasons = _route_rules_broken(row)
        if row.route_id in seen:
            reasons.append(f"route_id '{row.route_id}' is in the import twice")
        seen.add(row.route_id)
        if reasons:
            problems.append(RowError(row.line, row.route_id or None, "; ".join(reasons)))
    return problems


def _route_rules_broken(row: RouteRow) -> list[str]:
    return _rules_broken(
        lambda: parse_identifier("route_id", row.route_id),
        lambda: parse_length_km(repr(row.length_km)),
        lambda: parse_priority(str(row.priority)),
    )


def _rules_broken(*rules: Callable[[], object]) -> list[str]:
    """Run every rule and collect the reasons of those that fail."""
    reasons: list[str] = []
    for rule in rules:
        try:
            rule()
        except InvalidValue as problem:
            reasons.append(str(problem))
    return reasons


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise InvalidValue(reason)


def _coordinate(value: float | None, kind: str, limit: float) -> None:
    if value is not None:
        parse_coordinate(kind, repr(float(value)), limit)
