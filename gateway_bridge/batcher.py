"""Batch items by size and by time, hand each batch to a sink on one thread, then acknowledge.

The same mechanism carries points to the readings store and dead letters and
sightings to the registry. A message's acknowledgement runs only after the sink
has taken everything the message produced, which is what lets an own broker's
QoS 1 redelivery cover a crash.

With a `Spool` (the points batcher), "taken" also means "fsynced to the spool": while
the sink is unavailable, batches go to disk in order and are acknowledged, and the same
thread drains them into the sink, oldest first, once it answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from gateway_bridge.spool import Spool, SpoolFull
from gateway_bridge.uplink import Acknowledge

T = TypeVar("T")
log = logging.getLogger(__name__)


class Rejected(Exception):
    """Raised by a sink for items it will never take; the batcher isolates them by bisection."""


@dataclass
class _Pending(Generic[T]):
    items: list[T] = field(default_factory=list)
    acks: list[Acknowledge] = field(default_factory=list)
    first_at: float = 0.0


class Batcher(Generic[T]):
    """One background thread that writes batches to `sink` and retries while it is unavailable.

    `sink(batch)` either returns (taken), raises `Rejected` (these items are bad:
    the batch is split until each bad item is found and handed to `on_rejected`),
    or raises anything else (unavailable: wait with capped backoff and retry the
    same batch, holding later items back).

    A batch is due when it holds `max_items`, when its first item has waited `max_delay`,
    or when acknowledgements wait and nothing has been submitted for `quiet` seconds. A
    broker sends only so many unacknowledged messages (its in-flight window: Mosquitto's
    `max_inflight_messages`, 20 by default), then waits for acknowledgements; waiting
    for a full batch or for `max_delay` then would hold the whole stream to one window
    per `max_delay`. When `capacity` items wait,
    `submit` blocks: backpressure reaches the transport instead of memory growing.

    With a `spool`, an unavailable sink is retried once after `retry_min_delay`, then
    the batch is spooled and acknowledged; while the spool holds anything, new batches
    are spooled behind it, so the sink sees them in order. Between batches the thread
    drains the spool (retrying with the same capped backoff). Only when the spool
    refuses a batch (quota or disk) does the batcher hold it in memory as without one.
    """

    def __init__(
        self,
        name: str,
        sink: Callable[[Sequence[T]], None],
        *,
        on_rejected: Callable[[T, Exception], None],
        max_items: int = 5000,
        max_delay: float = 1.0,
        quiet: float = 0.01,
        capacity: int = 200_000,
        retry_min_delay: float = 0.5,
        retry_max_delay: float = 30.0,
        spool: Spool[T] | None = None,
    ) -> None:
        self.name = name
        self._sink = sink
        self._on_rejected = on_rejected
        self._max_items = max_items
        self._max_delay = max_delay
        self._quiet = quiet
        self._last_submit = 0.0
        self._capacity = max(capacity, max_items)
        self._retry_min_delay = retry_min_delay
        self._retry_max_delay = retry_max_delay
        self._pending: _Pending[T] = _Pending()
        self._in_flight = 0
        self._lock = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"batcher-{name}", daemon=True)
        self.written = 0
        self.rejected = 0
        self.failures = 0
        self.last_error: str | None = None
        self.spool = spool
        self._drain_at = time.monotonic()  # when to try the sink with spooled batches next
        self._drain_delay = 0.0
        self._drained = 0  # items drained since the spool last became non-empty

    def start(self) -> None:
        self._thread.start()

    def submit(self, items: Sequence[T], acknowledge: Acknowledge | None = None) -> None:
        """Queue items (possibly none) and the acknowledgement to run once they are taken."""
        with self._lock:
            while (
                len(self._pending.items) + self._in_flight >= self._capacity and not self._closing
            ):
                self._lock.wait(0.5)
            was_empty = not self._pending.items and not self._pending.acks
            self._last_submit = time.monotonic()
            if was_empty:
                self._pending.first_at = self._last_submit
            self._pending.items.extend(items)
            if acknowledge is not None:
                self._pending.acks.append(acknowledge)
            if was_empty or len(self._pending.items) >= self._max_items:
                self._lock.notify_all()

    @property
    def depth(self) -> int:
        """Items accepted but not yet taken by the sink."""
        with self._lock:
            return len(self._pending.items) + self._in_flight

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything submitted so far has been taken (or spooled); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._pending.first_at = 0.0  # due now
            self._lock.notify_all()
            while self._pending.items or self._pending.acks or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.1))
        return True

    def close(self, timeout: float = 30.0) -> bool:
        """Write what is left and stop the thread; False if the sink did not take it all in time."""
        done = self.flush(timeout) if self._thread.is_alive() else False
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=max(1.0, timeout / 10))
        return done

    def _take_batch(self, until: float | None = None) -> _Pending[T] | None:
        """The next due batch; None once closing with nothing left, or when `until` passes."""
        with self._lock:
            while True:
                pending = self._pending
                now = time.monotonic()
                if pending.items or pending.acks:
                    due = pending.first_at + self._max_delay
                    if pending.acks:
                        due = min(due, self._last_submit + self._quiet)
                    if len(pending.items) >= self._max_items or now >= due or self._closing:
                        batch = _Pending(pending.items[: self._max_items])
                        rest = pending.items[self._max_items :]
                        if rest:
                            # Acknowledgements wait for the last batch of what they cover.
                            self._pending = _Pending(
                                rest, pending.acks, time.monotonic() - self._max_delay
                            )
                        else:
                            batch.acks = pending.acks
                            self._pending = _Pending()
                        self._in_flight = len(batch.items)
                        return batch
                    wake = due
                elif self._closing:
                    return None
                else:
                    wake = now + 0.5
                if until is not None:
                    if now >= until:
                        return None
                    wake = min(wake, until)
                self._lock.wait(max(0.0, wake - now))

    def _run(self) -> None:
        while True:
            draining = self.spool is not None and not self.spool.empty
            batch = self._take_batch(self._drain_at if draining else None)
            if batch is not None:
                self._complete(batch)
            elif self._closing:
                return
            if self.spool is not None and not self._closing and time.monotonic() >= self._drain_at:
                self._drain(budget=self._max_delay)

    def _complete(self, batch: _Pending[T]) -> None:
        """Hand the batch off, then run its acknowledgements (none if it was not taken)."""
        if not self._hand_off(batch.items):
            batch.acks = []  # neither written nor spooled: let the transport redeliver
        for acknowledge in batch.acks:
            try:
                acknowledge()
            except Exception:  # a transport that went away: its broker redelivers instead
                log.warning("%s: acknowledgement failed", self.name, exc_info=True)
        with self._lock:
            self._in_flight = 0
            self._lock.notify_all()

    def _hand_off(self, items: list[T]) -> bool:
        """True once the items are in the sink or the spool."""
        if not items:
            return True
        if self.spool is None:
            return self._deliver(items)
        if self.spool.empty and (self._attempt(items) or self._retry_once(items)):
            return True
        return self._spool_or_hold(items)

    def _attempt(self, items: list[T], holding: str = "spooling") -> bool:
        """Write items once; on failure count it, log the first of an outage, return False."""
        try:
            self._write(items)
        except Exception as exc:
            self.failures += 1
            if self.last_error is None:
                log.warning(
                    "%s: sink unavailable, %s %d items: %s", self.name, holding, len(items), exc
                )
            self.last_error = str(exc)
            return False
        if self.last_error is not None:
            log.info("%s: sink is back, %d items written", self.name, len(items))
            self.last_error = None
        return True

    def _retry_once(self, items: list[T]) -> bool:
        """A short first retry, so a blip does not reach the disk."""
        with self._lock:
            if self._closing:
                return False
            self._lock.wait(self._retry_min_delay)
        return self._attempt(items)

    def _spool_or_hold(self, items: list[T]) -> bool:
        """Spool the items; while the spool refuses them, drain it and hold them in memory."""
        assert self.spool is not None
        delay = self._retry_min_delay
        held_since: float | None = None
        while True:
            try:
                self.spool.append(items)
            except SpoolFull as exc:
                if held_since is None:
                    held_since = time.monotonic()
                    log.error(
                        "%s: cannot spool %d items (%s); holding them in memory, unacknowledged",
                        self.name,
                        len(items),
                        exc,
                    )
            else:
                if held_since is not None:
                    log.info(
                        "%s: %d held items spooled after %.0f s",
                        self.name,
                        len(items),
                        time.monotonic() - held_since,
                    )
                return True
            if self._drain(budget=self._max_delay):  # the sink is back: room comes soon
                if self.spool.empty and self._attempt(items):
                    return True
                delay = self._retry_min_delay
                continue
            with self._lock:
                if self._closing:
                    log.error(
                        "%s: closing with %d items neither written nor spooled; their "
                        "messages stay unacknowledged",
                        self.name,
                        len(items),
                    )
                    return False
                self._lock.wait(delay)
            delay = min(delay * 2, self._retry_max_delay)

    def _drain(self, budget: float) -> int:
        """Write spooled batches to the sink, oldest first, for about `budget` seconds.

        Returns how many batches went; on failure, the next try waits with backoff.
        """
        assert self.spool is not None
        started = time.monotonic()
        drained = 0
        while not self._closing:
            batch = self.spool.oldest()
            if batch is None:
                break
            if not self._attempt(batch.items, holding="keeping spooled"):
                self._drain_delay = min(
                    max(self._drain_delay * 2, self._retry_min_delay), self._retry_max_delay
                )
                self._drain_at = time.monotonic() + self._drain_delay
                return drained
            self.spool.remove(batch)
            drained += 1
            self._drained += len(batch.items)
            if time.monotonic() - started >= budget:
                break
        self._drain_delay = 0.0
        self._drain_at = time.monotonic()
        if drained and self.spool.empty:
            log.info(
                "%s: spool drained: %d spooled items written to the sink",
                self.name,
                self._drained,
            )
            self._drained = 0
        return drained

    def _deliver(self, items: list[T]) -> bool:
        """Without a spool: retry with capped backoff until written or closing."""
        delay = self._retry_min_delay
        while True:
            if self._attempt(items, holding="holding"):
                return True
            with self._lock:
                if self._closing:
                    log.error("%s: closing with %d items unwritten", self.name, len(items))
                    return False
                self._lock.wait(delay)
            delay = min(delay * 2, self._retry_max_delay)

    def _write(self, items: Sequence[T]) -> None:
        """Write items; on `Rejected`, split and recurse so only the bad items are set aside."""
        try:
            self._sink(items)
            self.written += len(items)
        except Rejected as exc:
            if len(items) == 1:
                self.rejected += 1
                self._on_rejected(items[0], exc)
                return
            middle = len(items) // 2
            self._write(items[:middle])
            self._write(items[middle:])
