"""The Things Stack's Storage Integration, read over its HTTP API: the uplinks MQTT missed.

    GET {base}/api/v3/as/applications/{app}/packages/storage/uplink_message
        ?after=<RFC 3339>&limit=<n>&order=received_at
    Authorization: Bearer <API key with the right to read application traffic>
    Accept: text/event-stream

The answer streams one JSON object per line, `{"result": <ApplicationUp>}`, separated
by blank lines; an error part-way through arrives as `{"error": {…}}`. Lines are read
as they come and handed over undecoded (the pipeline parses them like any other
message); only `received_at` is looked at here, to page on.

Errors say what to do next: `StorageRefused` (401, 403, 404, other 4xx) will not
change by retrying; `StorageUnavailable` (no connection, timeout, 429, 5xx, a
stream cut short or an in-stream error) may.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pydantic_core

from gateway_bridge.envelopes.timestamps import parse_rfc3339_ns
from gateway_bridge.sources.cursors import format_rfc3339_ns

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_LINE_BYTES = 1024 * 1024
_SSE_FIELDS = (b"event:", b"id:", b"retry:")


class BackfillError(Exception):
    """The Storage Integration could not be read; the message says why and what to check."""


class StorageRefused(BackfillError):
    """The server refused the request (credentials, rights, unknown application): retrying
    the same request will not help."""


class StorageUnavailable(BackfillError):
    """The server could not be reached or stopped answering part-way: worth retrying later."""


@dataclass(frozen=True)
class StorageOptions:
    """Where the Storage Integration is and how to authenticate. The key never appears in
    `repr()` or in error messages."""

    base_url: str
    """The Things Stack's address, e.g. https://eu1.cloud.thethings.network."""
    api_key: str = field(repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S
    """Seconds allowed to connect and between two chunks of the answer."""
    ca_file: str | None = None
    """PEM bundle of the CAs to trust; None trusts the system's CAs."""
    verify: bool = True
    """Check the server's certificate. Off only for tests against a throwaway server."""
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    """Longer lines are cut to this many bytes (the pipeline then dead-letters them as
    oversize) instead of growing memory without bound."""

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(
                f"Storage Integration URL {self.base_url!r}: expected https://host[:port], "
                "e.g. https://eu1.cloud.thethings.network"
            )
        if not self.api_key:
            raise ValueError("the Storage Integration needs an API key")


@dataclass(frozen=True, slots=True)
class StoredUplink:
    """One line of the answer: the bytes as sent, and its `received_at` when readable."""

    body: bytes
    received_at_ns: int | None


def storage_path(application_id: str) -> str:
    return (
        f"/api/v3/as/applications/{quote(application_id, safe='')}/packages/storage/uplink_message"
    )


class TtnStorageClient:
    """Reads pages of stored uplinks. One HTTP connection pool, closed by `close()`."""

    def __init__(
        self, options: StorageOptions, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.options = options
        verify: ssl.SSLContext | bool = options.verify
        if options.verify and options.ca_file is not None:
            verify = ssl.create_default_context(cafile=options.ca_file)
        if not options.verify:
            log.warning(
                "TLS certificate checks are OFF for the Storage Integration at %s: anyone on "
                "the path can read the API key",
                options.base_url,
            )
        self._client = httpx.Client(
            base_url=options.base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {options.api_key}",
                "Accept": "text/event-stream",
                "User-Agent": "wherry-backfill",
            },
            timeout=httpx.Timeout(options.timeout_s),
            verify=verify,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> TtnStorageClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def page(self, application_id: str, *, after_ns: int, limit: int) -> Iterator[StoredUplink]:
        """Up to `limit` uplinks of `application_id` received after `after_ns`, oldest first.

        A generator: lines are yielded as they arrive, so what came before a failure
        has already been handed on when `StorageUnavailable` is raised.
        """
        params = {
            "after": format_rfc3339_ns(after_ns),
            "limit": str(limit),
            "order": "received_at",
        }
        what = f"Storage Integration of application {application_id!r}"
        try:
            with self._client.stream("GET", storage_path(application_id), params=params) as answer:
                if answer.status_code != 200:
                    answer.read()
                    raise _refusal(answer, what)
                for line in _lines(answer.iter_bytes(), self.options.max_line_bytes):
                    uplink = _stored_uplink(line, what)
                    if uplink is not None:
                        yield uplink
        except httpx.TimeoutException as exc:
            raise StorageUnavailable(
                f"{what}: no answer within {self.options.timeout_s:g} s"
            ) from exc
        except httpx.RemoteProtocolError as exc:
            raise StorageUnavailable(f"{what}: the answer was cut short ({exc})") from exc
        except httpx.ConnectError as exc:
            raise StorageUnavailable(
                f"{what}: cannot connect to {self.options.base_url}: {_cause(exc)}"
            ) from exc
        except httpx.TransportError as exc:
            raise StorageUnavailable(f"{what}: {type(exc).__name__}: {_cause(exc)}") from exc


def _refusal(answer: httpx.Response, what: str) -> BackfillError:
    status = answer.status_code
    detail = _error_message(answer)
    suffix = f" ({detail})" if detail else ""
    if status == 401:
        return StorageRefused(
            f"{what}: the API key was not accepted (401){suffix}; check WHERRY_TTN_API_KEY"
        )
    if status == 403:
        return StorageRefused(
            f"{what}: the API key may not read this application's traffic (403){suffix}; give "
            "it the right 'read application traffic' (RIGHT_APPLICATION_TRAFFIC_READ)"
        )
    if status == 404:
        return StorageRefused(
            f"{what}: not found (404){suffix}; check the application id and that the Storage "
            "Integration is enabled for it"
        )
    if status == 429 or status >= 500:
        return StorageUnavailable(f"{what}: the server answered {status}{suffix}")
    return StorageRefused(f"{what}: the server answered {status}{suffix}")


def _error_message(answer: httpx.Response) -> str:
    """The `message` of The Things Stack's JSON error, or the start of the body."""
    try:
        document: Any = pydantic_core.from_json(answer.content)
    except ValueError:
        return answer.text[:200].strip()
    if isinstance(document, dict):
        message = document.get("message")
        if isinstance(message, str):
            return message[:200]
    return ""


def _cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        nested = exc.__cause__ or exc.__context__
        assert nested is not None
        exc = nested
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message or exc}"
    return str(exc) or type(exc).__name__


def _stored_uplink(line: bytes, what: str) -> StoredUplink | None:
    """The uplink on one line; None for SSE framing; raises for an in-stream error."""
    line = line.strip()
    if not line or line.startswith(b":") or line.startswith(_SSE_FIELDS):
        return None
    if line.startswith(b"data:"):
        line = line[5:].strip()
    try:
        document: Any = pydantic_core.from_json(line)
    except ValueError:
        return StoredUplink(line, None)  # the pipeline dead-letters it with the reason
    if isinstance(document, dict) and "result" not in document and "error" in document:
        error = document["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise StorageUnavailable(f"{what}: the server reported an error part-way: {message}")
    return StoredUplink(line, _received_at_ns(document))


def _received_at_ns(document: Any) -> int | None:
    if not isinstance(document, dict):
        return None
    message = document.get("result", document)
    if not isinstance(message, dict):
        return None
    uplink = message.get("uplink_message")
    candidates = [uplink.get("received_at") if isinstance(uplink, dict) else None]
    candidates.append(message.get("received_at"))
    for text in candidates:
        if isinstance(text, str):
            try:
                return parse_rfc3339_ns(text)
            except ValueError:
                return None
    return None


def _lines(chunks: Iterator[bytes], max_line_bytes: int) -> Iterator[bytes]:
    """Lines of a byte stream; a line longer than `max_line_bytes` is cut to that length
    (plus one byte, so it stays recognisably too long) and the rest of it skipped."""
    pending = bytearray()
    skipping = False
    for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if not skipping:
                room = max_line_bytes + 1 - len(pending)
                pending += piece[:room]
                if len(piece) > room:
                    skipping = True
            if end < 0:
                break
            yield bytes(pending)
            pending.clear()
            skipping = False
            start = end + 1
    if pending:
        yield bytes(pending)
