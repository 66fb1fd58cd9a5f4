"""GET /api/v1/stream over a real uvicorn server, read by real HTTP clients.

Events arrive in order with ids, filters narrow them, a key is needed, heartbeats
keep a quiet stream open, a reconnecting client resumes, and a client that stops
reading neither blocks the publisher nor the other clients.
"""

from __future__ import annotations

import json
import queue
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import httpx
import pytest

from alerts.notify.broadcast import Broadcaster
from api.app import create_app
from api.roles import Role
from api.services import Services
from tests.api_support import client_for, make_key, make_services
from tests.servers import free_port
from wherry.api_server import ApiServer

STREAM = "/api/v1/stream"


@dataclass
class Live:
    url: str
    token: str
    broadcaster: Broadcaster


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Services, str]]:
    base = make_services(tmp_path_factory.mktemp("stream"))
    yield base, make_key(base, Role.reader)
    base.registry.close()
    base.store.close()


def serve(services: tuple[Services, str], broadcaster: Broadcaster) -> tuple[ApiServer, Live]:
    base, token = services
    server = ApiServer(create_app(replace(base, broadcaster=broadcaster)), "127.0.0.1", free_port())
    server.start()
    return server, Live(server.url, token, broadcaster)


@pytest.fixture
def live(services: tuple[Services, str]) -> Iterator[Live]:
    broadcaster = Broadcaster(queue_size=64, heartbeat_s=0.3, retry_ms=1500)
    server, running = serve(services, broadcaster)
    yield running
    broadcaster.close()  # ends every stream, so the server can stop
    server.stop()


class SseClient:
    """A real HTTP client reading the stream on a thread, parsing events as EventSource does."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.items: queue.Queue[dict[str, str]] = queue.Queue()
        self.status: int | None = None
        self.ended = threading.Event()
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self._thread.start()
        assert self._opened.wait(10), "the stream did not open"

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            with httpx.stream("GET", url, headers=headers, timeout=30) as response:
                self.status = response.status_code
                self._opened.set()
                block: dict[str, str] = {}
                for line in response.iter_lines():
                    if line == "":
                        if block:
                            self.items.put(block)
                        block = {}
                    elif line.startswith(":"):
                        self.items.put({"comment": line[1:].strip()})
                    else:
                        field, _, value = line.partition(":")
                        block[field] = value.removeprefix(" ")
        finally:
            self._opened.set()
            self.ended.set()

    def next(self, timeout: float = 5.0) -> dict[str, str]:
        return self.items.get(timeout=timeout)

    def events(self, count: int, timeout: float = 5.0) -> list[dict[str, str]]:
        """The next `count` events, skipping comments and the `retry:` block."""
        found: list[dict[str, str]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            item = self.next(max(0.01, deadline - time.monotonic()))
            if "event" in item:
                found.append(item)
        return found

    def wait_ready(self) -> None:
        """Until the opening `retry:` block: from then on the server is listening for us."""
        while "retry" not in (item := self.next()):
            assert "comment" in item, item


def connect(live: Live, query: str = "", **headers: str) -> SseClient:
    client = SseClient(f"{live.url}{STREAM}{query}", {"X-API-Key": live.token, **headers})
    assert client.status == 200
    client.wait_ready()
    return client


def alert(n: int, route_id: str = "R12", domain: str = "road") -> dict[str, object]:
    return {"event": "raised", "alert_id": n, "route_id": route_id, "domain": domain}


def test_events_arrive_in_order_with_ids_and_json(live: Live) -> None:
    client = connect(live)
    published = [live.broadcaster.publish("alert", alert(n)) for n in range(20)]
    published.append(live.broadcaster.publish("route", {"route_id": "R12", "state": "FREEZING"}))
    received = client.events(21)
    assert [item["id"] for item in received] == [event.id for event in published]
    assert [item["event"] for item in received] == ["alert"] * 20 + ["route"]
    assert [json.loads(item["data"]).get("alert_id") for item in received[:20]] == list(range(20))
    assert json.loads(received[20]["data"]) == {"route_id": "R12", "state": "FREEZING"}


def test_the_stream_says_how_long_to_wait_before_reconnecting_and_keeps_alive(
    live: Live,
) -> None:
    response_headers = {}
    with httpx.stream("GET", f"{live.url}{STREAM}", headers={"X-API-Key": live.token}) as r:
        response_headers = dict(r.headers)
        lines = r.iter_lines()
        opening = [next(lines), next(lines)]
        started = time.monotonic()
        while next(lines) != ": keep-alive":
            pass
        assert time.monotonic() - started < 2
    assert opening == ["retry: 1500", ": wherry live stream"]
    assert response_headers["content-type"].startswith("text/event-stream")
    assert response_headers["cache-control"] == "no-cache"


def test_filters_by_route_and_domain(live: Live) -> None:
    on_r12 = connect(live, "?route=R12")
    on_two = connect(live, "?route=R12&route=R14")
    air = connect(live, "?domain=air")
    road = connect(live, "?domain=road")
    publish = live.broadcaster.publish
    publish("alert", alert(1, "R12"))
    publish("alert", alert(2, "R14"))
    publish("alert", alert(3, "R15"))
    publish("alert", {"event": "raised", "alert_id": 4, "route_id": None, "domain": "air"})
    publish("route", {"route_id": "R14", "state": "CLEAR"})  # a route decision: domain road
    publish("alert", alert(9, "R12"))  # the last: every stream has seen what it will see

    def seen(client: SseClient, count: int) -> list[object]:
        events = client.events(count)
        return [json.loads(event["data"]).get("alert_id", event["event"]) for event in events]

    assert seen(on_r12, 2) == [1, 9]
    assert seen(on_two, 4) == [1, 2, "route", 9]
    assert seen(air, 1) == [4]
    assert seen(road, 5) == [1, 2, 3, "route", 9]
    with pytest.raises(queue.Empty):
        air.events(1, timeout=0.5)


def test_a_filtered_client_gets_heartbeats_while_other_routes_are_busy(live: Live) -> None:
    elsewhere = connect(live, "?route=R99")
    for n in range(8):  # 0.8 s of events it does not want; the heartbeat is every 0.3 s
        live.broadcaster.publish("alert", alert(n, "R12"))
        time.sleep(0.1)
    comments = []
    while not elsewhere.items.empty():
        item = elsewhere.next()
        assert "event" not in item, item
        comments.append(item.get("comment"))
    assert "keep-alive" in comments


def test_a_key_is_needed(live: Live) -> None:
    no_key = httpx.get(f"{live.url}{STREAM}")
    bad_key = httpx.get(f"{live.url}{STREAM}", headers={"X-API-Key": "wherry_nope_nope"})
    assert no_key.status_code == bad_key.status_code == 401
    assert "API key" in no_key.json()["detail"]


def test_a_bad_filter_is_refused(live: Live) -> None:
    response = httpx.get(f"{live.url}{STREAM}?domain=sea", headers={"X-API-Key": live.token})
    assert response.status_code == 422


def test_a_reconnecting_client_gets_what_it_missed(live: Live) -> None:
    first = live.broadcaster.publish("alert", alert(1))
    missed = [live.broadcaster.publish("alert", alert(n)) for n in (2, 3)]
    client = connect(live, **{"Last-Event-ID": first.id})
    assert [item["id"] for item in client.events(2)] == [event.id for event in missed]

    stranger = connect(live, **{"Last-Event-ID": "0-1"})
    [dropped] = stranger.events(1)
    assert dropped["event"] == "dropped"
    assert json.loads(dropped["data"])["missed"] is None


def test_closing_the_broadcaster_ends_the_streams(live: Live) -> None:
    client = connect(live)
    live.broadcaster.publish("alert", alert(1))
    live.broadcaster.close()
    assert client.events(1)[0]["event"] == "alert"
    assert client.ended.wait(5), "the stream ended"


def test_a_client_that_stops_reading_blocks_neither_the_publisher_nor_other_clients(
    live: Live,
) -> None:
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", int(live.url.rsplit(":", 1)[1])))
    stalled.sendall(
        f"GET {STREAM} HTTP/1.1\r\nHost: test\r\nX-API-Key: {live.token}\r\n\r\n".encode()
    )
    assert b"200 OK" in stalled.recv(200)
    reader = connect(live)
    deadline = time.monotonic() + 10
    while live.broadcaster.listeners < 2 and time.monotonic() < deadline:
        time.sleep(0.01)

    padding = "x" * 8000
    slowest_publish = 0.0
    total = 3000
    for n in range(total):
        started = time.perf_counter()
        last = live.broadcaster.publish("alert", {**alert(n), "padding": padding})
        slowest_publish = max(slowest_publish, time.perf_counter() - started)
        if n % 40 == 39:  # let the reading client keep up; the stalled one never does
            got = reader.events(40, timeout=10)
            assert [json.loads(item["data"])["alert_id"] for item in got] == list(
                range(n - 39, n + 1)
            )
    assert slowest_publish < 0.1

    stalled.settimeout(10)
    seen = b""
    while f"id: {last.id}".encode() not in seen:
        chunk = stalled.recv(1 << 20)
        assert chunk, "the stalled client's stream ended early"
        seen += chunk
    stalled.close()
    told = re.search(rb'event: dropped\ndata: \{"missed":(\d+),', seen)
    assert told is not None, "the slow client was told it lost events"
    assert int(told.group(1)) > 0


def test_without_a_live_engine_the_answer_is_204(services: tuple[Services, str]) -> None:
    base, token = services
    client = client_for(create_app(base), token)
    response = client.get(STREAM)
    assert response.status_code == 204 and response.content == b""


def test_the_stream_is_in_the_openapi_document_as_an_event_stream(
    services: tuple[Services, str],
) -> None:
    document = create_app(services[0]).openapi()
    answers = document["paths"][STREAM]["get"]["responses"]
    assert "text/event-stream" in answers["200"]["content"]
    assert "application/json" in answers["401"]["content"]
