"""InfluxQL over `http.client`: the query path's lean transport, one connection per thread.

The API answers most requests with one small InfluxQL query, and httpx spent ~0.5 ms of
CPU on each (URL parsing, h11, its pool's locks, gzip): more than the rest of the request's
own work. `http.client` with a keep-alive connection per thread takes ~0.15 ms for the same
query. Answers are asked for uncompressed (`Accept-Encoding: identity`): they are a few kB
over a short link, and compressing them cost InfluxDB a fifth of its CPU per query.

Writes stay on httpx (big gzip bodies, few requests); so does everything when an HTTP proxy
from the environment applies to the server, which httpx honours and `http.client` does not.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import ssl
import threading
import urllib.request
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from storage.errors import StoreUnavailable

# Errors meaning a kept-alive connection was closed by the other side while idle: the
# query is sent again once, on a new connection (queries only read, so that is harmless).
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class _Stale(Exception):
    """A kept-alive connection turned out closed: try again on a new one."""


class _Held:
    """One thread's connection, in that thread's local storage."""

    __slots__ = ("__weakref__", "connection")

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self.connection = connection


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


def basic_auth(username: str | None, password: str | None) -> str | None:
    """The `Authorization` value for v1 basic auth, or None without credentials."""
    if not username and not password:
        return None
    pair = f"{username or ''}:{password or ''}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def proxied(base_url: str) -> bool:
    """True when an HTTP(S) proxy from the environment applies to `base_url`."""
    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


class QueryTransport:
    """POSTs to one InfluxDB server over keep-alive connections, one per calling thread.

    `context` is the store's httpx client's own (`httpx.create_ssl_context`), so both trust
    the same certificates. Failures to connect, time-outs and TLS errors raise
    `StoreUnavailable`, worded as on the httpx path; HTTP error statuses are returned for
    the caller to judge.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str],
        context: ssl.SSLContext | None,
        timeout: float,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._https = parts.scheme == "https"
        self._context = context
        self._timeout = timeout
        self._headers = dict(headers)
        self._local = threading.local()
        # Weak: a connection goes with the thread that used it.
        self._open: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST `body` to `path` (below the base URL's path) and read the whole answer."""
        if self._closed:
            raise StoreUnavailable(f"InfluxDB store for {self.base_url} is closed")
        held: _Held | None = getattr(self._local, "held", None)
        connection = held.connection if held is not None else None
        if connection is not None:
            try:
                return self._exchange(connection, path, body, headers, reused=True)
            except _Stale:
                pass
        return self._exchange(self._connect(), path, body, headers, reused=False)

    def _exchange(
        self,
        connection: http.client.HTTPConnection,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        reused: bool,
    ) -> Answer:
        try:
            connection.request("POST", self._prefix + path, body, {**self._headers, **headers})
            response = connection.getresponse()
            content = response.read()
        except Exception as exc:
            self._discard(connection)
            if reused and isinstance(exc, _STALE):
                raise _Stale from exc
            if isinstance(exc, OSError | http.client.HTTPException):
                raise StoreUnavailable(self._failure(exc)) from exc
            raise
        answer_headers = {name.lower(): value for name, value in response.getheaders()}
        if answer_headers.get("content-encoding") == "gzip":  # a proxy may compress anyway
            content = gzip.decompress(content)
        if response.will_close:
            self._discard(connection)
        return Answer(response.status, answer_headers, content)

    def _failure(self, exc: Exception) -> str:
        """What went wrong, worded as the store's httpx path words it."""
        if isinstance(exc, TimeoutError):
            return f"InfluxDB at {self.base_url} did not answer in time ({type(exc).__name__})"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return (
                f"InfluxDB at {self.base_url} sent a TLS certificate that does not verify "
                f"({exc}); give its CA with ca_file= in the store URL"
            )
        return f"cannot reach InfluxDB at {self.base_url}: {exc}"

    def _connect(self) -> http.client.HTTPConnection:
        with self._lock:
            if self._closed:
                raise StoreUnavailable(f"InfluxDB store for {self.base_url} is closed")
            connection: http.client.HTTPConnection
            if self._https:
                connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=self._context
                )
            else:
                connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout
                )
            self._open.add(connection)
        held = _Held(connection)
        # Closed when the thread ends and its local storage goes, not left to the collector.
        weakref.finalize(held, connection.close)
        self._local.held = held
        return connection

    def _discard(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        with self._lock:
            self._open.discard(connection)
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None and held.connection is connection:
            self._local.held = None

    def close(self) -> None:
        """Close every connection; later queries raise `StoreUnavailable`."""
        with self._lock:
            self._closed = True
            connections, self._open = list(self._open), weakref.WeakSet()
        for connection in connections:
            connection.close()
