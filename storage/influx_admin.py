"""Administrative statements on InfluxDB through the v1 HTTP API (`/ping`, `/query`, `/write`).

The readings store (`storage.influx.InfluxStore`) reads and writes points; this client does
what an operator would do in the `influx` shell: ask the server's version, create retention
policies and continuous queries, and move whole measurements in and out as line protocol for
backups. It speaks the same API with the same credentials and TLS options, so nothing here
needs the `influx` or `influxd` binaries on the machine wherry runs on.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from storage.errors import StoreRejected, StoreUnavailable
from storage.influx import _tls_verification, quote_identifier, raise_for_status
from storage.open import InfluxSpec, parse_store_url

log = logging.getLogger(__name__)

NS_PER_SECOND = 1_000_000_000
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": NS_PER_SECOND,
    "m": 60 * NS_PER_SECOND,
    "h": 3600 * NS_PER_SECOND,
}


@dataclass(frozen=True)
class ServerVersion:
    """What `/ping` says the server is: `major` is None when it does not say."""

    text: str
    major: int | None

    @property
    def is_1x(self) -> bool:
        return self.major == 1

    @staticmethod
    def parse(text: str) -> ServerVersion:
        match = re.match(r"\s*v?(\d+)\.", text)
        return ServerVersion(text.strip() or "unknown", int(match.group(1)) if match else None)


def go_duration_ns(text: str) -> int:
    """InfluxDB's durations as it shows them (`17520h0m0s`; `0s` is for ever) in nanoseconds."""
    total = 0
    position = 0
    for match in _GO_DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += int(float(match.group(1)) * _GO_UNITS_NS[match.group(2)])
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(f"not an InfluxDB duration: {text!r}")
    return total


class InfluxAdmin:
    """One database on one InfluxDB server, for setup and backups (not for the data path)."""

    def __init__(self, spec: InfluxSpec, *, timeout: float | None = None) -> None:
        self.spec = spec
        self.database = spec.database
        self.base_url = spec.base_url
        headers = {"User-Agent": "wherry"}
        if spec.token is not None:
            headers["Authorization"] = f"Token {spec.token}"
        auth = (
            httpx.BasicAuth(spec.username or "", spec.password or "")
            if spec.username or spec.password
            else None
        )
        self._client = httpx.Client(
            base_url=spec.base_url,
            auth=auth,
            headers=headers,
            verify=_tls_verification(spec.verify, spec.ca_file, spec.base_url),
            # Setup and backups run long statements (SELECT … INTO over weeks of data).
            timeout=httpx.Timeout(timeout or max(spec.timeout, 300.0), connect=spec.timeout),
        )

    @classmethod
    def from_url(cls, url: str) -> InfluxAdmin:
        spec = parse_store_url(url)
        if not isinstance(spec, InfluxSpec):
            raise ValueError("not an InfluxDB store URL")
        return cls(spec)

    def __enter__(self) -> InfluxAdmin:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise StoreUnavailable(
                f"InfluxDB at {self.base_url} did not answer in time ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"cannot reach InfluxDB at {self.base_url}: {exc}") from exc

    def version(self) -> ServerVersion:
        """The server's version from `/ping` (1.x and 2.x send `X-Influxdb-Version`)."""
        response = self._request("GET", "/ping")
        if response.status_code >= 500:
            raise StoreUnavailable(f"InfluxDB at {self.base_url} answered /ping with {response}")
        header = response.headers.get("X-Influxdb-Version", "")
        if not header:
            try:  # 3.x answers /ping with {"version": "3…", …}
                header = str(response.json().get("version", ""))
            except (ValueError, AttributeError):
                header = ""
        return ServerVersion.parse(header)

    def run(
        self, statement: str, *, rp: str | None = None, database: bool = True
    ) -> list[dict[str, Any]]:
        """One InfluxQL statement; its series. Errors become `StoreRejected`/`StoreUnavailable`."""
        params: dict[str, str] = {"epoch": "ns"}
        if database:
            params["db"] = self.database
        if rp:
            params["rp"] = rp
        response = self._request("POST", "/query", params=params, data={"q": statement})
        self._check(response, "run " + statement.split(" ", 3)[0].upper() + " …")
        try:
            result = response.json()["results"][0]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise StoreUnavailable(
                f"InfluxDB at {self.base_url} answered with something that is not InfluxDB "
                f"JSON: {response.text[:200]!r}"
            ) from exc
        if "error" in result:
            raise StoreRejected(f"InfluxDB at {self.base_url}: {result['error']}")
        series: list[dict[str, Any]] = result.get("series") or []
        return series

    def stream_series(self, statement: str, *, rp: str | None = None) -> Iterator[dict[str, Any]]:
        """The series of a SELECT, streamed in chunks (`chunked=true`): a whole measurement
        never has to fit in memory, and the server's max-row-limit does not cut it short."""
        params = {"db": self.database, "epoch": "ns", "chunked": "true", "chunk_size": "10000"}
        if rp:
            params["rp"] = rp
        try:
            with self._client.stream(
                "POST", "/query", params=params, data={"q": statement}
            ) as response:
                if response.status_code >= 300:
                    response.read()
                    self._check(response, "run SELECT …")
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    result = json.loads(line)["results"][0]
                    if "error" in result:
                        raise StoreRejected(f"InfluxDB at {self.base_url}: {result['error']}")
                    yield from result.get("series") or []
        except httpx.TimeoutException as exc:
            raise StoreUnavailable(f"InfluxDB at {self.base_url} did not answer in time") from exc
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"cannot reach InfluxDB at {self.base_url}: {exc}") from exc

    def rows(self, statement: str, *, rp: str | None = None) -> list[dict[str, Any]]:
        """The rows of a one-series answer (SHOW …) as dicts by column name."""
        return [
            dict(zip(one["columns"], row, strict=True))
            for one in self.run(statement, rp=rp)
            for row in one.get("values") or []
        ]

    def write_lines(self, body: bytes, *, rp: str | None = None) -> None:
        """POST line protocol (nanosecond times) into `rp` (None: the default policy)."""
        params = {"db": self.database, "precision": "ns"}
        if rp:
            params["rp"] = rp
        response = self._request(
            "POST",
            "/write",
            params=params,
            content=body,
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        self._check(response, "write")

    def _check(self, response: httpx.Response, action: str) -> None:
        raise_for_status(
            response,
            where=f"InfluxDB at {self.base_url}",
            action=action,
            refused_hint="retention policies, continuous queries and backups need an admin "
            "user (or an all-access token)",
        )

    # -- what is there ------------------------------------------------------------------------

    def retention_policies(self) -> dict[str, RetentionPolicy]:
        rows = self.rows(f"SHOW RETENTION POLICIES ON {quote_identifier(self.database)}")
        return {
            str(row["name"]): RetentionPolicy(
                name=str(row["name"]),
                duration_ns=go_duration_ns(str(row["duration"])),
                default=bool(row["default"]),
            )
            for row in rows
        }

    def continuous_queries(self) -> dict[str, str]:
        """This database's continuous queries: name → the statement as the server keeps it."""
        found: dict[str, str] = {}
        for one in self.run("SHOW CONTINUOUS QUERIES", database=False):
            if one.get("name") != self.database:
                continue
            for name, query in one.get("values") or []:
                found[str(name)] = str(query)
        return found

    def measurements(self, rp: str | None = None) -> list[str]:
        # SHOW MEASUREMENTS reads the index, which holds every retention policy's series:
        # a measurement is only in `rp` if it has a point there.
        names = [str(row["name"]) for row in self.rows("SHOW MEASUREMENTS")]
        return [name for name in names if self.first_time_ns(name, rp=rp) is not None]

    def first_time_ns(self, measurement: str, *, rp: str | None = None) -> int | None:
        return self._edge_time(measurement, rp, "ASC")

    def last_time_ns(self, measurement: str, *, rp: str | None = None) -> int | None:
        return self._edge_time(measurement, rp, "DESC")

    def _edge_time(self, measurement: str, rp: str | None, order: str) -> int | None:
        source = self.qualified(measurement, rp)
        series = self.run(f"SELECT * FROM {source} ORDER BY time {order} LIMIT 1")
        if not series or not series[0].get("values"):
            return None
        return int(series[0]["values"][0][0])

    def qualified(self, measurement: str, rp: str | None) -> str:
        """`"db"."rp"."measurement"`; with no `rp`, `"db".."measurement"` (the default)."""
        policy = quote_identifier(rp) if rp else ""
        return f"{quote_identifier(self.database)}.{policy}.{quote_identifier(measurement)}"

    def field_types(
        self, measurement: str, *, rp: str | None = None
    ) -> Mapping[str, frozenset[str]]:
        """Each field's types (more than one when shards disagree), as `series_points` takes."""
        kinds: dict[str, set[str]] = {}
        for row in self.rows(f"SHOW FIELD KEYS FROM {self.qualified(measurement, rp)}"):
            kinds.setdefault(str(row["fieldKey"]), set()).add(str(row["fieldType"]))
        return {name: frozenset(found) for name, found in kinds.items()}


@dataclass(frozen=True)
class RetentionPolicy:
    name: str
    duration_ns: int  # 0: for ever
    default: bool
