"""The query path's own transport (`storage/influx_queries.py`): what http.client must do
that httpx did for us — keep connections, recover from ones the server closed, send the
credentials, map failures — against a real influxd and a small HTTP server we control."""

from __future__ import annotations

import gc
import gzip
import http.server
import json
import threading
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx
import pytest

from storage import InfluxStore, Point, StoreRejected, StoreUnavailable
from tests import servers

pytestmark = pytest.mark.integration

T0 = 1_768_446_765_000_000_000
EMPTY_ANSWER = {"results": [{"statement_id": 0}]}
FIELD_KEYS = {
    "results": [
        {
            "statement_id": 0,
            "series": [
                {
                    "name": "reading",
                    "columns": ["fieldKey", "fieldType"],
                    "values": [["v", "float"]],
                }
            ],
        }
    ]
}


@dataclass
class Seen:
    """What the fake server was sent: one entry per request, and which connection it came on."""

    connections: list[int] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


class FakeInflux(http.server.BaseHTTPRequestHandler):
    """Answers every POST like InfluxDB's /query would; `behaviour` says how to misbehave."""

    protocol_version = "HTTP/1.1"
    behaviour: ClassVar[dict[str, Any]] = {}
    seen: ClassVar[Seen] = Seen()

    def do_POST(self) -> None:
        statement = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())["q"][0]
        self.seen.connections.append(id(self.connection))
        self.seen.headers.append({name.lower(): value for name, value in self.headers.items()})
        self.seen.paths.append(self.path)
        status: int = self.behaviour.get("status", 200)
        answer = self.behaviour.get("answer", EMPTY_ANSWER)
        if statement.startswith("SHOW FIELD KEYS"):
            answer = FIELD_KEYS
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if self.behaviour.get("gzip"):
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        # Hang up without saying so (no `Connection: close`), as a server or a proxy
        # dropping idle keep-alive connections does.
        self.close_connection = bool(self.behaviour.get("hang_up"))

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[tuple[str, dict[str, Any], Seen]]:
    behaviour: dict[str, Any] = {}
    seen = Seen()
    handler = type("Handler", (FakeInflux,), {"behaviour": behaviour, "seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/influx", behaviour, seen
    server.shutdown()
    server.server_close()


def store_at(base_url: str, **options: Any) -> InfluxStore:
    return InfluxStore(base_url, "wherry", create_database=False, timeout=5, **options)


def test_queries_keep_one_connection_per_thread(
    fake: tuple[str, dict[str, Any], Seen],
) -> None:
    base_url, _, seen = fake
    store = store_at(base_url)

    for _ in range(5):
        store.query("reading")
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: [store.query("reading") for _ in range(4)], range(3)))

    assert len(seen.connections) == 5 + 12
    assert len(set(seen.connections[:5])) == 1
    assert len(set(seen.connections)) <= 4
    assert all(path.startswith("/influx/query?db=wherry") for path in seen.paths)
    store.close()


def test_a_threads_connection_is_closed_when_the_thread_ends(
    fake: tuple[str, dict[str, Any], Seen],
) -> None:
    base_url, _, seen = fake
    store = store_at(base_url)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(5):  # as the API's worker threads come and go
            thread = threading.Thread(target=store.query, args=("reading",))
            thread.start()
            thread.join()
        gc.collect()

    assert len(seen.connections) == 5
    assert [str(warning.message) for warning in caught] == []  # closed, not collected open
    assert store._queries is not None and len(store._queries._open) == 0
    store.close()


def test_a_connection_the_server_closed_is_replaced_without_failing_the_query(
    fake: tuple[str, dict[str, Any], Seen],
) -> None:
    base_url, behaviour, seen = fake
    behaviour["hang_up"] = True
    store = store_at(base_url)

    for _ in range(3):
        assert store.query("reading") == []

    assert len(seen.connections) == 3  # each query sent once
    store.close()


def test_queries_send_the_credentials_and_ask_for_an_uncompressed_answer(
    fake: tuple[str, dict[str, Any], Seen],
) -> None:
    base_url, _, seen = fake

    for options, authorization in (
        ({"username": "wherry", "password": "pa:ss wörd"}, httpx.BasicAuth("wherry", "pa:ss wörd")),
        ({"token": "t0ken"}, None),
    ):
        store = store_at(base_url, **options)
        store.query("reading")
        store.close()
        sent = seen.headers[-1]
        if authorization is None:
            assert sent["authorization"] == "Token t0ken"
        else:
            request = next(authorization.auth_flow(httpx.Request("GET", base_url)))
            assert sent["authorization"] == request.headers["Authorization"]
        assert sent["accept-encoding"] == "identity"
        assert sent["user-agent"] == "wherry"


def test_a_compressed_answer_is_read_all_the_same(
    fake: tuple[str, dict[str, Any], Seen],
) -> None:
    base_url, behaviour, _ = fake
    behaviour["gzip"] = True
    series = {"name": "reading", "tags": {"device_id": "rst-01"}, "columns": ["time", "v"]}
    behaviour["answer"] = {
        "results": [{"statement_id": 0, "series": [{**series, "values": [[T0, 1]]}]}]
    }
    store = store_at(base_url)

    [point] = store.query("reading")

    assert point == Point("reading", {"device_id": "rst-01"}, {"v": 1.0}, T0)
    assert isinstance(point.fields["v"], float)  # typed by SHOW FIELD KEYS, asked the same way
    store.close()


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (503, StoreUnavailable, "could not run a query now"),
        (401, StoreRejected, "check the user and password"),
        (400, StoreRejected, "refused to run a query"),
    ],
)
def test_refusals_are_mapped_as_on_the_httpx_path(
    fake: tuple[str, dict[str, Any], Seen], status: int, error: type[Exception], words: str
) -> None:
    base_url, behaviour, _ = fake
    behaviour["status"] = status
    behaviour["answer"] = {"error": "no thanks"}
    store = store_at(base_url)

    with pytest.raises(error, match=words) as raised:
        store.query("reading")

    assert "no thanks" in str(raised.value)
    store.close()


def test_a_closed_store_and_a_silent_server_are_unavailable() -> None:
    port = servers.free_port()  # nothing listens here
    store = store_at(f"http://127.0.0.1:{port}")

    with pytest.raises(StoreUnavailable, match="cannot reach"):
        store.query("reading")
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.query("reading")


def test_a_proxy_in_the_environment_keeps_queries_on_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    base_url = "http://127.0.0.1:8086"
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.delenv("no_proxy", raising=False)
    proxied = store_at(base_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    bypassed = store_at(base_url)

    assert proxied._queries is None
    assert bypassed._queries is not None
    proxied.close()
    bypassed.close()


def test_many_threads_read_a_real_influxd_through_their_own_connections(
    influxd_server: servers.ServerProcess,
) -> None:
    database = f"transport_{uuid.uuid4().hex}"
    store = InfluxStore(f"http://127.0.0.1:{influxd_server.port}", database)
    points = [
        Point("reading", {"device_id": f"rst-{n % 4}"}, {"v": float(n)}, T0 + n) for n in range(40)
    ]
    store.write(points)

    def device_points(device: int) -> list[Point]:
        return store.query("reading", tags={"device_id": f"rst-{device}"})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(device_points, [n % 4 for n in range(64)]))

    for n, answer in enumerate(answers):
        assert answer == [point for point in points if point.tags["device_id"] == f"rst-{n % 4}"]
    store.close()
    httpx.post(
        f"http://127.0.0.1:{influxd_server.port}/query", data={"q": f'DROP DATABASE "{database}"'}
    )
