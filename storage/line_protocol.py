"""InfluxDB line protocol: which points it can carry, and how to write them.

Every readings store enforces `check_point`, not only the InfluxDB one, so that a point
accepted by the embedded SQLite store is never refused when the same site moves to
InfluxDB (or when a spool recorded against one is replayed into the other).

The limits come from InfluxDB 1.x's parser, verified against a real `influxd`:

- a newline cannot appear in a measurement, tag key, tag value or field key (it would
  end the line and start another point), so it is refused, never escaped; nor can a
  carriage return or NUL (InfluxQL has no way to write them, so such a name could be
  stored but never queried); nor can a name start with a tab (the parser skips it);
- a backslash cannot be the last character of a name, nor stand right before
  `,` `=` space or `"` (the parser reads it as an escape and the name changes);
- a measurement cannot start with `#` (the whole line is read as a comment);
- `time` is not a valid tag or field key; tag values must not be empty, so tags with an
  empty value are dropped, as InfluxDB's own clients do;
- floats must be finite (NaN and ±inf have no line-protocol form), integers fit in
  64 bits, timestamps lie within ±9223372036854775806 ns.

String field values can hold anything, newlines included: they are quoted and escaped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import cast

from storage.errors import StoreRejected
from storage.points import FieldValue, Point

MIN_TIME_NS = -9_223_372_036_854_775_806
MAX_TIME_NS = 9_223_372_036_854_775_806
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1
MAX_SERIES_KEY_BYTES = 65_535

# A name that line protocol would change or split, or InfluxQL could not name: a line
# break or NUL anywhere, a leading tab (the parser skips it), or a backslash at the end
# or right before a character the parser treats as an escape.
_UNCARRIABLE_NAME = re.compile(r'^\t|[\n\r\x00]|\\(?:[,= "]|$)')


FIELD_TYPES: Mapping[type, str] = {
    float: "float",
    int: "integer",
    str: "string",
    bool: "boolean",
}


class InvalidPoint(StoreRejected):
    """One point that no store will take; `reason` says why, `point` is the culprit."""

    def __init__(self, point: Point, reason: str) -> None:
        self.point = point
        self.reason = reason
        super().__init__(f"{reason} (point {describe(point)})")


def describe(point: Point) -> str:
    """A short, log-safe identification of a point for error messages."""
    try:
        tags = ",".join(f"{key}={value!r}" for key, value in sorted(point.tags.items()))
    except (AttributeError, TypeError):
        tags = repr(point.tags)
    measurement = point.measurement
    shown = measurement[:80] if isinstance(measurement, str) else repr(measurement)
    return f"{shown!r} [{tags[:200]}] at {point.time_ns!r}"


def field_type(value: object) -> str | None:
    """InfluxDB's name for the type of a field value, or None when it has none."""
    kind = FIELD_TYPES.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return None


def stored_tags(tags: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The tag set as stored: sorted by key, tags with an empty value dropped."""
    if "" in tags.values():
        return tuple(sorted((key, value) for key, value in tags.items() if value != ""))
    return tuple(sorted(tags.items()))


# Names already found carriable. Measurements, tag keys, field keys and most tag values
# repeat from point to point, so most names are checked once. Bounded, never wrong.
_GOOD_NAMES: set[str] = set()
_GOOD_NAMES_LIMIT = 100_000


def _name_problem(kind: str, name: object) -> str | None:
    if type(name) is str:
        if name in _GOOD_NAMES:
            return None
    elif not isinstance(name, str):
        return f"{kind} must be a string, not {type(name).__name__}"
    if name == "":
        return f"{kind} is empty"
    if not name.isascii():
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            return f"{kind} {name!r} is not valid Unicode text"
    if _UNCARRIABLE_NAME.search(name):
        return (
            f"{kind} {name!r} contains a line break or NUL, starts with a tab, or has a "
            "backslash at its end or before ',', '=', ' ' or '\"': InfluxDB cannot carry it"
        )
    if type(name) is str and name != "time":
        if len(_GOOD_NAMES) >= _GOOD_NAMES_LIMIT:
            _GOOD_NAMES.clear()
        _GOOD_NAMES.add(name)
    return None


def _value_problem(name: str, value: object) -> str | None:
    kind = type(value)
    if kind is float:
        if math.isfinite(value):  # type: ignore[arg-type]
            return None
        return f"field {name!r} is {value!r}; InfluxDB cannot store NaN or infinity"
    if kind is bool:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if MIN_INTEGER <= value <= MAX_INTEGER:
            return None
        return f"field {name!r} = {value} does not fit in a signed 64-bit integer"
    if isinstance(value, float):
        return _value_problem(name, float(value))
    if isinstance(value, str):
        if value.isascii():
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"field {name!r} is not valid Unicode text"
        return None
    return (
        f"field {name!r} has a value of type {type(value).__name__}; "
        "expected float, int, str or bool"
    )


def _exact_series_key_bytes(measurement: str, tags: Mapping[str, str]) -> int:
    return len(measurement.encode("utf-8")) + sum(
        len(key.encode("utf-8")) + len(value.encode("utf-8")) + 2
        for key, value in tags.items()
        if value != ""
    )


def _fast_value_ok(value: object) -> bool:
    kind = type(value)
    if kind is float:
        return math.isfinite(cast(float, value))
    if kind is int:
        return MIN_INTEGER <= cast(int, value) <= MAX_INTEGER
    if kind is str:
        return cast(str, value).isascii()
    return kind is bool


# Point shapes (measurement, tags, field keys) already found good: in a stream of
# readings the same few shapes recur, so only the values and the time need checking.
_GOOD_SHAPES: set[tuple[object, ...]] = set()
_GOOD_SHAPES_LIMIT = 100_000


def _shape(point: Point) -> tuple[object, ...] | None:
    try:
        shape = (point.measurement, *point.tags.items(), None, *point.fields)
        hash(shape)
    except (TypeError, AttributeError):
        return None
    return shape


def point_problem(point: Point) -> str | None:
    """Why no store can take `point`, or None when every store can.

    Every point of every batch passes here, so the common case is fast: a shape seen
    before, an int time in range, values of the exact built-in types.
    """
    shape = _shape(point)
    if shape is not None and shape in _GOOD_SHAPES:
        time_ns = point.time_ns
        if type(time_ns) is int and MIN_TIME_NS <= time_ns <= MAX_TIME_NS:
            for value in point.fields.values():
                if type(value) is float:
                    if value - value != 0.0:  # NaN and ±inf
                        break
                elif type(value) is int:
                    if not MIN_INTEGER <= value <= MAX_INTEGER:
                        break
                elif type(value) is str:
                    if not value.isascii():
                        break
                elif type(value) is not bool:
                    break
            else:
                return None
    problem = _point_problem(point)
    if problem is None and shape is not None:
        if len(_GOOD_SHAPES) >= _GOOD_SHAPES_LIMIT:
            _GOOD_SHAPES.clear()
        _GOOD_SHAPES.add(shape)
    return problem


def _point_problem(point: Point) -> str | None:
    """The full check, name by name and value by value."""
    good = _GOOD_NAMES
    measurement = point.measurement
    if not (type(measurement) is str and measurement in good):
        problem = _name_problem("measurement", measurement)
        if problem:
            return problem
    if measurement.startswith("#"):
        return (
            f"measurement {measurement!r} starts with '#', which line protocol reads as a comment"
        )
    time_ns = point.time_ns
    if type(time_ns) is not int and (isinstance(time_ns, bool) or not isinstance(time_ns, int)):
        return f"time_ns must be an int of nanoseconds, not {type(time_ns).__name__}"
    if not MIN_TIME_NS <= time_ns <= MAX_TIME_NS:
        return f"time_ns {time_ns} is outside InfluxDB's range ±{MAX_TIME_NS}"
    tags, fields = point.tags, point.fields
    if type(tags) is not dict and not isinstance(tags, Mapping):
        return "tags must be a mapping"
    if type(fields) is not dict and not isinstance(fields, Mapping):
        return "fields must be a mapping"
    chars = len(measurement)
    for key, value in tags.items():
        # "time" is never in `good` (see _name_problem), so a known key is never "time".
        if not (type(key) is str and key in good):
            problem = _name_problem("tag key", key)
            if problem:
                return problem
            if key == "time":
                return "'time' cannot be a tag key"
        if not (type(value) is str and (value in good or value == "")):
            if not isinstance(value, str):
                kind = type(value).__name__
                return f"tag {key!r} has a value of type {kind}; tag values are strings"
            if value != "":
                problem = _name_problem(f"value of tag {key!r}", value)
                if problem:
                    return problem
        chars += len(key) + len(value) + 2
    if chars * 4 > MAX_SERIES_KEY_BYTES:
        key_bytes = _exact_series_key_bytes(measurement, tags)
        if key_bytes > MAX_SERIES_KEY_BYTES:
            return (
                f"measurement and tags take {key_bytes} bytes; "
                f"InfluxDB allows {MAX_SERIES_KEY_BYTES}"
            )
    if not fields:
        return "a point needs at least one field"
    for name, field_value in fields.items():
        if not (type(name) is str and name in good):
            problem = _name_problem("field key", name)
            if problem:
                return problem
            if name == "time":
                return "'time' cannot be a field key"
        if name in tags and tags[name] != "":
            return f"{name!r} is both a tag and a field"
        if not _fast_value_ok(field_value):
            problem = _value_problem(name, field_value)
            if problem:
                return problem
    return None


def check_point(point: Point) -> None:
    """Raise `InvalidPoint` when no store can take `point`.

    The write pipeline can call this when it accepts a point, so a bad point is
    dead-lettered on its own instead of failing a whole batch later.
    """
    problem = point_problem(point)
    if problem is not None:
        raise InvalidPoint(point, problem)


def check_points(points: Iterable[Point]) -> None:
    """`check_point` for each point; the first bad one raises."""
    for point in points:
        check_point(point)


def escape_measurement(name: str) -> str:
    if "," in name or " " in name:
        return name.replace(",", "\\,").replace(" ", "\\ ")
    return name


def escape_key(name: str) -> str:
    """Escape a tag key, tag value or field key."""
    if "," in name or "=" in name or " " in name:
        return name.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")
    return name


def escape_string(value: str) -> str:
    """A string field value, quoted: backslashes and double quotes escaped."""
    if "\\" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


def format_field_value(value: FieldValue) -> str:
    """A field value in line protocol: `1.0`, `3i`, `true`, `"text"`.

    Floats always carry a decimal point or an exponent (`1.0`, `1e+16`), so a float that
    happens to be whole is never stored as an integer field.
    """
    kind = type(value)
    if kind is float:
        return float.__repr__(value)
    if kind is str:
        return escape_string(cast(str, value))
    if kind is int:
        return f"{value}i"
    kind_name = field_type(value)
    if kind_name == "boolean":
        return "true" if value else "false"
    if kind_name == "float":
        return float.__repr__(float(value))
    if kind_name == "integer":
        return f"{int(value)}i"
    if kind_name == "string":
        return escape_string(str(value))
    raise TypeError(f"no line-protocol form for {type(value).__name__}")


# Rendered "measurement,tag=value,…" prefixes: the same few series recur in every batch.
_SERIES_TEXT: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
_SERIES_TEXT_LIMIT = 50_000


def _series_text(measurement: str, tags: Mapping[str, str]) -> str:
    tag_set = stored_tags(tags)
    key = (measurement, tag_set)
    text = _SERIES_TEXT.get(key)
    if text is None:
        text = escape_measurement(measurement) + "".join(
            f",{escape_key(tag)}={escape_key(value)}" for tag, value in tag_set
        )
        if len(_SERIES_TEXT) >= _SERIES_TEXT_LIMIT:
            _SERIES_TEXT.clear()
        _SERIES_TEXT[key] = text
    return text


def encode_point(point: Point) -> str:
    """One line of line protocol (no trailing newline). Call `check_point` first."""
    fields = ",".join(
        [f"{escape_key(name)}={format_field_value(value)}" for name, value in point.fields.items()]
    )
    return f"{_series_text(point.measurement, point.tags)} {fields} {int(point.time_ns)}"


def encode_points(points: Iterable[Point]) -> bytes:
    """Points as a line-protocol request body, each checked first (raises `InvalidPoint`)."""
    lines = []
    for point in points:
        check_point(point)
        lines.append(encode_point(point))
    return ("\n".join(lines) + "\n").encode("utf-8")
