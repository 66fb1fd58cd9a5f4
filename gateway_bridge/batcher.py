"""Batch items by size and by time, hand each batch to a sink on one thread, then acknowledge.

The same mechanism carries points to the readings store and dead letters and
sightings to the registry. A message's acknowledgement runs only after the sink
has taken everything the message produced, which is what lets an own broker's
QoS 1 redelivery cover a crash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

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
    same batch, holding later items back). When `capacity` items wait,
    `submit` blocks: backpressure reaches the transport instead of memory growing.
    """

    def __init__(
        self,
        name: str,
        sink: Callable[[Sequence[T]], None],
        *,
        on_rejected: Callable[[T, Exception], None],
        max_items: int = 5000,
        max_delay: float = 1.0,
        capacity: int = 200_000,
        retry_min_delay: float = 0.5,
        retry_max_delay: float = 30.0,
    ) -> None:
        self.name = name
        self._sink = sink
        self._on_rejected = on_rejected
        self._max_items = max_items
        self._max_delay = max_delay
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
            if was_empty:
                self._pending.first_at = time.monotonic()
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
        """Wait until everything submitted so far has been taken; False on timeout."""
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

    def _take_batch(self) -> _Pending[T] | None:
        with self._lock:
            while True:
                pending = self._pending
                if pending.items or pending.acks:
                    due = pending.first_at + self._max_delay
                    if len(pending.items) >= self._max_items or time.monotonic() >= due:
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
                    self._lock.wait(max(0.0, due - time.monotonic()))
                elif self._closing:
                    return None
                else:
                    self._lock.wait(0.5)

    def _run(self) -> None:
        while (batch := self._take_batch()) is not None:
            if not self._deliver(batch.items):
                batch.acks = []  # unwritten: let the transport redeliver
            for acknowledge in batch.acks:
                try:
                    acknowledge()
                except (
                    Exception
                ):  # a transport that went away cannot take its ack; redelivery covers it
                    log.warning("%s: acknowledgement failed", self.name, exc_info=True)
            with self._lock:
                self._in_flight = 0
                self._lock.notify_all()

    def _deliver(self, items: list[T]) -> bool:
        if not items:
            return True
        delay = self._retry_min_delay
        while True:
            try:
                self._write(items)
                if self.last_error is not None:
                    log.info("%s: sink is back, %d items written", self.name, len(items))
                    self.last_error = None
                return True
            except Exception as exc:
                self.failures += 1
                if self.last_error is None:
                    log.warning(
                        "%s: sink unavailable, holding %d items: %s", self.name, len(items), exc
                    )
                self.last_error = str(exc)
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
