"""A local HTTP server that answers like The Things Stack's Storage Integration, for tests.

It serves the documented API and format: `GET /api/v3/as/applications/{app}/packages/
storage/uplink_message?after=…&limit=…&order=received_at` with `Authorization: Bearer
<key>`, answered as `text/event-stream` with one `{"result": …}` object per line and a
blank line after each, chunk by chunk. Faults on demand: cut the stream short after
some results, or answer a status code.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gateway_bridge.envelopes.timestamps import parse_rfc3339_ns

PATH_PREFIX = "/api/v3/as/applications/"
PATH_SUFFIX = "/packages/storage/uplink_message"


@dataclass
class StorageRequest:
    application_id: str
    after: str | None
    limit: int | None
    order: str | None
    authorization: str | None
    accept: str | None


@dataclass
class StorageState:
    """What the server holds and how it misbehaves; change it between requests."""

    api_key: str
    uplinks: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    requests: list[StorageRequest] = field(default_factory=list)
    cut_after: int | None = None
    """Cut the next answer short after this many results (then reset to None)."""
    fail_with: int | None = None
    """Answer the next request with this status (then reset to None)."""
    sse_framing: bool = False
    """Frame each result as a server-sent event (`data: …`) with a comment line first."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, application_id: str, received_at_ns: int, message: dict[str, Any]) -> None:
        with self.lock:
            stored = self.uplinks.setdefault(application_id, [])
            stored.append((received_at_ns, message))
            stored.sort(key=lambda item: item[0])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if not (parts.path.startswith(PATH_PREFIX) and parts.path.endswith(PATH_SUFFIX)):
            self._error(404, 5, "error:pkg/web:not_found (route not found)")
            return
        application_id = unquote(parts.path[len(PATH_PREFIX) : -len(PATH_SUFFIX)])
        limit = int(query["limit"]) if "limit" in query else None
        with state.lock:
            state.requests.append(
                StorageRequest(
                    application_id,
                    query.get("after"),
                    limit,
                    query.get("order"),
                    self.headers.get("Authorization"),
                    self.headers.get("Accept"),
                )
            )
            fail_with, state.fail_with = state.fail_with, None
            cut_after, state.cut_after = state.cut_after, None
            stored = list(state.uplinks.get(application_id, []))
        if self.headers.get("Authorization") != f"Bearer {state.api_key}":
            self._error(401, 16, "error:pkg/auth/rights:unauthenticated (unauthenticated)")
            return
        if fail_with is not None:
            self._error(fail_with, 14, f"error:test:failure (status {fail_with})")
            return
        if application_id not in state.uplinks:
            self._error(
                404, 5, f"error:pkg/applicationserver:application_not_found ({application_id})"
            )
            return
        after = parse_rfc3339_ns(query["after"]) if "after" in query else None
        selected = [m for t, m in stored if after is None or t > after]
        if query.get("order") == "-received_at":
            selected.reverse()
        if limit is not None:
            selected = selected[:limit]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for sent, message in enumerate(selected):
            if cut_after is not None and sent == cut_after:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            line = json.dumps({"result": message}, separators=(",", ":")).encode() + b"\n\n"
            if state.sse_framing:
                line = b": keep-alive\nevent: message\ndata: " + line
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _error(self, status: int, code: int, message: str) -> None:
        body = json.dumps({"code": code, "message": message, "details": []}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: StorageState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


@dataclass
class RunningStorage:
    url: str
    state: StorageState


@contextmanager
def storage_server(
    api_key: str,
    *,
    applications: tuple[str, ...] = (),
    certificate: tuple[Path, Path] | None = None,
) -> Iterator[RunningStorage]:
    """Serve on a free port of 127.0.0.1 until the block ends; https with `certificate`
    (a PEM certificate and its key). Other applications than `applications` and those
    given uplinks are answered 404."""
    state = StorageState(api_key, uplinks={app: [] for app in applications})
    server = _Server(state)
    scheme = "http"
    if certificate is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(certificate[0]), str(certificate[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="ttn-storage", daemon=True
    )
    thread.start()
    try:
        yield RunningStorage(f"{scheme}://127.0.0.1:{server.server_address[1]}", state)
    finally:
        server.shutdown()
        server.server_close()
