"""Readings in InfluxDB, through the v1-compatible HTTP API only.

Line protocol is POSTed to `/write` (through httpx), InfluxQL to `/query` (through
`http.client`, see influx_queries.py: the API's requests are mostly one small query each).
InfluxDB 1.x serves this API, so do 2.x (v1 compatibility endpoints, DBRP mappings, token
auth) and 3.x: one client for all of them, no Flux, no `/api/v2/write`.

Errors are mapped by what the caller should do next: connection failures, timeouts,
429 and 5xx raise `StoreUnavailable` (keep the points, retry later); 400 (bad line
protocol, field type conflict, partial write), 401/403 (credentials), 404 (no such
database) and 413 raise `StoreRejected` (retrying the same request will not help).
"""

from __future__ import annotations

import gzip as gzip_module
import heapq
import json
import logging
import ssl
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from storage.errors import StoreRejected, StoreUnavailable
from storage.influx_queries import QueryTransport, basic_auth, proxied
from storage.line_protocol import MAX_TIME_NS, MIN_TIME_NS, check_points, encode_point
from storage.points import FieldValue, Point
from storage.readings import (
    NUMERIC_KINDS,
    AggregateFunction,
    AggregateValue,
    check_aggregate,
    field_set,
    newest_per_group,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH_POINTS = 5_000
DEFAULT_TIMEOUT = 10.0
GZIP_LEVEL = 1  # on 5,000 points: 18x smaller, 2x faster than level 5
RECENT_CONDITION = "time >= now() - 1d"  # where `latest` looks first
LATEST_FALLBACK_GROUPS = 200  # groups named in one query when looking further back
# Answers uncompressed: a few kB over a short link, and gzip cost InfluxDB ~20 % of its CPU
# per query (and the API the inflating).
_FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept-Encoding": "identity"}


def quote_identifier(name: str) -> str:
    """An InfluxQL identifier in double quotes; nothing inside can end it early."""
    return '"' + _escape_influxql(name, '"') + '"'


def quote_literal(value: str) -> str:
    """An InfluxQL string literal in single quotes; nothing inside can end it early."""
    return "'" + _escape_influxql(value, "'") + "'"


def _escape_influxql(text: str, quote: str) -> str:
    # InfluxQL's scanner knows exactly these escapes: \\ \' \" \n. A raw newline inside
    # quotes is a syntax error, so it travels as \n.
    return text.replace("\\", "\\\\").replace(quote, "\\" + quote).replace("\n", "\\n")


def _nameable(*texts: str) -> bool:
    """False when InfluxQL cannot write one of `texts` (CR, NUL): nothing stored has it."""
    return not any("\r" in text or "\x00" in text for text in texts)


def _time_bound(value: int | None, name: str) -> int | None:
    """A time bound as an int to put into query text: never anything else."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int of nanoseconds, not {type(value).__name__}")
    return int(value)


class InfluxStore:
    """Points in an InfluxDB database (or a 2.x/3.x bucket mapped to one).

    `base_url` is the server's HTTP(S) address (`http://host:8086`, or with a path prefix
    behind a reverse proxy). Give `username`/`password` for v1 basic auth or `token` for
    2.x/3.x (`Authorization: Token …`). `write` sends what it is given, in requests of at
    most `max_batch_points` points; batching over time is the caller's job.
    """

    def __init__(
        self,
        base_url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        retention_policy: str | None = None,
        gzip: bool = True,
        verify: bool = True,
        ca_file: str | Path | None = None,
        create_database: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        max_batch_points: int = DEFAULT_MAX_BATCH_POINTS,
    ) -> None:
        if not database:
            raise ValueError("an InfluxDB database name is required")
        if token is not None and (username is not None or password is not None):
            raise ValueError("give either a username/password or a token, not both")
        if max_batch_points < 1:
            raise ValueError(f"max_batch_points must be at least 1, not {max_batch_points}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        self.base_url = base_url.rstrip("/")
        self.database = database
        self.retention_policy = retention_policy
        self.gzip = gzip
        self.create_database = create_database
        self.max_batch_points = max_batch_points
        self._database_ready = False
        self._query_path = "/query?" + urlencode(self._params(epoch="ns"))
        self._lock = threading.Lock()
        self._field_types: dict[str, dict[str, frozenset[str]]] = {}
        headers = {"User-Agent": "wherry"}
        if token is not None:
            headers["Authorization"] = f"Token {token}"
        auth = httpx.BasicAuth(username or "", password or "") if username or password else None
        tls = httpx.create_ssl_context(_tls_verification(verify, ca_file, self.base_url))
        self._client = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            headers=headers,
            verify=tls,
            timeout=httpx.Timeout(timeout),
        )
        # Queries go through http.client (influx_queries.py), unless a proxy applies.
        self._queries: QueryTransport | None = None
        if not proxied(self.base_url):
            authorization = basic_auth(username, password)
            self._queries = QueryTransport(
                self.base_url,
                headers={**headers, **({"Authorization": authorization} if authorization else {})},
                context=tls if self.base_url.startswith("https:") else None,
                timeout=timeout,
            )
        try:
            self._prepare()
        except StoreUnavailable as exc:
            log.warning("InfluxDB not reachable yet (%s); will retry on first write", exc)

    def __repr__(self) -> str:
        return f"InfluxStore({self.base_url!r}, database={self.database!r})"

    # -- HTTP -------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return self._client.request(
                method, path, params=params, content=content, data=data, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise StoreUnavailable(
                f"InfluxDB at {self.base_url} did not answer in time ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            if _caused_by(exc, ssl.SSLCertVerificationError):
                raise StoreUnavailable(
                    f"InfluxDB at {self.base_url} sent a TLS certificate that does not verify "
                    f"({exc}); give its CA with ca_file= in the store URL"
                ) from exc
            raise StoreUnavailable(f"cannot reach InfluxDB at {self.base_url}: {exc}") from exc
        except RuntimeError as exc:  # the client was closed
            raise StoreUnavailable(f"InfluxDB store for {self.base_url} is closed") from exc

    def _params(self, **extra: str) -> dict[str, str]:
        params = {"db": self.database, **extra}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        return params

    def _raise_for_status(self, response: httpx.Response, action: str) -> None:
        raise_for_status(
            response,
            where=f"InfluxDB at {self.base_url}",
            action=action,
            refused_hint="check the user and password or the token in the store URL, and its "
            f"rights on database {self.database!r}",
        )

    # -- database ---------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Create the database once, when allowed; a refusal is not fatal (it may exist)."""
        if self._database_ready:
            return
        with self._lock:
            if self._database_ready:
                return
            if self.create_database:
                self._create_database()
            self._database_ready = True

    def _create_database(self) -> None:
        statement = f"CREATE DATABASE {quote_identifier(self.database)}"
        response = self._request("POST", "/query", params={}, data={"q": statement})
        if response.status_code == 429 or response.status_code >= 500:
            self._raise_for_status(response, "create the database")
        if response.status_code >= 300:
            problem: str | None = f"{response.status_code}: {_error_message(response)}"
        else:
            problem = _statement_error(response)
        self._field_types.clear()
        if problem:
            log.warning(
                "could not create InfluxDB database %r (%s); carrying on, it may already exist",
                self.database,
                problem,
            )
        else:
            log.info("InfluxDB database %r is ready at %s", self.database, self.base_url)

    # -- writing ----------------------------------------------------------------------------

    def write(self, points: Sequence[Point]) -> None:
        """Send the points, in requests of at most `max_batch_points`.

        Every point is checked before anything is sent (`InvalidPoint` names the first bad
        one). If a later request fails, earlier ones stay written; rewriting is harmless.
        """
        if not points:
            return
        check_points(points)
        self._prepare()
        for start in range(0, len(points), self.max_batch_points):
            chunk = points[start : start + self.max_batch_points]
            body = ("\n".join([encode_point(point) for point in chunk]) + "\n").encode("utf-8")
            self._write_body(body, len(chunk))

    def _write_body(self, body: bytes, count: int) -> None:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.gzip:
            body = gzip_module.compress(body, compresslevel=GZIP_LEVEL)
            headers["Content-Encoding"] = "gzip"
        params = self._params(precision="ns")
        response = self._request("POST", "/write", params=params, content=body, headers=headers)
        if response.status_code == 404 and self.create_database:
            # The database went away (dropped, or the server's data was reset): make it again.
            log.warning("InfluxDB says %s; creating it", _error_message(response))
            self._create_database()
            response = self._request("POST", "/write", params=params, content=body, headers=headers)
        self._raise_for_status(response, f"write {count} points")

    # -- reading ----------------------------------------------------------------------------

    def _run(self, statement: str) -> list[dict[str, Any]]:
        """Run one InfluxQL statement; its series, or StoreRejected with Influx's reason."""
        self._prepare()
        # The query string is encoded once and the body by hand: the API runs many small
        # queries, and every step of building a request costs CPU on each.
        content = urlencode({"q": statement}).encode("utf-8")
        if self._queries is None:
            response = self._request(
                "POST", self._query_path, params=None, content=content, headers=_FORM
            )
            self._raise_for_status(response, "run a query")
            body = response.content
        else:
            answer = self._queries.post(self._query_path, content, _FORM)
            if answer.status >= 300:
                refusal = httpx.Response(answer.status, headers=answer.headers, content=answer.body)
                self._raise_for_status(refusal, "run a query")
            body = answer.body
        try:
            result = json.loads(body)["results"][0]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise StoreUnavailable(
                f"InfluxDB at {self.base_url} answered a query with something that is not "
                f"InfluxDB JSON: {body[:200].decode('utf-8', 'replace')!r}"
            ) from exc
        if "error" in result:
            raise StoreRejected(f"InfluxDB at {self.base_url}: {result['error']}")
        if result.get("partial"):
            log.warning("InfluxDB truncated the answer to %s (max-row-limit?)", statement[:200])
        series: list[dict[str, Any]] = result.get("series") or []
        return series

    def _where(
        self, tags: Mapping[str, str] | None, start_ns: int | None, end_ns: int | None
    ) -> str:
        conditions = _tag_conditions(tags)
        if start_ns is not None:
            conditions.append(f"time >= {start_ns}")
        if end_ns is not None:
            conditions.append(f"time < {end_ns}")
        return f" WHERE {' AND '.join(conditions)}" if conditions else ""

    def query(
        self,
        measurement: str,
        *,
        tags: Mapping[str, str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int | None = None,
        fields: Collection[str] | None = None,
    ) -> list[Point]:
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise ValueError(f"limit must be an int >= 0, not {limit!r}")
            if limit == 0:  # InfluxQL reads LIMIT 0 as "no limit"
                return []
        bounds = _clamped(start_ns, end_ns)
        if bounds is None:
            return []
        start_ns, end_ns = bounds
        # A field name InfluxQL cannot write (CR, NUL) is carried by no stored point.
        wanted = sorted(name for name in set(fields) if _nameable(name)) if fields else None
        if (fields is not None and not wanted) or not _nameable(
            measurement, *(tags or {}).keys(), *(tags or {}).values()
        ):
            return []
        # GROUP BY * returns tags as series tags, apart from fields; LIMIT then applies per
        # series, so the series are merged by time and cut to `limit` here. Rows whose
        # selected fields are all null are not returned: `fields` selects points by field.
        selected = (
            ",".join(f"{quote_identifier(name)}::field" for name in wanted) if wanted else "*"
        )
        statement = (
            f"SELECT {selected} FROM {quote_identifier(measurement)}"
            f"{self._where(tags, start_ns, end_ns)} GROUP BY * ORDER BY time ASC"
        )
        if limit is not None:
            statement += f" LIMIT {int(limit)}"
        series = self._run(statement)
        if not series:
            return []
        types = self._types_of(measurement, series)
        merged = heapq.merge(
            *(series_points(measurement, one, types) for one in series),
            key=lambda point: point.time_ns,
        )
        return list(islice(merged, limit))

    def _types_of(
        self, measurement: str, series: Sequence[Mapping[str, Any]]
    ) -> Mapping[str, frozenset[str]]:
        """Field types of `measurement`: JSON alone would turn the float 1.0 into 1."""
        columns = {name for one in series for name in one["columns"][1:]}
        known = self._field_types.get(measurement, {})
        if columns <= known.keys():
            return known
        found: dict[str, set[str]] = {}
        for one in self._run(f"SHOW FIELD KEYS FROM {quote_identifier(measurement)}"):
            for name, kind in one.get("values") or []:
                found.setdefault(name, set()).add(kind)
        types = {name: frozenset(kinds) for name, kinds in found.items()}
        self._field_types[measurement] = types
        return types

    def latest(
        self,
        measurement: str,
        *,
        tags: Mapping[str, str] | None = None,
        group_by: str = "device_id",
    ) -> dict[str, Point]:
        # Not last(*): it takes each field's last value on its own, which may come from
        # different points. The newest row of each series is a whole point, and the newest
        # series of each group wins. InfluxDB opens every shard a query's time range
        # touches, so the newest rows are asked for over the last day first (one shard,
        # ~5x faster on 30 days of data); only groups with nothing that recent are looked
        # for again without a bound.
        if not _nameable(measurement, group_by, *(tags or {}).keys(), *(tags or {}).values()):
            return {}
        conditions = _tag_conditions(tags)
        points = self._newest_rows(measurement, [*conditions, RECENT_CONDITION], group_by)
        if tags and tags.get(group_by):
            groups = {tags[group_by]}
        else:
            groups = self._tag_values(measurement, group_by, conditions)
        missing = sorted(groups - {point.tags[group_by] for point in points})
        if len(missing) > len(groups) // 2:
            points += self._newest_rows(measurement, conditions, group_by)
        else:
            for start in range(0, len(missing), LATEST_FALLBACK_GROUPS):
                chosen = " OR ".join(
                    f"{quote_identifier(group_by)}::tag = {quote_literal(group)}"
                    for group in missing[start : start + LATEST_FALLBACK_GROUPS]
                )
                points += self._newest_rows(measurement, [*conditions, f"({chosen})"], group_by)
        return newest_per_group(points, group_by)

    def _newest_rows(
        self, measurement: str, conditions: Sequence[str], group_by: str
    ) -> list[Point]:
        """The newest point of each series matching `conditions` that has tag `group_by`."""
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        statement = (
            f"SELECT * FROM {quote_identifier(measurement)}{where} "
            "GROUP BY * ORDER BY time DESC LIMIT 1"
        )
        series = [one for one in self._run(statement) if (one.get("tags") or {}).get(group_by)]
        if not series:
            return []
        types = self._types_of(measurement, series)
        return [point for one in series for point in series_points(measurement, one, types)]

    def _tag_values(self, measurement: str, key: str, conditions: Sequence[str]) -> set[str]:
        """Values of tag `key` among series matching `conditions` (from the index: cheap)."""
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        statement = (
            f"SHOW TAG VALUES FROM {quote_identifier(measurement)} "
            f"WITH KEY = {quote_identifier(key)}{where}"
        )
        return {
            str(row[1]) for one in self._run(statement) for row in one.get("values") or [] if row[1]
        }

    def aggregate(
        self,
        measurement: str,
        field: str,
        *,
        function: AggregateFunction,
        window_ns: int,
        start_ns: int,
        end_ns: int,
        tags: Mapping[str, str] | None = None,
    ) -> list[tuple[int, AggregateValue]]:
        answer = self.aggregate_fields(
            measurement,
            [field],
            function=function,
            window_ns=window_ns,
            start_ns=start_ns,
            end_ns=end_ns,
            tags=tags,
        )
        return answer.get(field, [])

    def aggregate_fields(
        self,
        measurement: str,
        fields: Collection[str],
        *,
        function: AggregateFunction,
        window_ns: int,
        start_ns: int,
        end_ns: int,
        tags: Mapping[str, str] | None = None,
    ) -> dict[str, list[tuple[int, AggregateValue]]]:
        # One statement for every field: `SELECT mean("a"::field) AS "a", mean("b"::field)
        # AS "b" …`. fill(none) drops only windows where every field is empty, so each
        # field's empty windows are dropped here: the answer is what one query per field gives.
        check_aggregate(function, window_ns)
        bounds = _clamped(_time_bound(start_ns, "start_ns"), _time_bound(end_ns, "end_ns"))
        wanted = [name for name in field_set(fields) if _nameable(name)]
        if (
            bounds is None
            or not wanted
            or not _nameable(measurement, *(tags or {}).keys(), *(tags or {}).values())
        ):
            return {}
        start, end = bounds
        if start is None or end is None or start >= end:
            return {}
        types = self._types_of(measurement, [{"columns": ["time", *wanted]}])
        known = [(name, types[name]) for name in wanted if types.get(name)]
        for name, kinds in known:
            if function != "count" and not kinds <= NUMERIC_KINDS:
                raise StoreRejected(
                    f"cannot take the {function} of field {name!r} of {measurement!r}: it "
                    f"holds {'/'.join(sorted(kinds))} values; only count works on those"
                )
        if not known:
            return {}
        selected = ", ".join(
            f"{function}({quote_identifier(name)}::field) AS {quote_identifier(name)}"
            for name, _ in known
        )
        statement = (
            f"SELECT {selected} FROM {quote_identifier(measurement)}"
            f"{self._where(tags, start, end)} GROUP BY time({int(window_ns)}ns) fill(none)"
        )
        series = self._run(statement)
        if not series:
            return {}
        columns: list[str] = series[0]["columns"]
        rows = series[0].get("values") or []
        answer: dict[str, list[tuple[int, AggregateValue]]] = {}
        for name, kinds in known:
            position = columns.index(name)
            cast = _aggregate_cast(function, kinds)
            windows = [
                (int(row[0]), cast(row[position])) for row in rows if row[position] is not None
            ]
            if windows:
                answer[name] = windows
        return answer

    def field_names(
        self,
        measurement: str,
        *,
        tags: Mapping[str, str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[str]:
        bounds = _clamped(_time_bound(start_ns, "start_ns"), _time_bound(end_ns, "end_ns"))
        if bounds is None or not _nameable(
            measurement, *(tags or {}).keys(), *(tags or {}).values()
        ):
            return []
        statement = (
            f"SELECT count(*) FROM {quote_identifier(measurement)}{self._where(tags, *bounds)}"
        )
        series = self._run(statement)
        if not series or not series[0].get("values"):
            return []
        columns: list[str] = series[0]["columns"]
        row = series[0]["values"][0]
        return sorted(
            column.removeprefix("count_")
            for column, value in zip(columns[1:], row[1:], strict=True)
            if value
        )

    def count(self, measurement: str, field: str, *, tags: Mapping[str, str] | None = None) -> int:
        if not _nameable(measurement, field, *(tags or {}).keys(), *(tags or {}).values()):
            return 0
        statement = (
            f"SELECT COUNT({quote_identifier(field)}) FROM {quote_identifier(measurement)}"
            f"{self._where(tags, None, None)}"
        )
        series = self._run(statement)
        if not series or not series[0].get("values"):
            return 0
        return int(series[0]["values"][0][1] or 0)

    def ping(self) -> bool:
        try:
            response = self._request("GET", "/ping", params={})
        except StoreUnavailable:
            return False
        return response.status_code < 300

    def close(self) -> None:
        self._client.close()
        if self._queries is not None:
            self._queries.close()


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    visited: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in visited:
        if isinstance(current, kind):
            return True
        visited.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _tag_conditions(tags: Mapping[str, str] | None) -> list[str]:
    """InfluxQL conditions for exact tag values; '' matches series without the tag."""
    return [
        f"{quote_identifier(key)}::tag = {quote_literal(value)}"
        for key, value in sorted((tags or {}).items())
    ]


def _clamped(start_ns: int | None, end_ns: int | None) -> tuple[int | None, int | None] | None:
    """Time bounds InfluxQL can take, or None when no stored time can lie between them."""
    start_ns = _time_bound(start_ns, "start_ns")
    end_ns = _time_bound(end_ns, "end_ns")
    if start_ns is not None:
        if start_ns > MAX_TIME_NS:
            return None
        start_ns = max(start_ns, MIN_TIME_NS)
    if end_ns is not None:
        if end_ns <= MIN_TIME_NS:
            return None
        end_ns = min(end_ns, MAX_TIME_NS + 1)
    return start_ns, end_ns


def _aggregate_cast(function: str, kinds: frozenset[str]) -> Callable[[Any], AggregateValue]:
    """How to read an aggregate from JSON, where the float 2.0 arrives as 2."""
    if function == "count":
        return int
    if function == "mean" or kinds == {"float"}:
        return float
    if kinds == {"integer"}:
        return int
    return lambda value: value


def series_points(
    measurement: str, series: Mapping[str, Any], types: Mapping[str, frozenset[str]]
) -> Iterator[Point]:
    """The points of one series of a /query answer, each field typed by `types` (its kinds in
    `SHOW FIELD KEYS`), so a float 2.0 stays a float and an integer 2 an integer."""
    tags = {key: value for key, value in (series.get("tags") or {}).items() if value != ""}
    columns: list[str] = series["columns"]
    for row in series.get("values") or []:
        fields = {
            name: _typed(value, types.get(name))
            for name, value in zip(columns[1:], row[1:], strict=True)
            if value is not None
        }
        if fields:
            yield Point(measurement, dict(tags), fields, int(row[0]))


def _typed(value: Any, kinds: frozenset[str] | None) -> FieldValue:
    if kinds is not None and len(kinds) == 1:
        (kind,) = kinds
        if kind == "float" and not isinstance(value, bool):
            return float(value)
        if kind == "integer" and not isinstance(value, bool):
            return int(value)
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def raise_for_status(
    response: httpx.Response, *, where: str, action: str, refused_hint: str
) -> None:
    """Nothing for a 2xx; otherwise `StoreUnavailable` when trying later may help (429,
    5xx), or `StoreRejected` saying what was refused and, for 401/403, `refused_hint`."""
    status = response.status_code
    if status < 300:
        return
    message = _error_message(response)
    if status in (401, 403):
        raise StoreRejected(f"{where} refused to {action} ({status}: {message}); {refused_hint}")
    if status == 429 or status >= 500:
        raise StoreUnavailable(f"{where} could not {action} now ({status}: {message})")
    if status == 404:
        raise StoreRejected(f"{where} cannot {action}: {message} ({status})")
    if status == 413:
        raise StoreRejected(
            f"{where} refused a request as too large ({message}); "
            "lower max_batch_points in the store URL"
        )
    raise StoreRejected(f"{where} refused to {action} ({status}): {message}")


def _error_message(response: httpx.Response) -> str:
    """What InfluxDB said was wrong: its JSON `error` (1.x) or `message` (2.x/3.x)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message"):
            if isinstance(body.get(key), str):
                return str(body[key])
    header: str = response.headers.get("X-Influxdb-Error", "")
    if header:
        return header
    return response.text.strip()[:500] or response.reason_phrase


def _statement_error(response: httpx.Response) -> str | None:
    try:
        results = response.json().get("results") or []
    except (ValueError, AttributeError):
        return None
    for result in results:
        if isinstance(result, dict) and result.get("error"):
            return str(result["error"])
    return None


def _tls_verification(
    verify: bool, ca_file: str | Path | None, base_url: str
) -> ssl.SSLContext | bool:
    if not verify:
        if base_url.startswith("https:"):
            log.warning(
                "TLS certificate verification is OFF for %s: anyone on the path can read and "
                "change readings; use ca_file instead where you can",
                base_url,
            )
        return False
    if ca_file is not None:
        try:
            return ssl.create_default_context(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot load CA file {ca_file}: {exc}") from exc
    return True
