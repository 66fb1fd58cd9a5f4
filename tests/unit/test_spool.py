"""The spool on a real disk: order, restarts, torn and damaged records, the quota, and the
points batcher that spools while its store is away and drains when it is back."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from api.app import create_app
from gateway_bridge.batcher import Batcher, Rejected
from gateway_bridge.intake import Intake
from gateway_bridge.spool import POINTS, Spool, SpoolFull, SpoolLevel
from gateway_bridge.uplink import RawMessage
from storage.points import Point
from tests.api_support import client_for, make_services

T0 = 1_768_446_000_123_456_789


def point(n: int, device: str = "rst-01") -> Point:
    return Point(
        "reading",
        {"device_id": device, "route": "A1"},
        {"road_surface_temperature": -0.5 + n / 16, "f_cnt": n, "ok": True, "note": "ß°"},
        T0 + n,
    )


def batch(start: int, count: int = 3) -> list[Point]:
    return [point(n) for n in range(start, start + count)]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


def open_spool(
    directory: Path, quota: int = 10_000_000, alarms: list[SpoolLevel] | None = None, **kw: object
) -> Spool[Point]:
    return Spool(
        directory,
        POINTS,
        quota_bytes=quota,
        on_alarm=(lambda level, _: alarms.append(level)) if alarms is not None else None,
        **kw,  # type: ignore[arg-type]
    )


def drain(spool: Spool[Point]) -> list[list[Point]]:
    batches = []
    while (oldest := spool.oldest()) is not None:
        batches.append(oldest.items)
        spool.remove(oldest)
    return batches


def record_size(points: list[Point], directory: Path) -> int:
    """Bytes one batch takes in a spool (points compress well, so measure, do not guess)."""
    probe = open_spool(directory)
    probe.append(points)
    size = probe.status().bytes
    probe.close()
    return size


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.spool"))


# -- the spool ------------------------------------------------------------------------


def test_nothing_is_created_until_a_batch_is_spooled(spool_dir: Path) -> None:
    spool = open_spool(spool_dir)
    assert spool.empty and spool.oldest() is None
    assert not spool_dir.exists()
    spool.append(batch(0))
    assert segments(spool_dir)


def test_batches_come_back_in_order_with_their_exact_values(spool_dir: Path) -> None:
    spool = open_spool(spool_dir)
    odd = Point("uplink", {"device_id": "a b,c=d"}, {"x": 1.0, "y": 1, "z": -0.0}, 2**62)
    for start in (0, 3, 6):
        spool.append(batch(start))
    spool.append([odd])
    status = spool.status()
    assert (status.items, status.batches) == (10, 4)
    assert drain(spool) == [batch(0), batch(3), batch(6), [odd]]
    [back] = [odd]
    assert isinstance(back.fields["x"], float) and isinstance(back.fields["y"], int)
    assert spool.empty and spool.status().bytes == 0
    assert segments(spool_dir) == []  # drained segments are deleted


def test_remove_takes_only_the_oldest(spool_dir: Path) -> None:
    spool = open_spool(spool_dir)
    spool.append(batch(0))
    spool.append(batch(3))
    first = spool.oldest()
    assert first is not None
    spool.remove(first)
    with pytest.raises(ValueError, match="oldest"):
        spool.remove(first)


def test_a_restart_resumes_after_what_was_written(spool_dir: Path) -> None:
    clock = Clock()
    spool = open_spool(spool_dir, clock_ns=clock)
    for start in (0, 3, 6):
        spool.append(batch(start))
        clock.now += 10_000_000_000
    first = spool.oldest()
    assert first is not None
    spool.remove(first)
    spool.close()

    clock.now += 5_000_000_000
    again = open_spool(spool_dir, clock_ns=clock)
    status = again.status()
    assert (status.items, status.batches) == (6, 2)
    assert status.oldest_age_seconds == pytest.approx(25.0)  # spooled 25 s before "now"
    again.append(batch(9))  # a new run appends to a new segment
    assert drain(again) == [batch(3), batch(6), batch(9)]
    again.close()
    assert open_spool(spool_dir).empty


def test_segments_roll_over_and_are_deleted_once_drained(spool_dir: Path) -> None:
    spool = open_spool(spool_dir, segment_bytes=600)
    for start in range(0, 60, 3):
        spool.append(batch(start))
    assert len(segments(spool_dir)) > 3
    on_disk = sum(path.stat().st_size for path in segments(spool_dir))
    assert spool.status().bytes == on_disk
    for _ in range(10):
        oldest = spool.oldest()
        assert oldest is not None
        spool.remove(oldest)
    left = segments(spool_dir)
    assert spool.status().bytes == sum(path.stat().st_size for path in left)
    spool.close()
    assert [p for b in drain(open_spool(spool_dir)) for p in b] == [point(n) for n in range(30, 60)]


def test_a_torn_tail_is_cut_off_and_never_replayed(
    spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = open_spool(spool_dir)
    for start in (0, 3, 6):
        spool.append(batch(start))
    spool.close()
    [segment] = segments(spool_dir)
    size = segment.stat().st_size
    with segment.open("r+b") as file:  # kill -9 in the middle of writing the third batch
        file.truncate(size - 20)

    with caplog.at_level(logging.WARNING):
        again = open_spool(spool_dir)
    assert "incomplete record" in caplog.text
    assert again.status().items == 6
    assert segment.stat().st_size < size - 20  # the torn bytes are gone
    again.append(batch(9))
    again.close()
    assert drain(open_spool(spool_dir)) == [batch(0), batch(3), batch(9)]


def test_a_torn_header_is_cut_off(spool_dir: Path) -> None:
    spool = open_spool(spool_dir)
    spool.append(batch(0))
    spool.close()
    [segment] = segments(spool_dir)
    with segment.open("ab") as file:
        file.write(b"WSP1\x00\x00")  # died after six bytes of the next record
    assert drain(open_spool(spool_dir)) == [batch(0)]


def test_a_damaged_payload_is_skipped_with_an_error_not_decoded(
    spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = open_spool(spool_dir)
    spool.append(batch(0))
    spool.append(batch(3))
    spool.append(batch(6))
    spool.close()
    [segment] = segments(spool_dir)
    data = bytearray(segment.read_bytes())
    second = data.find(b"WSP1", 1)
    data[second + 40] ^= 0xFF  # one flipped bit-pattern inside the second payload
    segment.write_bytes(bytes(data))

    again = open_spool(spool_dir)
    with caplog.at_level(logging.ERROR):
        assert drain(again) == [batch(0), batch(6)]
    assert "CRC mismatch" in caplog.text
    assert again.corrupt_batches == 1


def test_a_damaged_header_is_skipped_to_the_next_record(
    spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = open_spool(spool_dir)
    for start in (0, 3, 6):
        spool.append(batch(start))
    spool.close()
    [segment] = segments(spool_dir)
    data = bytearray(segment.read_bytes())
    second = data.find(b"WSP1", 1)
    data[second + 5] ^= 0x01  # its length field: the header CRC no longer matches
    segment.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR):
        again = open_spool(spool_dir)
    assert "damaged bytes" in caplog.text
    assert drain(again) == [batch(0), batch(6)]


def test_a_damaged_checkpoint_replays_from_the_start(spool_dir: Path) -> None:
    spool = open_spool(spool_dir)
    spool.append(batch(0))
    spool.append(batch(3))
    first = spool.oldest()
    assert first is not None
    spool.remove(first)
    spool.close()
    (spool_dir / "checkpoint").write_bytes(b"garbage")
    # Replaying a batch the store has is harmless: the points overwrite themselves.
    assert drain(open_spool(spool_dir)) == [batch(0), batch(3)]


def test_the_quota_warns_at_80_percent_refuses_at_100_and_recovers(spool_dir: Path) -> None:
    alarms: list[SpoolLevel] = []
    record = record_size(batch(0, 50), spool_dir.parent / "probe")
    quota = int(record * 4.5)
    spool = open_spool(spool_dir, quota=quota, alarms=alarms, segment_bytes=record * 2)

    for n in range(4):
        spool.append(batch(100 * n, 50))
    assert alarms == ["warning"]
    before = spool.status().bytes
    with pytest.raises(SpoolFull, match="does not fit"):
        spool.append(batch(900, 50))
    assert alarms == ["warning", "full"]
    assert spool.status().level == "full"
    assert spool.status().bytes == before == sum(p.stat().st_size for p in segments(spool_dir))

    oldest = spool.oldest()
    assert oldest is not None
    spool.remove(oldest)  # a segment of two records is not free yet: still full
    assert spool.status().level == "full"
    oldest = spool.oldest()
    assert oldest is not None
    spool.remove(oldest)  # that segment is deleted: 2 of 4.5 records used
    assert alarms == ["warning", "full", "ok"]
    spool.append(batch(900, 50))
    assert len(drain(spool)) == 3


def test_a_listener_added_later_hears_the_current_level(spool_dir: Path) -> None:
    spool = open_spool(spool_dir, quota=100)
    with pytest.raises(SpoolFull):
        spool.append(batch(0, 200))
    heard: list[tuple[str, str]] = []
    spool.watch(lambda level, detail: heard.append((level, detail)))
    assert heard and heard[0][0] == "full" and "of 100 bytes" in heard[0][1]


def test_one_process_owns_a_spool(spool_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    owner = open_spool(spool_dir)
    owner.append(batch(0))
    with caplog.at_level(logging.ERROR):
        other = open_spool(spool_dir)
    assert "another wherry process" in caplog.text
    with pytest.raises(SpoolFull, match="another wherry process"):
        other.append(batch(3))
    owner.close()
    other.append(batch(3))  # free now: it takes over what the owner left, then appends
    assert drain(other) == [batch(0), batch(3)]


# -- the points batcher with a spool ---------------------------------------------------


class Store:
    """A sink that can be down, refuse some points, and records what it took."""

    def __init__(self) -> None:
        self.down = False
        self.refuse: set[int] = set()
        self.taken: list[Point] = []
        self.lock = threading.Lock()

    def __call__(self, points: Sequence[Point]) -> None:
        if self.down:
            raise ConnectionError("store is down")
        bad = {int(p.fields["f_cnt"]) for p in points} & self.refuse
        if bad:
            raise Rejected(f"refused {sorted(bad)}")
        with self.lock:
            self.taken.extend(points)


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def spool(spool_dir: Path) -> Iterator[Spool[Point]]:
    opened = open_spool(spool_dir)
    yield opened
    opened.close()


def batcher_with(
    store: Store, spool: Spool[Point], rejected: list[Point] | None = None, **kw: float
) -> Batcher[Point]:
    options = {"max_items": 10, "max_delay": 0.02, "retry_min_delay": 0.02, "retry_max_delay": 0.1}
    batcher: Batcher[Point] = Batcher(
        "store",
        store,
        on_rejected=lambda item, exc: (rejected if rejected is not None else []).append(item),
        spool=spool,
        **(options | kw),  # type: ignore[arg-type]
    )
    batcher.start()
    return batcher


def wait_until(condition: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.01)
    return False


def test_an_unavailable_store_spools_and_acknowledges_then_drains_in_order(
    store: Store, spool: Spool[Point]
) -> None:
    store.down = True
    acks: list[int] = []
    batcher = batcher_with(store, spool)
    for n in range(0, 30, 3):
        batcher.submit(batch(n), lambda n=n: acks.append(n))  # type: ignore[misc]
    assert batcher.flush(5)
    assert acks == list(range(0, 30, 3))  # acknowledged: durable on disk
    assert store.taken == [] and spool.status().items == 30
    store.down = False
    assert wait_until(lambda: spool.empty)
    batcher.submit(batch(30))
    assert batcher.close(5)
    assert store.taken == [point(n) for n in range(33)]


def test_while_the_spool_drains_new_batches_queue_behind_it(
    store: Store, spool: Spool[Point]
) -> None:
    spool.append(batch(0))
    spool.append(batch(3))  # left by an earlier run
    batcher = batcher_with(store, spool)
    batcher.submit(batch(6))
    assert batcher.flush(5)
    assert wait_until(lambda: spool.empty)
    assert batcher.close(5)
    assert store.taken == [point(n) for n in range(9)]


def test_close_with_the_store_down_spools_what_is_in_flight(store: Store, spool_dir: Path) -> None:
    store.down = True
    spool = open_spool(spool_dir)
    acked = threading.Event()
    batcher = batcher_with(store, spool, max_delay=60)
    batcher.submit(batch(0), acked.set)
    assert batcher.close(5)
    assert acked.is_set()
    spool.close()
    assert drain(open_spool(spool_dir)) == [batch(0)]


def test_refused_points_of_a_spooled_batch_are_set_aside_at_drain(
    store: Store, spool: Spool[Point]
) -> None:
    rejected: list[Point] = []
    store.down = True
    batcher = batcher_with(store, spool, rejected)
    batcher.submit(batch(0, 6))
    assert batcher.flush(5)
    store.refuse = {4}
    store.down = False
    assert wait_until(lambda: spool.empty)
    assert batcher.close(5)
    assert rejected == [point(4)]
    assert store.taken == [point(n) for n in range(6) if n != 4]


def test_a_full_spool_holds_batches_unacknowledged_and_pushes_back(
    store: Store, spool_dir: Path
) -> None:
    alarms: list[SpoolLevel] = []
    quota = int(record_size(batch(0, 10), spool_dir.parent / "probe") * 2.5)
    spool = open_spool(spool_dir, quota=quota, alarms=alarms)
    store.down = True
    acks: list[int] = []
    batcher = batcher_with(store, spool, capacity=20)
    for n in (0, 10):  # two batches fit in the quota: spooled and acknowledged
        batcher.submit(batch(n, 10), lambda n=n: acks.append(n))  # type: ignore[misc]
        assert wait_until(lambda n=n: n in acks)
    for n in (20, 30):
        batcher.submit(batch(n, 10), lambda n=n: acks.append(n))  # type: ignore[misc]
    assert wait_until(lambda: "full" in alarms)
    time.sleep(0.1)
    assert acks == [0, 10]  # the third is held, unacknowledged, the fourth waits behind it
    blocked = threading.Thread(target=batcher.submit, args=(batch(40, 10),))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()  # backpressure: the transport waits, nothing is dropped

    store.down = False
    blocked.join(5)
    assert not blocked.is_alive()
    assert batcher.flush(5)
    assert wait_until(lambda: spool.empty)
    assert batcher.close(5)
    assert acks == [0, 10, 20, 30]
    assert store.taken == [point(n) for n in range(50)]
    assert alarms[-1] == "ok"
    spool.close()


def test_a_full_spool_at_close_leaves_the_held_batch_unacknowledged(
    store: Store, spool_dir: Path
) -> None:
    spool = open_spool(spool_dir, quota=100)
    store.down = True
    acked = threading.Event()
    batcher = batcher_with(store, spool)
    batcher.submit(batch(0, 10), acked.set)
    assert not batcher.close(0.5)
    assert not acked.is_set()  # its messages stay with the broker
    spool.close()


# -- the intake --------------------------------------------------------------------------


def test_a_closed_intake_turns_away_only_what_can_be_redelivered() -> None:
    handled: list[str] = []
    intake = Intake(lambda message: handled.append(message.topic))
    intake.handle(RawMessage("before", b"", 0, acknowledge=lambda: None))
    assert intake.close(1)
    intake.handle(RawMessage("qos1-after", b"", 0, acknowledge=lambda: None))
    intake.handle(RawMessage("qos0-after", b"", 0))
    assert handled == ["before", "qos0-after"]
    assert intake.turned_away == 1


def test_closing_the_intake_waits_for_messages_being_handled() -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(message: RawMessage) -> None:
        entered.set()
        release.wait(5)

    intake = Intake(slow)
    worker = threading.Thread(target=intake.handle, args=(RawMessage("t", b"", 0),))
    worker.start()
    assert entered.wait(5)
    assert not intake.close(0.1)
    release.set()
    assert intake.close(5)
    worker.join(5)


def test_settling_waits_until_the_broker_stops_sending() -> None:
    intake = Intake(lambda message: None)
    intake.close()
    stop = threading.Event()

    def broker_still_sending() -> None:
        while not stop.wait(0.02):
            intake.handle(RawMessage("t", b"", 0, acknowledge=lambda: None))

    sender = threading.Thread(target=broker_still_sending)
    sender.start()
    assert not intake.settle(quiet=0.1, timeout=0.3)
    stop.set()
    sender.join()
    started = time.monotonic()
    assert intake.settle(quiet=0.1, timeout=2)
    assert time.monotonic() - started < 0.5


# -- what /readyz and /metrics say -------------------------------------------------------


def test_readyz_shows_the_spool_and_is_not_ready_only_when_it_is_full(
    tmp_path: Path, spool_dir: Path
) -> None:
    services = make_services(tmp_path)
    quota = int(record_size(batch(0, 50), tmp_path / "probe") * 1.2)
    spool = open_spool(spool_dir, quota=quota)
    app = create_app(services, gauges=lambda: spool.status().gauges())
    client = client_for(app)
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["spool"] == "ok"
        assert ready.json()["spool"] == {
            "points": 0,
            "bytes": 0,
            "quota_fraction": 0.0,
            "oldest_age_seconds": 0.0,
            "level": "ok",
        }
        spool.append(batch(0, 50))  # waiting points alone: still ready
        waiting = client.get("/readyz").json()
        assert waiting["status"] == "ready" and waiting["spool"]["points"] == 50
        assert waiting["spool"]["level"] == "warning"
        with pytest.raises(SpoolFull):
            spool.append(batch(50, 50))
        full = client.get("/readyz")
        assert full.status_code == 503
        assert full.json()["checks"]["spool"].startswith("full: 50 points wait")
        metrics = client.get("/metrics").text
        assert "wherry_spool_level 2.0" in metrics and "wherry_spool_points 50.0" in metrics
    finally:
        spool.close()
        services.registry.close()
        services.store.close()
