"""Where alerts are evaluated: one thread runs the gritting engine and every rule family.

The bridge hands each decoded uplink over as an `Observation` and goes on at once;
this thread applies them in arrival order, so rules never need locks. When
observations arrive faster than routes can be judged one uplink at a time (a burst,
a backfill), the thread takes the whole backlog at once: every reading is kept and
every rule sees each one, but each route is judged once per backlog, at its newest
data time, so the cost follows the number of routes rather than of uplinks. Route
decisions that change and alert events that are news go to the `Outbox` (the
registry, the live stream and the notifiers). A tick moves the clock on when no
uplink arrives, which is how silence is noticed in the middle of the night.

Evaluation does not wait for the readings store: a gritting decision is still
made while InfluxDB is down and the points sit in the spool.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from alerts.book import AlertBook
from alerts.gritting import GrittingEngine, RoutePlan, gritting_conditions
from alerts.model import AlertEvent, Condition, Observation, RouteDecision, Rule

log = logging.getLogger(__name__)

_STOP = object()


class Outbox(Protocol):
    """Where the engine's news goes; called on the engine's thread, so it must not block long."""

    def route_changed(self, decision: RouteDecision) -> None: ...

    def alert_event(self, event: AlertEvent) -> None: ...


class AlertEngine:
    def __init__(
        self,
        gritting: GrittingEngine,
        rules: Sequence[Rule],
        book: AlertBook,
        outbox: Outbox,
        *,
        plans: Callable[[], Sequence[RoutePlan]] | None = None,
        refresh_every_s: float = 60.0,
        tick_every_s: float = 15.0,
        capacity: int = 20_000,
        catch_up: int = 5_000,
        stall_s: float = 15.0,
        gather_s: float = 0.2,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.gritting = gritting
        self.rules = list(rules)
        self.book = book
        self.outbox = outbox
        self._plans = plans
        self._refresh_every_s = refresh_every_s
        self._tick_every_s = tick_every_s
        self._clock = clock
        self._catch_up = catch_up
        self._stall_s = stall_s
        self._last_step = -math.inf  # not started: nothing to wait for
        self._gather_s = gather_s
        self._queue: queue.Queue[tuple[float, Observation | Condition] | object] = queue.Queue(
            capacity
        )
        self._thread = threading.Thread(target=self._run, name="alert-engine", daemon=True)
        self._lock = threading.Lock()
        self._halted = threading.Event()
        self.data_clock_ns = 0
        self.observed = 0
        self.dropped = 0
        self.latencies_s: deque[float] = deque(maxlen=10_000)

    # -- called from other threads ---------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def submit(self, observation: Observation, *, wait_s: float | None = None) -> None:
        """Queue an observation. A full queue is waited on only while the engine is working
        through it; otherwise the observation is counted, logged and not evaluated (its
        readings are stored regardless).

        Waiting while the engine works slows a burst to the engine's pace, so memory stays
        bounded and every uplink is evaluated. An engine that has not finished a step for
        `stall_s` (stuck on a registry that does not answer) is not waited for: the bridge
        must go on storing readings. `wait_s` overrides how long to wait: a reader of the
        readings store (`alerts/follow.py`) can afford to wait longer.
        """
        item = (time.perf_counter(), observation)
        if wait_s is None:
            wait_s = self._stall_s if self._working() else 0.0
        try:
            if wait_s > 0:
                self._queue.put(item, timeout=wait_s)
            else:
                self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("alert engine queue full: %d observations not evaluated", self.dropped)

    def _working(self) -> bool:
        """Whether the engine's loop turned within the last `stall_s`."""
        return time.monotonic() - self._last_step < self._stall_s

    def report(self, condition: Condition) -> None:
        """A condition from outside the rules (the spool filling up): applied on the engine's
        thread like the rest, so the alert book has one writer."""
        try:
            self._queue.put_nowait((time.perf_counter(), condition))
        except queue.Full:
            log.error(
                "alert engine queue full: %s not reported (%s)", condition.key, condition.summary
            )

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def stop(self, timeout: float = 10.0, *, drain: bool = True) -> None:
        """Evaluate what is queued, then stop; with `drain` False, stop after the current
        step and drop the rest (the process lost its alert lease: another one decides now)."""
        if not self._thread.is_alive():
            return
        if drain:
            self._queue.put(_STOP)
        else:
            self._halted.set()
            with contextlib.suppress(queue.Full):  # a full queue: the thread sees the flag
                self._queue.put_nowait(_STOP)
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # -- the engine's thread (also called directly by tests and replay) --------------------

    def process(self, observation: Observation) -> None:
        with self._lock:
            self.observed += 1
            self.data_clock_ns = max(self.data_clock_ns, observation.time_ns)
            decisions = self.gritting.observe(observation)
            conditions = [c for rule in self.rules for c in rule.observe(observation)]
            self._publish(decisions, conditions)

    def process_many(self, observations: Sequence[Observation]) -> None:
        """A backlog at once: every rule sees each observation, the gritting engine judges
        each touched route once (`GrittingEngine.observe_many`)."""
        if len(observations) == 1:
            self.process(observations[0])
            return
        with self._lock:
            self.observed += len(observations)
            self.data_clock_ns = max(self.data_clock_ns, *(o.time_ns for o in observations))
            decisions = self.gritting.observe_many(observations)
            conditions = [c for o in observations for rule in self.rules for c in rule.observe(o)]
            self._publish(decisions, conditions)

    def _apply(self, condition: Condition) -> None:
        with self._lock:
            self._publish([], [condition])

    def warm_up(self, observations: Iterable[Observation], now_ns: int) -> int:
        """Rebuild trends and rule windows from stored history after a restart, quietly.

        History is not news: only each condition's verdict at the end counts, and every
        route's final decision, so an alert still open is neither cleared by an old
        reading nor raised twice. Returns how many observations were replayed.
        """
        latest: dict[str, Condition] = {}
        count = 0
        with self._lock:
            for observation in observations:
                count += 1
                self.data_clock_ns = max(self.data_clock_ns, observation.time_ns)
                self.gritting.observe(observation)
                for rule in self.rules:
                    latest.update((c.key, c) for c in rule.observe(observation))
            now_ns = max(now_ns, self.data_clock_ns)
            self.gritting.advance(now_ns)
            for rule in self.rules:
                latest.update((c.key, c) for c in rule.advance(now_ns))
            decisions = list(self.gritting.decisions().values())
            self._publish(decisions, list(latest.values()))
        return count

    def advance(self, now_ns: int) -> None:
        """Move every timer to `now_ns` (or the newest data time, if later)."""
        with self._lock:
            now_ns = max(now_ns, self.data_clock_ns)
            decisions = self.gritting.advance(now_ns)
            conditions = [c for rule in self.rules for c in rule.advance(now_ns)]
            self._publish(decisions, conditions)
            for event in self.book.retry_unsaved():
                self.outbox.alert_event(event)

    def refresh_plans(self) -> None:
        """Take up routes and sensors registered or changed since the last look.

        `plans` is called on the engine's thread, so it may also update rules.
        """
        if self._plans is None:
            return
        try:
            plans = self._plans()
        except Exception:
            log.exception("cannot read routes from the registry; keeping the current plans")
            return
        with self._lock:
            self._publish(self.gritting.replace_plans(plans), [])

    def _publish(self, decisions: Sequence[RouteDecision], conditions: list[Condition]) -> None:
        for decision in decisions:
            self.outbox.route_changed(decision)
            conditions.extend(gritting_conditions(decision))
        for condition in conditions:
            event = self.book.apply(condition)
            if event is not None:
                self.outbox.alert_event(event)

    def _run(self) -> None:
        next_tick = time.monotonic()
        next_refresh = time.monotonic() + self._refresh_every_s
        while not self._halted.is_set():
            now = self._last_step = time.monotonic()  # the loop turns: the engine is working
            if now >= next_refresh:
                self.refresh_plans()
                next_refresh = now + self._refresh_every_s
            if now >= next_tick:
                self._safely(self.advance, self._clock())
                next_tick = now + self._tick_every_s
            try:
                item = self._queue.get(timeout=max(0.0, next_tick - time.monotonic()))
            except queue.Empty:
                continue
            if not self._take([item, *self._waiting()]):
                return

    def _waiting(self) -> list[object]:
        """What else is queued, up to `catch_up` items: a backlog is taken at once.

        While there is a backlog, what arrives in the next `gather_s` joins it: under load
        routes are then judged a few times a second, not once for every few uplinks.
        """
        items: list[object] = []
        deadline: float | None = None
        while len(items) < self._catch_up:
            try:
                items.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                if not items:
                    break  # no backlog: judge this uplink now
            if deadline is None:
                deadline = time.monotonic() + self._gather_s
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                items.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return items

    def _take(self, items: list[object]) -> bool:
        """Apply queued items in order, runs of observations together; False on stop."""
        run: list[Observation] = []
        queued: list[float] = []
        for item in items:
            if item is _STOP or self._halted.is_set():
                self._finish(run, queued)
                return False
            assert isinstance(item, tuple)
            queued_at, news = item
            if isinstance(news, Condition):
                self._finish(run, queued)
                run, queued = [], []
                self._safely(self._apply, news)
            else:
                run.append(news)
                queued.append(queued_at)
        self._finish(run, queued)
        return True

    def _finish(self, run: list[Observation], queued: list[float]) -> None:
        if not run or self._halted.is_set():
            return
        self._safely(self.process_many, run)
        done = time.perf_counter()
        self.latencies_s.extend(done - queued_at for queued_at in queued)

    @staticmethod
    def _safely(step: Callable[..., None], *args: object) -> None:
        """A bug in one rule must not stop the gritting decisions: log it and go on."""
        try:
            step(*args)
        except Exception:
            log.exception("alert engine: %s failed", getattr(step, "__name__", "step"))
