"""The alert book and the engine's thread, on a real SQLite registry.

A condition becomes one alert per episode; a restart neither forgets nor repeats
it; a registry outage delays an alert but never loses it; observations submitted
from another thread come out as route decisions and alert events in order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from alerts.book import AlertBook
from alerts.engine import AlertEngine
from alerts.gritting import GrittingEngine, RoutePlan
from alerts.model import AlertEvent, Condition, Observation, RouteDecision, Severity
from alerts.policy import GrittingPolicy
from storage.registry import Registry, RegistryUnavailable

NS_PER_MINUTE = 60_000_000_000
T0 = 1_768_413_600_000_000_000  # 2026-01-14T18:00:00Z


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.migrate()
    yield registry
    registry.close()


def condition(
    active: bool = True, severity: Severity = Severity.WARNING, minute: int = 0
) -> Condition:
    return Condition(
        key="gritting:R1",
        rule="gritting",
        active=active,
        severity=severity,
        at_ns=T0 + minute * NS_PER_MINUTE,
        summary=f"R1 {severity}",
        explanation={"minute": minute},
        route_id="R1",
        domain="road",
    )


def test_a_condition_is_raised_once_escalated_and_cleared(registry: Registry) -> None:
    book = AlertBook(registry)

    events = [
        book.apply(condition()),
        book.apply(condition(minute=5)),
        book.apply(condition(severity=Severity.CRITICAL, minute=10)),
        book.apply(condition(active=False, minute=60)),
        book.apply(condition(active=False, minute=70)),
    ]

    kinds = [None if e is None else e.kind for e in events]
    assert kinds == ["raised", None, "escalated", "cleared", None]
    [alert] = registry.alerts()
    assert (alert.status, alert.severity, alert.explanation) == (
        "cleared",
        "critical",
        {"minute": 10},
    )
    assert alert.cleared_at is not None and alert.cleared_at.hour == 19


def test_a_restart_neither_forgets_nor_repeats_an_open_alert(registry: Registry) -> None:
    AlertBook(registry).apply(condition())

    after_restart = AlertBook(registry)
    again = after_restart.apply(condition(minute=30))
    cleared = after_restart.apply(condition(active=False, minute=90))

    assert again is None
    assert cleared is not None and cleared.kind == "cleared"
    assert len(registry.alerts()) == 1


def test_an_alert_the_registry_could_not_take_is_raised_when_it_returns(
    registry: Registry,
) -> None:
    book = AlertBook(registry)
    real_raise = registry.raise_alert
    down = True

    def flaky(alert: object, **options: object) -> object:
        if down:
            raise RegistryUnavailable("database is locked")
        return real_raise(alert, **options)  # type: ignore[arg-type]

    registry.raise_alert = flaky  # type: ignore[method-assign,assignment]
    assert book.apply(condition()) is None
    down = False
    retried = book.retry_unsaved()

    assert [e.kind for e in retried] == ["raised"]
    assert len(registry.open_alerts()) == 1


class Recorder:
    def __init__(self) -> None:
        self.decisions: list[RouteDecision] = []
        self.events: list[AlertEvent] = []
        self.raised = threading.Event()

    def route_changed(self, decision: RouteDecision) -> None:
        self.decisions.append(decision)

    def alert_event(self, event: AlertEvent) -> None:
        self.events.append(event)
        if event.kind == "raised" and event.alert.rule == "gritting":
            self.raised.set()


def rst(device: str, minute: int, value: float) -> Observation:
    return Observation(
        device_id=device,
        time_ns=T0 + minute * NS_PER_MINUTE,
        domain="road",
        route_id="R1",
        values={"road_surface_temperature": value},
    )


def test_observations_from_another_thread_become_decisions_and_alerts(
    registry: Registry,
) -> None:
    outbox = Recorder()
    plans = [RoutePlan("R1", GrittingPolicy(), frozenset({"s1", "s2"}))]
    engine = AlertEngine(GrittingEngine(plans), [], AlertBook(registry), outbox, clock=lambda: T0)
    engine.start()
    try:
        for minute in range(0, 120, 10):
            for device in ("s1", "s2"):
                engine.submit(rst(device, minute, 3.0 - minute / 30))  # down to -0.67 °C
        assert outbox.raised.wait(10), "no gritting alert came out"
    finally:
        engine.stop()

    final = outbox.decisions[-1]
    assert final.recommendation == "TREAT"
    assert final.state in ("FREEZING", "ICE_LIKELY")
    gritting = [e for e in outbox.events if e.alert.rule == "gritting"]
    assert [e.kind for e in gritting][:1] == ["raised"]
    assert registry.open_alerts()[0].key == "gritting:R1"
    assert engine.observed == 24 and engine.dropped == 0
    assert len(engine.latencies_s) == 24


def test_a_full_queue_is_counted_not_blocking(registry: Registry) -> None:
    engine = AlertEngine(GrittingEngine([]), [], AlertBook(registry), Recorder(), capacity=2)

    for minute in range(5):
        engine.submit(rst("s1", minute, 5.0))  # not started: nothing drains the queue

    assert (engine.depth, engine.dropped) == (2, 3)


def test_warming_up_neither_repeats_an_open_alert_nor_replays_history_as_news(
    registry: Registry,
) -> None:
    plans = [RoutePlan("R1", GrittingPolicy(), frozenset({"s1"}))]
    first = Recorder()
    before = AlertEngine(GrittingEngine(plans), [], AlertBook(registry), first)
    night = [rst("s1", minute, 2.0 - minute / 30) for minute in range(0, 130, 10)]
    for observation in night:
        before.process(observation)
    assert [e.kind for e in first.events if e.alert.rule == "gritting"][:1] == ["raised"]

    second = Recorder()
    after = AlertEngine(GrittingEngine(plans), [], AlertBook(registry), second)
    replayed = after.warm_up(night, now_ns=T0 + 130 * NS_PER_MINUTE)

    assert replayed == len(night)
    assert [e.kind for e in second.events if e.alert.rule == "gritting"] == []
    assert [d.recommendation for d in second.decisions] == ["TREAT"]  # only the final one

    third = Recorder()
    thawed = AlertEngine(GrittingEngine(plans), [], AlertBook(registry), third)
    thaw = [rst("s1", minute, 6.0) for minute in range(300, 400, 10)]
    thawed.warm_up(thaw, now_ns=T0 + 400 * NS_PER_MINUTE)

    assert [e.kind for e in third.events if e.alert.rule == "gritting"] == ["cleared"]


def test_a_backlog_is_judged_once_per_route_with_the_same_outcome(registry: Registry) -> None:
    """Observations queued faster than they are judged are taken together: every reading is
    kept, each route is judged once per backlog, and the decision is the one-by-one one."""
    plans = [RoutePlan("R1", GrittingPolicy(), frozenset({"s1", "s2"}))]
    observations = [
        rst(device, minute, 3.0 - minute / 30)
        for minute in range(0, 120, 10)
        for device in ("s1", "s2")
    ]
    one_by_one = GrittingEngine(plans)
    for observation in observations:
        one_by_one.observe(observation)

    gritting = GrittingEngine(plans)
    judged: list[int] = []
    observe_many = gritting.observe_many

    def counting(batch: Iterable[Observation]) -> list[RouteDecision]:
        observations = list(batch)
        judged.append(len(observations))
        return observe_many(observations)

    gritting.observe_many = counting  # type: ignore[method-assign,assignment]
    outbox = Recorder()
    engine = AlertEngine(gritting, [], AlertBook(registry), outbox, clock=lambda: T0)
    for observation in observations:
        engine.submit(observation)  # queued before the thread starts: one backlog
    engine.start()
    engine.stop()

    assert judged == [len(observations)]
    assert engine.observed == len(observations) and len(engine.latencies_s) == len(observations)
    expected = one_by_one.decisions()["R1"]
    final = outbox.decisions[-1]
    assert (final.state, final.recommendation) == (expected.state, expected.recommendation)
    assert final.recommendation == "TREAT"


def test_a_burst_waits_for_a_working_engine_instead_of_skipping_evaluations(
    registry: Registry,
) -> None:
    plans = [RoutePlan("R1", GrittingPolicy(), frozenset({"s1"}))]
    engine = AlertEngine(
        GrittingEngine(plans), [], AlertBook(registry), Recorder(), capacity=5, clock=lambda: T0
    )
    engine.start()
    try:
        for minute in range(300):  # far more than the queue holds
            engine.submit(rst("s1", minute, 5.0))
    finally:
        engine.stop()
    assert (engine.observed, engine.dropped) == (300, 0)


class StuckRule:
    """A rule whose step hangs, as one would on a registry that does not answer."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def observe(self, observation: Observation) -> list[Condition]:
        self.release.wait(10)
        return []

    def advance(self, now_ns: int) -> list[Condition]:
        return []

    def resume(self, open_conditions: Iterable[tuple[str, Severity, int]]) -> None:
        pass


def test_a_stuck_engine_is_not_waited_for(registry: Registry) -> None:
    rule = StuckRule()
    engine = AlertEngine(
        GrittingEngine([]),
        [rule],
        AlertBook(registry),
        Recorder(),
        capacity=2,
        stall_s=0.3,
        clock=lambda: T0,
    )
    engine.start()
    try:
        engine.submit(rst("s1", 0, 5.0))  # taken, and the engine hangs on it
        time.sleep(0.5)  # longer than stall_s: the engine is stuck
        started = time.monotonic()
        for minute in range(1, 6):
            engine.submit(rst("s1", minute, 5.0))
        waited = time.monotonic() - started
    finally:
        rule.release.set()
        engine.stop()
    assert engine.dropped == 3  # two fit in the queue
    assert waited < 0.6  # waiting would take 3 × stall_s: 0.9 s
