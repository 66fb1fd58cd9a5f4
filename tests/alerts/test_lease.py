"""The alert lease keeper and the store follower, on a real SQLite registry and readings store.

One keeper holds the lease; another takes over once the holder stops renewing; a holder
that cannot renew in time, or finds its lease taken, lets go at once and its fenced writes
are refused. The follower rebuilds observations from what any process stored, each once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from alerts.book import AlertBook
from alerts.follow import StoreFollower
from alerts.lease import LeaseKeeper, holder_name
from alerts.model import Condition, Severity
from storage import ReadingStore, open_store
from storage.points import Point
from storage.registry import LeaseLost, Registry
from wherry.alerting import build_alerting
from wherry.settings import Settings

NS_PER_MINUTE = 60_000_000_000


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.migrate()
    yield registry
    registry.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReadingStore]:
    store = open_store(f"sqlite:///{tmp_path / 'readings.db'}")
    yield store
    store.close()


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def condition(active: bool = True) -> Condition:
    return Condition(
        key="gritting:R1",
        rule="gritting",
        active=active,
        severity=Severity.CRITICAL,
        at_ns=time.time_ns(),
        summary="R1 TREAT",
        route_id="R1",
        domain="road",
    )


def test_one_keeper_holds_the_lease_and_a_standby_takes_over_when_it_stops_renewing(
    registry: Registry,
) -> None:
    holder = LeaseKeeper(registry, holder="a", ttl_s=2.0, renew_every_s=0.2)
    standby = LeaseKeeper(registry, holder="b", ttl_s=2.0, renew_every_s=0.2)
    holder.start()
    standby.start()
    try:
        time.sleep(2.5)  # renewals keep it: more than a lease's time passes
        assert holder.current() is not None and standby.current() is None

        holder.stop(release=False)  # as if killed: no more renewals, nothing released
        stopped = time.monotonic()
        assert wait_until(lambda: standby.current() is not None, 5)
        took = time.monotonic() - stopped

        lease = standby.current()
        assert lease is not None and lease.holder == "b" and lease.epoch == 2
        assert 1.0 < took < 2.0 + 0.2 + 1.5, took  # ran out, then the next attempt took it
    finally:
        standby.stop()
        holder.stop()


def test_a_clean_stop_hands_the_lease_over_at_the_next_attempt(registry: Registry) -> None:
    holder = LeaseKeeper(registry, holder="a", ttl_s=30, renew_every_s=0.1)
    standby = LeaseKeeper(registry, holder="b", ttl_s=30, renew_every_s=0.1)
    holder.start()
    standby.start()
    try:
        holder.stop(release=True)
        assert wait_until(lambda: standby.current() is not None, 2)
    finally:
        standby.stop()


def test_a_process_restarted_after_a_crash_reclaims_its_own_lease_at_once(
    registry: Registry, tmp_path: Path
) -> None:
    crashed = LeaseKeeper(registry, holder=holder_name(tmp_path / "data"), ttl_s=30.0)
    crashed.start()
    crashed.stop(release=False)  # as if killed: the lease still has 30 s to run
    other = LeaseKeeper(registry, holder=holder_name(tmp_path / "elsewhere"), ttl_s=30.0)
    restarted = LeaseKeeper(registry, holder=holder_name(tmp_path / "data"), ttl_s=30.0)
    other.start()
    restarted.start()
    try:
        assert other.current() is None  # another installation still waits for it to run out
        lease = restarted.current()
        assert lease is not None and lease.epoch == 1  # the same installation goes on at once
    finally:
        restarted.stop()
        other.stop()


def test_a_holder_that_cannot_renew_in_time_lets_go_by_its_own_clock(registry: Registry) -> None:
    keeper = LeaseKeeper(registry, holder="a", ttl_s=1.0, renew_every_s=60)
    keeper.start()
    try:
        assert keeper.current() is not None
        assert wait_until(lambda: keeper.current() is None, 2)
        assert keeper.remaining_s() == 0
    finally:
        keeper.stop()


def test_a_holder_whose_lease_was_taken_lets_go_and_its_book_is_refused(
    registry: Registry, tmp_path: Path
) -> None:
    keeper = LeaseKeeper(registry, holder="a", ttl_s=30, renew_every_s=0.1)
    keeper.start()
    try:
        lease = keeper.current()
        assert lease is not None
        book = AlertBook(registry, fence=lease)
        assert book.apply(condition()) is not None
        raw = sa.create_engine(f"sqlite:///{tmp_path / 'registry.db'}")
        with raw.begin() as connection:  # another process took it (its holder ran out)
            connection.execute(
                sa.text("UPDATE leases SET holder = 'b', epoch = epoch + 1 WHERE name = 'alerts'")
            )
        raw.dispose()

        assert wait_until(lambda: keeper.current() is None, 1)
        with pytest.raises(LeaseLost):
            book.apply(condition(active=False))
        assert [a.key for a in registry.open_alerts()] == ["gritting:R1"]
    finally:
        keeper.stop()


def uplink(device: str, minute: int, base_ns: int, **values: float) -> list[Point]:
    tags = {"device_id": device, "application_id": "app", "domain": "road", "route": "R1"}
    at = base_ns + minute * NS_PER_MINUTE
    points = [Point("uplink", {"device_id": device, "application_id": "app"}, {"rssi": -97.0}, at)]
    if values:
        points.append(Point("reading", tags, dict(values), at))
    return points


def test_the_follower_hands_over_every_stored_uplink_once_in_time_order(
    store: ReadingStore,
) -> None:
    now = time.time_ns()
    base = now - 30 * NS_PER_MINUTE
    store.write(uplink("rst-1", 0, base, road_surface_temperature=2.0))
    follower = StoreFollower(store, lookback_s=600)

    history = follower.history(now, hours=1)
    assert [(o.device_id, o.values, o.rssi, o.route_id) for o in history] == [
        ("rst-1", {"road_surface_temperature": 2.0}, -97.0, "R1")
    ]
    assert follower.poll(now) == []

    # Two processes write; one of them late (its batch waited), with a flagged reading.
    store.write(uplink("rst-2", 28, base, road_surface_temperature=1.5))
    store.write(uplink("rst-1", 25, base, road_surface_temperature=1.8))
    flagged_tags = {"device_id": "rst-2", "application_id": "app", "domain": "road"}
    store.write(
        [
            *uplink("rst-2", 29, base),
            Point(
                "flagged",
                {**flagged_tags, "quantity": "road_surface_temperature"},
                {"reason": "probe error", "value": 85.0},
                base + 29 * NS_PER_MINUTE,
            ),
        ]
    )
    found = follower.poll(time.time_ns())

    assert [(o.device_id, (o.time_ns - base) // NS_PER_MINUTE) for o in found] == [
        ("rst-1", 25),
        ("rst-2", 28),
        ("rst-2", 29),
    ]
    assert found[2].values == {} and found[2].flagged == {"road_surface_temperature": "probe error"}
    assert found[2].domain == "road"
    assert follower.poll(time.time_ns()) == []  # each once


def test_the_follower_does_not_go_back_further_than_its_lookback(store: ReadingStore) -> None:
    now = time.time_ns()
    follower = StoreFollower(store, lookback_s=300)
    follower.history(now, hours=3)

    store.write(uplink("rst-1", -20, now, road_surface_temperature=2.0))  # 20 min late
    store.write(uplink("rst-1", -2, now, road_surface_temperature=1.9))

    assert [(o.time_ns - now) // NS_PER_MINUTE for o in follower.poll(now)] == [-2]


def test_a_lease_record_reads_back_in_utc(registry: Registry) -> None:
    lease = registry.claim_lease("alerts", "a", 30)
    assert lease is not None
    assert lease.expires_at.tzinfo is UTC
    assert abs((lease.acquired_at - datetime.now(UTC)).total_seconds()) < 5


def test_of_two_processes_one_evaluates_the_other_takes_over_and_a_stolen_lease_halts_it(
    tmp_path: Path,
) -> None:
    settings = Settings(
        data_dir=tmp_path / "first",
        registry_url=f"sqlite:///{tmp_path / 'registry.db'}",
        store_url=f"sqlite:///{tmp_path / 'readings.db'}",
        alert_evaluation="store",
        alert_lease_s=3.0,
        alert_follow_interval_s=0.1,
        alert_warmup_hours=1,
    )
    registry = Registry(settings.effective_registry_url)
    registry.migrate()
    store = open_store(settings.effective_store_url)
    first = build_alerting(settings, registry, store)
    second = build_alerting(
        settings.model_copy(update={"data_dir": tmp_path / "second"}), registry, store
    )
    try:
        assert first.evaluating and not second.evaluating
        with pytest.raises(RuntimeError, match="stands by"):
            _ = second.engine

        first.close(2.0)  # a clean stop lets the lease go
        assert wait_until(lambda: second.evaluating, 5)

        raw = sa.create_engine(settings.effective_registry_url)
        with raw.begin() as connection:  # another process took it over
            connection.execute(
                sa.text("UPDATE leases SET holder = 'thief', epoch = epoch + 1, "
                        "expires_ms = expires_ms + 60000 WHERE name = 'alerts'")
            )  # fmt: skip
        raw.dispose()
        assert wait_until(lambda: not second.evaluating, 3)  # at its next renewal (1 s)
    finally:
        second.close(2.0)
        first.close(2.0)
        store.close()
        registry.close()
