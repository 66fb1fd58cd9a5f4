"""From one alert event to every subscription that wants it, without holding up the engine.

`dispatch` only queues: an intake thread looks the subscriptions up and matches
them, and each subscription gets its own lane (a queue and a thread while it has
work), so a webhook that times out and retries delays nobody else, and each
subscriber still hears about an alert's steps in order (raised before cleared).
What cannot be delivered goes to `on_failed` with the reason; nothing is dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from alerts.model import AlertEvent, Severity
from alerts.notify.broadcast import Broadcaster
from alerts.notify.payload import alert_payload
from alerts.notify.retry import Delivery
from storage.registry.records import SubscriptionRecord

log = logging.getLogger(__name__)

FailedCallback = Callable[[SubscriptionRecord, AlertEvent, str], None]
"""Told of every notification that was not delivered: (subscription, event, reason)."""
Subscriptions = Callable[[], Sequence[SubscriptionRecord]]


class Notifier(Protocol):
    """A channel (webhook, e-mail): delivers one event to one subscription, retrying itself.

    `stop` is set when wherry is shutting down: a notifier stops waiting between tries.
    """

    def send(
        self,
        subscription: SubscriptionRecord,
        event: AlertEvent,
        stop: threading.Event | None = None,
    ) -> Delivery: ...


def matches(subscription: SubscriptionRecord, event: AlertEvent) -> bool:
    """Whether `subscription` hears about `event`: active, on its routes and domains (empty
    means all) and at least as severe as its `min_severity`."""
    alert = event.alert
    if not subscription.active:
        return False
    if subscription.routes and alert.route_id not in subscription.routes:
        return False
    if subscription.domains and alert.domain not in subscription.domains:
        return False
    # An unknown severity on an alert counts as critical, on a subscription as info:
    # a typo must make wherry louder, never quieter.
    wanted = _rank(subscription.min_severity, unknown=Severity.INFO.rank)
    return _rank(alert.severity, unknown=Severity.CRITICAL.rank) >= wanted


class NotifyCounts:
    """Thread-safe counts for /metrics: `<channel>_sent`, `_failed`, `_retried` and `events`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


@dataclass
class _Lane:
    """One subscription's queue of work, and whether a thread is working it."""

    jobs: deque[tuple[SubscriptionRecord, AlertEvent]] = field(default_factory=deque)


_STOP = object()


class Dispatcher:
    """Sends alert events to matching subscriptions and to the live stream.

    `subscriptions` is called (on the intake thread) for each event, so it sees
    edits at once; if it raises (the registry is away) it is retried every
    `lookup_retry_s`, holding later events in order behind it. A subscription
    with more than `backlog_limit` events waiting gets the excess as failures.
    """

    def __init__(
        self,
        subscriptions: Subscriptions,
        *,
        webhook: Notifier | None = None,
        email: Notifier | None = None,
        broadcaster: Broadcaster | None = None,
        on_failed: FailedCallback,
        backlog_limit: int = 1000,
        lookup_retry_s: float = 5.0,
    ) -> None:
        self._subscriptions = subscriptions
        self._notifiers: dict[str, Notifier | None] = {"webhook": webhook, "email": email}
        self._broadcaster = broadcaster
        self._on_failed = on_failed
        self._backlog_limit = backlog_limit
        self._lookup_retry_s = lookup_retry_s
        self.counts = NotifyCounts()
        self._intake: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._lanes: dict[int, _Lane] = {}
        self._waiting = 0
        self._closed = False
        self._abort = threading.Event()
        self._intake_thread = threading.Thread(
            target=self._take_in, name="notify-intake", daemon=True
        )
        self._intake_thread.start()

    matches = staticmethod(matches)

    def dispatch(self, event: AlertEvent) -> None:
        """Queue `event` for its subscribers and publish it live; returns at once."""
        if self._broadcaster is not None:
            self._broadcaster.publish("alert", alert_payload(event))
        with self._lock:
            if self._closed:
                log.error(
                    "alert %s (%s %s) came after notifications stopped; not sent",
                    event.alert.id, event.alert.key, event.kind,
                )  # fmt: skip
                return
            self._waiting += 1
            self._intake.put(event)  # under the lock: never behind close()'s stop mark
        self.counts.add("events")

    def pending(self) -> int:
        """Events not yet matched plus notifications not yet finished: a gauge for /metrics."""
        with self._lock:
            return self._waiting + sum(len(lane.jobs) for lane in self._lanes.values())

    def close(self, timeout: float = 10.0) -> bool:
        """Stop taking events and wait up to `timeout` for the queued ones to be delivered.

        Returns True when everything was. Otherwise what is left is cut short: waits
        between retries end and the rest goes to `on_failed` (wherry stopped).
        """
        with self._lock:
            if not self._closed:
                self._closed = True
                self._intake.put(_STOP)
        deadline = time.monotonic() + timeout
        drained = self._wait_idle(deadline)
        if not drained:
            self._abort.set()
            self._wait_idle(time.monotonic() + max(1.0, timeout / 2))
        return drained

    def _wait_idle(self, deadline: float) -> bool:
        self._intake_thread.join(max(0.0, deadline - time.monotonic()))
        with self._idle:
            return self._idle.wait_for(
                lambda: not self._lanes and not self._intake_thread.is_alive(),
                max(0.0, deadline - time.monotonic()),
            )

    def _take_in(self) -> None:
        while (item := self._intake.get()) is not _STOP:
            assert isinstance(item, AlertEvent)
            subscriptions = self._look_up(item)
            for subscription in subscriptions or ():
                if matches(subscription, item):
                    self._enqueue(subscription, item)
            with self._idle:
                self._waiting -= 1
                self._idle.notify_all()

    def _look_up(self, event: AlertEvent) -> Sequence[SubscriptionRecord] | None:
        while True:
            try:
                return self._subscriptions()
            except Exception as exc:
                self.counts.add("lookup_errors")
                if self._abort.is_set():
                    log.error(
                        "alert %s (%s %s) not notified: wherry stopped while the "
                        "subscriptions could not be read (%s)",
                        event.alert.id, event.alert.key, event.kind, exc,
                    )  # fmt: skip
                    return None
                log.warning("cannot read the subscriptions (%s); trying again", exc)
                self._abort.wait(self._lookup_retry_s)

    def _enqueue(self, subscription: SubscriptionRecord, event: AlertEvent) -> None:
        with self._lock:
            lane = self._lanes.get(subscription.id)
            full = lane is not None and len(lane.jobs) >= self._backlog_limit
            if not full:
                if lane is None:
                    lane = self._lanes[subscription.id] = self._open_lane(subscription)
                lane.jobs.append((subscription, event))
        if full:
            waiting = f"{self._backlog_limit} notifications were already waiting"
            self._fail(subscription, event, f"{waiting} for this subscription")

    def _open_lane(self, subscription: SubscriptionRecord) -> _Lane:
        """A lane and the thread that works it until it is empty (called under the lock)."""
        lane = _Lane()
        threading.Thread(
            target=self._work,
            args=(subscription.id, lane),
            name=f"notify-{subscription.channel}-{subscription.id}",
            daemon=True,
        ).start()
        return lane

    def _work(self, lane_id: int, lane: _Lane) -> None:
        while True:
            with self._idle:
                if not lane.jobs:
                    del self._lanes[lane_id]
                    self._idle.notify_all()
                    return
                subscription, event = lane.jobs.popleft()
            self._deliver(subscription, event)

    def _deliver(self, subscription: SubscriptionRecord, event: AlertEvent) -> None:
        channel = subscription.channel
        notifier = self._notifiers.get(channel)
        if self._abort.is_set():
            self._fail(subscription, event, "wherry stopped before this was sent")
            return
        if notifier is None:
            self._fail(subscription, event, f"no {channel} sender is configured in wherry")
            return
        try:
            delivery = notifier.send(subscription, event, self._abort)
        except Exception as exc:
            log.exception("the %s sender failed on subscription %s", channel, subscription.id)
            delivery = Delivery(False, 1, f"{channel} sender failed: {type(exc).__name__} {exc}")
        self.counts.add(f"{channel}_retried", delivery.retries)
        if delivery.delivered:
            self.counts.add(f"{channel}_sent")
        else:
            self._fail(subscription, event, delivery.reason)

    def _fail(self, subscription: SubscriptionRecord, event: AlertEvent, reason: str) -> None:
        self.counts.add(f"{subscription.channel}_failed")
        log.warning(
            "alert %s (%s %s) not delivered to subscription %s (%s): %s",
            event.alert.id, event.alert.key, event.kind, subscription.id, subscription.name, reason,
        )  # fmt: skip
        try:
            self._on_failed(subscription, event, reason)
        except Exception:
            log.exception(
                "could not record the undelivered alert %s for subscription %s",
                event.alert.id, subscription.id,
            )  # fmt: skip


def _rank(severity: str, *, unknown: int) -> int:
    try:
        return Severity(severity).rank
    except ValueError:
        return unknown
