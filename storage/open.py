"""Turn a store URL (`WHERRY_STORE_URL`) into a readings store.

    sqlite:///relative/path.db          relative to the working directory
    sqlite:////absolute/path.db         (four slashes: the SQLAlchemy convention)
    influxdb://[user:password@]host[:port]/database[?options]
    influxdbs://…                       the same over TLS
    influxdb://host:8086/database?token=…   InfluxDB 2.x/3.x token auth

Options are query parameters; `open_store(url, **options)` takes the same names and
they win over the URL's. A bad URL raises `ValueError` saying what is expected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from storage.influx import DEFAULT_MAX_BATCH_POINTS, DEFAULT_TIMEOUT, InfluxStore
from storage.readings import ReadingStore
from storage.sqlite import SYNCHRONOUS_MODES, SQLiteStore

EXPECTED = (
    "expected sqlite:///relative/path.db, sqlite:////absolute/path.db, "
    "influxdb://[user:password@]host[:port]/database or influxdbs://… (TLS), "
    "with ?token=… for InfluxDB 2.x/3.x"
)
DEFAULT_INFLUX_PORT = 8086
SENSITIVE_OPTIONS = frozenset({"token", "password", "p"})

OptionValue = str | int | float | bool | Path | None


@dataclass(frozen=True)
class SQLiteSpec:
    """A parsed `sqlite:` URL."""

    path: str
    synchronous: str = "full"
    timeout: float = 5.0


@dataclass(frozen=True)
class InfluxSpec:
    """A parsed `influxdb:`/`influxdbs:` URL."""

    base_url: str
    database: str
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    token: str | None = dataclasses.field(default=None, repr=False)
    rp: str | None = None
    gzip: bool = True
    verify: bool = True
    ca_file: str | None = None
    create_database: bool = True
    timeout: float = DEFAULT_TIMEOUT
    max_batch_points: int = DEFAULT_MAX_BATCH_POINTS


StoreSpec = SQLiteSpec | InfluxSpec


def _as_bool(name: str, value: OptionValue) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"option {name}={value!r}: expected true or false")


def _as_positive_float(name: str, value: OptionValue) -> float:
    try:
        number = float(str(value))
    except ValueError:
        raise ValueError(f"option {name}={value!r}: expected a number of seconds") from None
    if not number > 0 or number == float("inf"):
        raise ValueError(f"option {name}={value!r}: expected a positive number of seconds")
    return number


def _as_batch_size(name: str, value: OptionValue) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ValueError(f"option {name}={value!r}: expected a whole number") from None
    if number < 1:
        raise ValueError(f"option {name}={value!r}: expected at least 1")
    return number


def _as_text(name: str, value: OptionValue) -> str:
    text = str(value)
    if not text:
        raise ValueError(f"option {name} is empty")
    return text


def _as_synchronous(name: str, value: OptionValue) -> str:
    text = str(value).strip().lower()
    if text not in SYNCHRONOUS_MODES:
        raise ValueError(f"option {name}={value!r}: expected one of {', '.join(SYNCHRONOUS_MODES)}")
    return text


Converter = Callable[[str, OptionValue], object]

SQLITE_OPTIONS: Mapping[str, Converter] = {
    "synchronous": _as_synchronous,
    "timeout": _as_positive_float,
}
INFLUX_OPTIONS: Mapping[str, Converter] = {
    "token": _as_text,
    "rp": _as_text,
    "gzip": _as_bool,
    "verify": _as_bool,
    "ca_file": _as_text,
    "create_database": _as_bool,
    "timeout": _as_positive_float,
    "max_batch_points": _as_batch_size,
}


def _options(
    url: str, query: str, given: Mapping[str, OptionValue], known: Mapping[str, Converter]
) -> dict[str, object]:
    """The URL's query options, then `given` over them, each converted and checked."""
    raw: dict[str, OptionValue] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        # `+` stays a plus (tokens are base64), unlike form decoding.
        name, _, value = (unquote(part) for part in pair.partition("="))
        if name in raw:
            raise ValueError(f"store URL {redact_url(url)}: option {name} is given twice")
        raw[name] = value
    raw.update({name: value for name, value in given.items() if value is not None})
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ValueError(
            f"store URL {redact_url(url)}: unknown option {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    try:
        return {name: known[name](name, value) for name, value in raw.items()}
    except ValueError as exc:
        raise ValueError(f"store URL {redact_url(url)}: {exc}") from None


def parse_store_url(url: str, **options: OptionValue) -> StoreSpec:
    """What `url` asks for, without opening anything (settings validate with this)."""
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(f"store URL {redact_url(str(url))!r} is not a URL: {EXPECTED}")
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise ValueError(f"store URL {redact_url(url)} cannot be read: {EXPECTED}") from None
    scheme = parts.scheme.lower()
    if parts.fragment:
        raise ValueError(f"store URL {redact_url(url)} has a '#' part: {EXPECTED}")
    if scheme == "sqlite":
        return _sqlite_spec(url, parts.netloc, parts.path, parts.query, options)
    if scheme in ("influxdb", "influxdbs"):
        return _influx_spec(url, scheme, parts.query, options)
    raise ValueError(f"store URL scheme {parts.scheme!r} is not supported: {EXPECTED}")


def _sqlite_spec(
    url: str, netloc: str, path: str, query: str, given: Mapping[str, OptionValue]
) -> SQLiteSpec:
    if netloc:
        raise ValueError(
            f"store URL {redact_url(url)}: a sqlite URL has no host; write sqlite:///relative.db "
            "or sqlite:////absolute/path.db"
        )
    file = unquote(path[1:]) if path.startswith("/") else unquote(path)
    if not file or file.endswith("/"):
        raise ValueError(f"store URL {redact_url(url)} names no database file: {EXPECTED}")
    if "\x00" in file:
        raise ValueError(f"store URL {redact_url(url)}: the file name contains a NUL character")
    options = _options(url, query, given, SQLITE_OPTIONS)
    # The converters above made each option's value the field's type.
    return SQLiteSpec(path=file, **options)  # type: ignore[arg-type]


def _influx_spec(url: str, scheme: str, query: str, given: Mapping[str, OptionValue]) -> InfluxSpec:
    parts = urlsplit(url.strip())
    try:
        host = parts.hostname
        port = parts.port or DEFAULT_INFLUX_PORT
    except ValueError:
        raise ValueError(f"store URL {redact_url(url)} has an invalid port: {EXPECTED}") from None
    if not host:
        raise ValueError(f"store URL {redact_url(url)} names no host: {EXPECTED}")
    segments = [segment for segment in parts.path.split("/") if segment]
    if not segments:
        raise ValueError(f"store URL {redact_url(url)} names no database: {EXPECTED}")
    database = unquote(segments[-1])
    prefix = "".join(f"/{segment}" for segment in segments[:-1])
    options = _options(url, query, given, INFLUX_OPTIONS)
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if "token" in options and (username or password):
        raise ValueError(
            f"store URL {redact_url(url)}: give either user:password@ or ?token=, not both"
        )
    shown_host = f"[{host}]" if ":" in host else host
    base_url = urlunsplit(
        ("https" if scheme == "influxdbs" else "http", f"{shown_host}:{port}", prefix, "", "")
    )
    return InfluxSpec(
        base_url=base_url,
        database=database,
        username=username or None,
        password=password,
        **options,  # type: ignore[arg-type]
    )


def open_store(url: str, **options: OptionValue) -> ReadingStore:
    """Open the readings store `url` names; `options` override the URL's query options.

    Raises `ValueError` for a bad URL. An InfluxDB that cannot be reached yet does not
    fail here: the store retries (and creates the database) on its first write.
    """
    spec = parse_store_url(url, **options)
    if isinstance(spec, SQLiteSpec):
        return SQLiteStore(spec.path, synchronous=spec.synchronous, timeout=spec.timeout)
    return InfluxStore(
        spec.base_url,
        spec.database,
        username=spec.username,
        password=spec.password,
        token=spec.token,
        retention_policy=spec.rp,
        gzip=spec.gzip,
        verify=spec.verify,
        ca_file=spec.ca_file,
        create_database=spec.create_database,
        timeout=spec.timeout,
        max_batch_points=spec.max_batch_points,
    )


def redact_url(url: str) -> str:
    """`url` with its password and token replaced by `***`, safe to log.

    Works on the text itself, not on a parse of it, so that even a malformed URL (an
    unescaped `@`, `/` or `?` in a password) is hidden rather than shown: when in doubt,
    more is hidden.
    """
    scheme, separator, rest = url.partition("://")
    if separator:
        at = rest.rfind("@")
        if at >= 0:
            user, has_password, _ = rest[:at].partition(":")
            rest = f"{user}{':***' if has_password else ''}@{rest[at + 1 :]}"
        head = f"{scheme}://"
    else:
        head, rest = "", url
    base, question, query = rest.partition("?")
    if question:
        query, hash_mark, fragment = query.partition("#")
        pairs = []
        for pair in query.split("&"):
            name = unquote(pair.partition("=")[0]).strip().lower()
            pairs.append(f"{pair.partition('=')[0]}=***" if name in SENSITIVE_OPTIONS else pair)
        rest = f"{base}?{'&'.join(pairs)}{hash_mark}{fragment}"
    return head + rest
