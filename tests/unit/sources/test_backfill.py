"""Backfill from the Storage Integration: the client, the cursors, paging and hand-off.

Against a local HTTP server that answers in the documented format (tests/ttn_storage_server.py).
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway_bridge.counters import Counters
from gateway_bridge.envelopes import parse_message
from gateway_bridge.sources.backfill import (
    Backfill,
    BackfillWorker,
    LiveCursor,
    backfill_topic,
    ttn_topic_application,
)
from gateway_bridge.sources.cursors import CursorStore, format_rfc3339_ns
from gateway_bridge.sources.handoff import HandOff
from gateway_bridge.sources.ttn_storage import (
    StorageOptions,
    StorageRefused,
    StorageUnavailable,
    TtnStorageClient,
    _lines,
)
from gateway_bridge.uplink import RawMessage
from tests.servers import free_port
from tests.ttn_storage_server import RunningStorage, storage_server
from tests.uplinks import dl_ds18_payload, ttn_uplink

KEY = "NNSXS.TESTKEY0123456789.SECRETPARTOFTHEKEY0123456789ABCDEFGHIJ"
APP = "council-roads"
T0 = 1_768_446_000_123_456_789  # 2026-01-15T03:00:00.123456789Z
MINUTE = 60 * 1_000_000_000
HOUR = 60 * MINUTE


def stored_uplink(n: int, application_id: str = APP) -> tuple[int, dict[str, object]]:
    at = T0 + n * MINUTE + n  # distinct nanoseconds, so precision loss would show
    return at, ttn_uplink(
        f"road-{n % 3}",
        received_at_ns=at,
        f_cnt=n,
        payload=dl_ds18_payload(1, 2.0 + n / 16),
        application_id=application_id,
    )


@pytest.fixture
def storage() -> Iterator[RunningStorage]:
    with storage_server(KEY) as running:
        for n in range(25):
            running.state.add(APP, *stored_uplink(n))
        yield running


def client_for(url: str, key: str = KEY, **kw: object) -> TtnStorageClient:
    return TtnStorageClient(StorageOptions(base_url=url, api_key=key, timeout_s=5, **kw))  # type: ignore[arg-type]


class Collector:
    """The pipeline's entry point as backfill sees it: takes messages, acknowledges them."""

    def __init__(self, acknowledge: bool = True) -> None:
        self.messages: list[RawMessage] = []
        self.acknowledge = acknowledge

    def __call__(self, message: RawMessage) -> None:
        self.messages.append(message)
        if self.acknowledge and message.acknowledge is not None:
            message.acknowledge()

    def f_cnts(self) -> list[int]:
        uplinks = [parse_message(m.topic, m.body) for m in self.messages]
        return [u.f_cnt for u in uplinks if u is not None and u.f_cnt is not None]


def backfill_for(
    client: TtnStorageClient,
    cursors: CursorStore,
    handle: Collector,
    *,
    now: int = T0 + 30 * MINUTE,
    page_size: int = 10,
) -> Backfill:
    return Backfill(
        client, cursors, handle, max_age_s=24 * 3600, page_size=page_size, clock=lambda: now
    )


# -- the HTTP client -------------------------------------------------------------------


def test_a_page_is_requested_as_documented_and_read_line_by_line(storage: RunningStorage) -> None:
    with client_for(storage.url) as client:
        page = list(client.page(APP, after_ns=stored_uplink(4)[0], limit=3))
    assert [p.received_at_ns for p in page] == [stored_uplink(n)[0] for n in (5, 6, 7)]
    first = json.loads(page[0].body)
    assert first["result"]["uplink_message"]["f_cnt"] == 5
    [request] = storage.state.requests
    assert request.application_id == APP
    assert request.after == "2026-01-15T03:04:00.123456793Z"
    assert (request.limit, request.order) == (3, "received_at")
    assert request.authorization == f"Bearer {KEY}"
    assert request.accept == "text/event-stream"


def test_server_sent_event_framing_is_understood(storage: RunningStorage) -> None:
    storage.state.sse_framing = True
    with client_for(storage.url) as client:
        page = list(client.page(APP, after_ns=T0 - 1, limit=2))
    assert [p.received_at_ns for p in page] == [stored_uplink(0)[0], stored_uplink(1)[0]]
    assert all(p.body.startswith(b'{"result":') for p in page)


@pytest.mark.parametrize(
    ("status", "key", "application", "expected"),
    [
        (None, "NNSXS.WRONG", APP, "the API key was not accepted (401)"),
        (403, KEY, APP, "may not read this application's traffic (403)"),
        (None, KEY, "no-such-app", "not found (404)"),
        (400, KEY, APP, "the server answered 400"),
    ],
    ids=["401", "403", "404", "400"],
)
def test_refusals_say_what_to_fix_and_never_show_the_key(
    storage: RunningStorage, status: int | None, key: str, application: str, expected: str
) -> None:
    storage.state.fail_with = status
    with client_for(storage.url, key) as client, pytest.raises(StorageRefused) as refused:
        list(client.page(application, after_ns=T0, limit=10))
    assert expected in str(refused.value)
    assert repr(application) in str(refused.value)
    assert key not in str(refused.value) and "SECRETPART" not in str(refused.value)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_server_trouble_is_worth_retrying(storage: RunningStorage, status: int) -> None:
    storage.state.fail_with = status
    with client_for(storage.url) as client, pytest.raises(StorageUnavailable, match=str(status)):
        list(client.page(APP, after_ns=T0, limit=10))


def test_a_stream_cut_short_yields_what_came_and_then_fails(storage: RunningStorage) -> None:
    storage.state.cut_after = 4
    got = []
    with client_for(storage.url) as client, pytest.raises(StorageUnavailable, match="cut short"):
        for uplink in client.page(APP, after_ns=T0 - 1, limit=10):
            got.append(uplink)
    assert len(got) == 4


def test_no_server_is_unavailable_not_a_crash() -> None:
    with (
        client_for(f"http://127.0.0.1:{free_port()}") as client,
        pytest.raises(StorageUnavailable, match="cannot connect"),
    ):
        list(client.page(APP, after_ns=T0, limit=10))


def test_an_in_stream_error_object_fails_the_page() -> None:
    lines = list(_lines(iter([b'{"result":{"a":1}}\n\n{"err', b'or":{"message":"boom"}}\n']), 100))
    assert lines == [b'{"result":{"a":1}}', b"", b'{"error":{"message":"boom"}}']
    from gateway_bridge.sources.ttn_storage import _stored_uplink

    with pytest.raises(StorageUnavailable, match="boom"):
        _stored_uplink(lines[2], "test")


def test_an_endless_line_is_cut_not_buffered() -> None:
    chunks = [b"x" * 1000 for _ in range(100)] + [b"\nshort\n"]
    lines = list(_lines(iter(chunks), 4096))
    assert [len(line) for line in lines] == [4097, 5]


def test_options_refuse_a_non_http_url_and_hide_the_key() -> None:
    with pytest.raises(ValueError, match="expected https://host"):
        StorageOptions(base_url="eu1.cloud.thethings.network", api_key=KEY)
    assert KEY not in repr(StorageOptions(base_url="https://x.example", api_key=KEY))


# -- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "key.pem", "-out", "cert.pem",
            "-days", "2", "-subj", "/CN=wherry test storage",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        cwd=directory, check=True, capture_output=True,
    )  # fmt: skip
    return directory / "cert.pem", directory / "key.pem"


def test_tls_certificates_are_checked_by_default(certificate: tuple[Path, Path]) -> None:
    assert StorageOptions(base_url="https://x.example", api_key=KEY).verify is True
    with storage_server(KEY, certificate=certificate) as running:
        running.state.add(APP, *stored_uplink(1))
        with (
            client_for(running.url) as client,
            pytest.raises(StorageUnavailable, match="TLS certificate not trusted"),
        ):
            list(client.page(APP, after_ns=T0, limit=10))
        assert running.state.requests == []  # the key never left
        with client_for(running.url, ca_file=str(certificate[0])) as client:
            assert len(list(client.page(APP, after_ns=T0, limit=10))) == 1


# -- cursors -------------------------------------------------------------------------------


def test_cursors_only_move_forward_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "cursors.json"
    cursors = CursorStore(path)
    assert cursors.get(APP) is None
    cursors.advance(APP, T0 + 5, save=True)
    cursors.advance(APP, T0, save=True)  # older: ignored
    cursors.advance("other-app", T0 + 7)
    cursors.save()
    reopened = CursorStore(path)
    assert reopened.snapshot() == {APP: T0 + 5, "other-app": T0 + 7}
    document = json.loads(path.read_text())
    assert document["applications"][APP]["received_at"] == "2026-01-15T03:00:00.123456794Z"
    assert [p.name for p in tmp_path.iterdir()] == ["cursors.json"]  # no temporary files left


def test_live_advances_are_saved_at_most_every_few_seconds(tmp_path: Path) -> None:
    now = [0.0]
    path = tmp_path / "cursors.json"
    cursors = CursorStore(path, save_every_s=10, clock=lambda: now[0])
    cursors.advance(APP, T0)
    assert not path.exists()
    now[0] = 11.0
    cursors.advance(APP, T0 + 1)
    assert CursorStore(path).get(APP) == T0 + 1


@pytest.mark.parametrize(
    "content", ["{not json", '{"applications": {"a": {"received_at": "yesterday"}}}', "[]"]
)
def test_an_unreadable_cursor_file_means_starting_over_not_crashing(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cursors.json"
    path.write_text(content)
    assert CursorStore(path).snapshot() == {}
    assert "starting without them" in caplog.text


# -- paging and hand-off --------------------------------------------------------------------


def test_pages_are_fetched_until_a_short_one_and_every_uplink_is_handed_off(
    storage: RunningStorage, tmp_path: Path
) -> None:
    handle = Collector()
    cursors = CursorStore(tmp_path / "cursors.json")
    with client_for(storage.url) as client:
        result = backfill_for(client, cursors, handle).run(APP)
    assert sorted(set(handle.f_cnts())) == list(range(25))
    assert len(handle.messages) <= 25 + 2  # at most one overlap per page boundary
    assert result.pages == 3
    assert result.newest_ns == stored_uplink(24)[0]
    assert CursorStore(tmp_path / "cursors.json").get(APP) == stored_uplink(24)[0]
    assert all(m.topic == backfill_topic(APP) for m in handle.messages)
    afters = [r.after for r in storage.state.requests]
    # the first page reaches back the maximum age; each next one starts at the newest seen
    assert afters[0] == format_rfc3339_ns(T0 + 30 * MINUTE - 24 * HOUR)
    assert afters[1] == format_rfc3339_ns(stored_uplink(9)[0] - 1_000)


def test_a_second_run_starts_at_the_cursor_less_the_overlap(
    storage: RunningStorage, tmp_path: Path
) -> None:
    cursors = CursorStore(tmp_path / "cursors.json")
    cursors.advance(APP, stored_uplink(20)[0])
    handle = Collector()
    with client_for(storage.url) as client:
        backfill_for(client, cursors, handle).run(APP)
    # 5 minutes of overlap before the cursor: uplinks 16..24
    assert sorted(handle.f_cnts()) == list(range(16, 25))


def test_an_interrupted_stream_keeps_what_was_handed_off_and_the_retry_resumes(
    storage: RunningStorage, tmp_path: Path
) -> None:
    cursors = CursorStore(tmp_path / "cursors.json")
    handle = Collector()
    storage.state.cut_after = 6
    with client_for(storage.url) as client:
        backfill = backfill_for(client, cursors, handle)
        with pytest.raises(StorageUnavailable):
            backfill.run(APP)
        assert handle.f_cnts() == list(range(6))
        assert cursors.get(APP) == stored_uplink(5)[0]
        backfill.run(APP)
    assert sorted(set(handle.f_cnts())) == list(range(25))
    assert storage.state.requests[1].after == format_rfc3339_ns(stored_uplink(5)[0] - 5 * MINUTE)


def test_the_cursor_waits_for_the_pipeline_to_take_the_page(
    storage: RunningStorage, tmp_path: Path
) -> None:
    cursors = CursorStore(tmp_path / "cursors.json")
    handle = Collector(acknowledge=False)  # the store is away: nothing is acknowledged
    stop = threading.Event()
    with client_for(storage.url) as client:
        backfill = backfill_for(client, cursors, handle)
        runner = threading.Thread(target=backfill.run, args=(APP, stop))
        runner.start()
        time.sleep(0.5)
        assert runner.is_alive() and len(handle.messages) == 10  # one page, then waiting
        stop.set()
        runner.join(5)
    assert cursors.get(APP) is None


def test_a_run_reaches_back_no_further_than_the_maximum_age(tmp_path: Path) -> None:
    cursors = CursorStore(tmp_path / "c.json")
    cursors.advance(APP, T0 - 48 * HOUR)
    client = client_for("https://unused.example")
    backfill = backfill_for(client, cursors, Collector(), now=T0)
    assert backfill.start_after(APP) == T0 - 24 * HOUR
    assert backfill.start_after("never-seen") == T0 - 24 * HOUR
    cursors.advance(APP, T0 - HOUR)
    assert backfill.start_after(APP) == T0 - HOUR - 5 * MINUTE
    client.close()


# -- the worker -------------------------------------------------------------------------------


def test_the_worker_retries_a_server_that_is_down_and_not_one_that_refuses(
    storage: RunningStorage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    counters = Counters()
    handle = Collector()
    client = client_for(storage.url)
    backfill = backfill_for(client, CursorStore(tmp_path / "c.json"), handle)
    worker = BackfillWorker(
        backfill, [APP, "no-such-app"], retry_min_s=0.05, retry_max_s=0.1, counters=counters
    )
    worker.start()
    try:
        storage.state.fail_with = 503
        worker.trigger()
        assert worker.wait_idle(10)
        assert sorted(set(handle.f_cnts())) == list(range(25))  # the retry got them
        assert isinstance(worker.last_results["no-such-app"], StorageRefused)
        requests_for_missing = [
            r for r in storage.state.requests if r.application_id == "no-such-app"
        ]
        assert len(requests_for_missing) == 2  # once per run, never hammered
        assert counters.get("backfill.failures") == 3
        assert "backfill of no-such-app refused" in caplog.text
        assert KEY not in caplog.text
    finally:
        worker.stop()


# -- live traffic moves the cursor ---------------------------------------------------------------


def test_live_uplinks_move_the_cursor_once_the_pipeline_took_them(tmp_path: Path) -> None:
    cursors = CursorStore(tmp_path / "c.json")
    taken: list[RawMessage] = []
    tracked = LiveCursor(cursors, [APP]).wrap(taken.append)
    original_acks: list[str] = []
    tracked(RawMessage(f"v3/{APP}@ttn/devices/d1/up", b"{}", T0, lambda: original_acks.append("a")))
    tracked(RawMessage("v3/elsewhere@ttn/devices/d1/up", b"{}", T0 + 5))
    tracked(RawMessage(f"v3/{APP}@ttn/devices/d1/join", b"{}", T0 + 6))
    assert cursors.get(APP) is None  # not taken yet
    assert taken[1].acknowledge is None and taken[2].acknowledge is None
    assert taken[0].acknowledge is not None
    taken[0].acknowledge()
    assert cursors.get(APP) == T0 and original_acks == ["a"]
    assert cursors.get("elsewhere") is None


def test_application_ids_come_from_the_things_stack_topics() -> None:
    assert ttn_topic_application("v3/my-app@ttn/devices/dev-1/up") == "my-app"
    assert ttn_topic_application("v3/my-app/devices/dev-1/up") == "my-app"
    assert ttn_topic_application("v3/my-app@ttn/devices/dev-1/join") is None
    assert ttn_topic_application("application/1/device/abc/event/up") is None


def test_a_hand_off_counts_each_acknowledgement_once() -> None:
    handoff = HandOff()
    first, second = handoff.acknowledgement(), handoff.acknowledgement()
    first()
    first()
    assert handoff.pending == 1 and not handoff.wait(0.01)
    second()
    assert handoff.wait(0) and handoff.pending == 0


# -- settings --------------------------------------------------------------------------------


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("WHERRY_"):
            monkeypatch.delenv(name)


def test_backfill_settings_name_the_applications_or_take_them_from_the_topics(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wherry.settings import load_settings

    monkeypatch.setenv("WHERRY_TTN_STORAGE_URL", "https://eu1.cloud.thethings.network")
    monkeypatch.setenv("WHERRY_TTN_API_KEY", KEY)
    monkeypatch.setenv("WHERRY_MQTT_TOPICS", "v3/roads@ttn/devices/+/up,v3/air@ttn/devices/+/up")
    settings = load_settings()
    assert settings.backfill_applications == ("roads", "air")
    assert KEY not in repr(settings)
    monkeypatch.setenv("WHERRY_TTN_APPLICATIONS", "roads, water")
    assert load_settings().backfill_applications == ("roads", "water")


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"WHERRY_TTN_STORAGE_URL": "https://eu1.cloud.thethings.network"}, "needs ttn_api_key"),
        (
            {"WHERRY_TTN_STORAGE_URL": "https://x.example", "WHERRY_TTN_API_KEY": KEY},
            "needs application ids",
        ),
        ({"WHERRY_TTN_STORAGE_URL": "http://tts.example.org"}, "use https://"),
        ({"WHERRY_TTN_STORAGE_URL": "eu1.cloud.thethings.network"}, "expected https://host"),
        ({"WHERRY_WEBHOOK_SECRET": "short-secret"}, "at least 16 characters"),
        ({"WHERRY_WEBHOOK_MAX_BYTES": "100"}, "WHERRY_WEBHOOK_MAX_BYTES"),
    ],
)
def test_backfill_and_webhook_settings_that_cannot_work_are_refused_without_echoing_secrets(
    clean_environment: None,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    expected: str,
) -> None:
    from wherry.settings import SettingsError, load_settings

    monkeypatch.setenv("WHERRY_MQTT_TOPICS", "v3/+/devices/+/up")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert expected in str(refused.value)
    assert "short-secret" not in str(refused.value) and KEY not in str(refused.value)


def test_plain_http_is_allowed_only_to_this_machine(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wherry.settings import load_settings

    monkeypatch.setenv("WHERRY_TTN_STORAGE_URL", "http://127.0.0.1:8080")
    monkeypatch.setenv("WHERRY_TTN_API_KEY", KEY)
    monkeypatch.setenv("WHERRY_TTN_APPLICATIONS", APP)
    assert load_settings().ttn_storage_url == "http://127.0.0.1:8080"
