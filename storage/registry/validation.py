"""Value rules for devices and routes, shared by the CSV import, the registry and (later) the API.

Each `parse_*` function takes the text a person typed and returns the clean value,
or raises `InvalidValue` whose message says what is wrong and what would be right.
"""

import difflib
import json
import math
import re
from collections.abc import Collection, Iterable, Mapping

from storage.registry.records import DOMAINS, Domain

ID_MIN_LENGTH = 2
ID_MAX_LENGTH = 36
_ID_CHAR = re.compile(r"[a-z0-9-]")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_EUI_SEPARATORS = re.compile(r"[\s:-]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
_MAX_VENDOR_FIELD = 100
MAX_POLICY_BYTES = 16 * 1024


class InvalidValue(ValueError):
    """A value that breaks a registry rule; the message is meant for the person who typed it."""


def parse_identifier(kind: str, value: str) -> str:
    """A TTN-style id: lower-case a-z, 0-9 and '-', 2–36 characters, '-' only between others.

    `kind` names the column in messages ("device_id", "route_id").
    """
    if not value:
        raise InvalidValue(f"{kind} is missing")
    lowered = value.lower()
    if lowered != value and all(_ID_CHAR.fullmatch(c) for c in lowered):
        raise InvalidValue(f"{kind} '{value}' must be lower case: use '{lowered}'")
    bad = sorted({c for c in value if not _ID_CHAR.fullmatch(c)})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise InvalidValue(
            f"{kind} '{value}' contains {shown}: use only lower-case letters a-z, digits and '-'"
        )
    if not ID_MIN_LENGTH <= len(value) <= ID_MAX_LENGTH:
        raise InvalidValue(
            f"{kind} '{value}' is {len(value)} characters long: "
            f"use {ID_MIN_LENGTH} to {ID_MAX_LENGTH}"
        )
    if value.startswith("-") or value.endswith("-"):
        raise InvalidValue(f"{kind} '{value}' must not start or end with '-'")
    if "--" in value:
        raise InvalidValue(f"{kind} '{value}' must not contain '--'")
    return value


def parse_dev_eui(value: str) -> str:
    """A DevEUI as 16 lower-case hex digits; spaces, ':' and '-' between digits are dropped."""
    if not value:
        raise InvalidValue("dev_eui is missing: give the device's 16-hex-digit DevEUI")
    return _parse_eui("dev_eui", "DevEUI", value)


def parse_join_eui(value: str) -> str | None:
    """A JoinEUI (AppEUI) like a DevEUI, or None when blank.

    Unlike the DevEUI it is not unique: many devices share the JoinEUI of one join server.
    """
    if not value:
        return None
    return _parse_eui("join_eui", "JoinEUI", value)


def _parse_eui(kind: str, name: str, value: str) -> str:
    compact = _EUI_SEPARATORS.sub("", value).lower()
    if compact.startswith("0x"):
        compact = compact[2:]
    if not _HEX16.fullmatch(compact):
        digits = sum(1 for c in compact if c in "0123456789abcdef")
        not_hex = sorted({c for c in compact if c not in "0123456789abcdef"})
        why = (
            f"contains {' '.join(repr(c) for c in not_hex)}"
            if not_hex
            else f"has {digits} hex digits"
        )
        raise InvalidValue(
            f"{kind} '{value}' {why}: a {name} is exactly 16 hex digits, e.g. 70b3d57ed005a12f"
        )
    return compact


def dev_eui_taken(dev_eui: str, owner: str) -> str:
    """Why a DevEUI cannot be given to a second device (retired devices keep theirs)."""
    return (
        f"dev_eui {dev_eui} is already registered to device '{owner}': check the DevEUI, "
        f"or give '{owner}' its correct DevEUI first (retired devices keep theirs)"
    )


def parse_decoder(value: str, known_decoders: Collection[str]) -> str:
    """A decoder id the caller knows; matched case-insensitively, returned as registered."""
    if not value:
        raise InvalidValue(f"decoder is missing: use one of {_listing(known_decoders)}")
    by_lower = {known.lower(): known for known in known_decoders}
    found = by_lower.get(value.lower())
    if found is None:
        raise InvalidValue(
            f"decoder '{value}' is not known{_suggestion(value, known_decoders)}: "
            f"use one of {_listing(known_decoders)}"
        )
    return found


def parse_domain(value: str) -> Domain:
    """One of road, air, water, other (case-insensitive)."""
    lowered = value.lower()
    for domain in DOMAINS:
        if lowered == domain:
            return domain
    if not value:
        raise InvalidValue(f"domain is missing: use one of {', '.join(DOMAINS)}")
    raise InvalidValue(f"domain '{value}' is not one of {', '.join(DOMAINS)}")


def parse_route_reference(value: str, known_routes: Collection[str]) -> str | None:
    """A route id that exists, or None for a blank cell."""
    if not value:
        return None
    if value not in known_routes:
        lowered = value.lower()
        hint = f" (did you mean '{lowered}'?)" if lowered in known_routes else ""
        known = f" (known routes: {_listing(known_routes)})" if known_routes else ""
        raise InvalidValue(
            f"route_id '{value}' is not a registered route{hint}: "
            f"import it with `wherry routes import` first, or leave the cell blank{known}"
        )
    return value


def parse_coordinate(kind: str, value: str, limit: float) -> float | None:
    """A latitude (limit 90) or longitude (limit 180) in decimal degrees, or None when blank."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        hint = " (use '.' as the decimal separator)" if "," in value else ""
        raise InvalidValue(
            f"{kind} '{value}' is not a number{hint}: give decimal degrees, e.g. 52.2053"
        ) from None
    if not math.isfinite(number) or not -limit <= number <= limit:
        raise InvalidValue(
            f"{kind} {value} is out of range: it must be between -{limit:g} and {limit:g} degrees"
        )
    return number


def parse_public(value: str) -> bool:
    """true/false, yes/no or 1/0 (case-insensitive); blank means not public."""
    lowered = value.lower()
    if not lowered:
        return False
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidValue(f"public '{value}' is not a yes/no value: use true/false, yes/no or 1/0")


def parse_field_map(value: str, known_quantities: Collection[str]) -> dict[str, str]:
    """`vendor_field=quantity;…` into a dict; every quantity must be a known canonical one."""
    entries: list[tuple[str, str]] = []
    for raw in value.split(";"):
        entry = raw.strip()
        if not entry:
            continue
        vendor, equals, quantity = (part.strip() for part in entry.partition("="))
        if not equals or not vendor or not quantity or "=" in quantity:
            raise InvalidValue(
                f"field_map entry '{entry}' is not vendor_field=quantity "
                f"(e.g. temp=road_surface_temperature;hum=relative_humidity)"
            )
        entries.append((vendor, quantity))
    return check_field_map_entries(entries, known_quantities)


def check_field_map_entries(
    entries: Iterable[tuple[str, str]], known_quantities: Collection[str]
) -> dict[str, str]:
    """A field map given as (vendor field, quantity) pairs: each quantity known, each
    vendor field and each quantity named once. Shared by the CSV and the API's JSON form."""
    mapping: dict[str, str] = {}
    source_of: dict[str, str] = {}
    for vendor, quantity in entries:
        if (
            not vendor
            or vendor != vendor.strip()
            or _CONTROL.search(vendor)
            or ";" in vendor
            or "=" in vendor
            or len(vendor) > _MAX_VENDOR_FIELD
        ):
            raise InvalidValue(
                f"field_map vendor field {vendor!r} must name a field of the decoder's output: "
                f"1 to {_MAX_VENDOR_FIELD} printable characters, no ';' or '=', no spaces "
                f"around it"
            )
        if quantity not in known_quantities:
            raise InvalidValue(
                f"field_map maps '{vendor}' to '{quantity}', which is not a known quantity"
                f"{_suggestion(quantity, known_quantities)}"
            )
        if vendor in mapping:
            raise InvalidValue(f"field_map names vendor field '{vendor}' twice")
        if quantity in source_of:
            raise InvalidValue(
                f"field_map maps both '{source_of[quantity]}' and '{vendor}' to '{quantity}': "
                f"one uplink can give only one value per quantity"
            )
        mapping[vendor] = quantity
        source_of[quantity] = vendor
    return mapping


def format_field_map(mapping: Mapping[str, str]) -> str:
    """The CSV spelling of a field map (the inverse of `parse_field_map`)."""
    return ";".join(f"{vendor}={quantity}" for vendor, quantity in mapping.items())


MAX_ROUTE_KM = 10_000.0
MAX_PRIORITY = 1000


def parse_length_km(value: str) -> float:
    """A route length in kilometres, greater than zero."""
    if not value:
        raise InvalidValue("length_km is missing: give the route's length in km, e.g. 12.5")
    try:
        number = float(value)
    except ValueError:
        hint = " (use '.' as the decimal separator)" if "," in value else ""
        raise InvalidValue(f"length_km '{value}' is not a number{hint}: e.g. 12.5") from None
    if not math.isfinite(number) or number <= 0:
        raise InvalidValue(f"length_km {value} must be a distance in km greater than 0")
    if number > MAX_ROUTE_KM:
        raise InvalidValue(f"length_km {value} is longer than any route ({MAX_ROUTE_KM:g} km)")
    return number


def parse_priority(value: str) -> int:
    """A treatment priority: a whole number, 1 = treated first."""
    if not value:
        raise InvalidValue("priority is missing: give a whole number, 1 = highest")
    try:
        number = int(value)
    except ValueError:
        raise InvalidValue(
            f"priority '{value}' is not a whole number: use 1 (highest), 2, 3, …"
        ) from None
    if not 1 <= number <= MAX_PRIORITY:
        raise InvalidValue(f"priority {number} must be 1 to {MAX_PRIORITY} (1 = highest)")
    return number


def parse_text(kind: str, value: str, *, max_length: int = 200) -> str | None:
    """Free text (a name, an owner, an area): None when blank, refused when unprintable or long."""
    if not value:
        return None
    if _CONTROL.search(value):
        raise InvalidValue(f"{kind} contains a control character: remove it")
    if len(value) > max_length:
        raise InvalidValue(f"{kind} is {len(value)} characters long: keep it to {max_length}")
    return value


def parse_measure(kind: str, value: float | None, *, unit: str, example: str) -> float | None:
    """An optional physical measure (a spread rate, a width): a finite number above 0."""
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0:
        raise InvalidValue(f"{kind} {value} must be {unit} greater than 0, e.g. {example}")
    return float(value)


def parse_policy(value: Mapping[str, object]) -> dict[str, object]:
    """Per-route policy overrides: a JSON object, stored as given; the alert engine checks
    the names and values when it reads them."""
    if not isinstance(value, Mapping):
        raise InvalidValue(
            f'policy must be a JSON object of overrides, e.g. {{"marginal_threshold_c": 0.5}}, '
            f"not {type(value).__name__}"
        )
    not_text = [key for key in value if not isinstance(key, str)]
    if not_text:
        raise InvalidValue(f"policy keys must be text, got {not_text[0]!r}")
    try:
        encoded = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as problem:
        raise InvalidValue(
            f"policy must hold only JSON values (text, finite numbers, true/false, null, "
            f"lists and objects): {problem}"
        ) from None
    size = len(encoded.encode("utf-8"))
    if size > MAX_POLICY_BYTES:
        raise InvalidValue(
            f"policy is {size} bytes as JSON: keep it to {MAX_POLICY_BYTES}; "
            f"it holds overrides, not data"
        )
    decoded: dict[str, object] = json.loads(encoded)
    return decoded


def _listing(names: Collection[str], limit: int = 12) -> str:
    ordered = sorted(names)
    if not ordered:
        return "(none registered)"
    shown = ", ".join(ordered[:limit])
    return shown + (f", … ({len(ordered)} in all)" if len(ordered) > limit else "")


def _suggestion(value: str, candidates: Collection[str]) -> str:
    close = difflib.get_close_matches(value, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
