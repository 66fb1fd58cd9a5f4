"""The door between the transports and the pipeline, closed first on a clean stop.

A clean stop must not take new work while it writes what is in flight, yet the
acknowledgements of that work still need the broker connection. So the door closes
before the batchers are flushed and the transport disconnects after: a message that
can be redelivered (it carries an acknowledgement) and arrives once the door is
closed is left unacknowledged, and the broker hands it to the next session. A
message that cannot be redelivered (QoS 0) is still taken: turning it away would lose it.

Before disconnecting, `settle()` waits until the broker has stopped sending. Closing a TCP
socket that still has unread input makes the kernel reset the connection, and the broker
then discards what it had not yet read from us: the last acknowledgements, so it would
redeliver messages already stored. Once the broker's in-flight window is full of
messages we turned away, it sends nothing more and the socket closes cleanly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from gateway_bridge.uplink import RawMessage

log = logging.getLogger(__name__)


class Intake:
    """Passes messages to `handle` until `close()`; then only those that cannot come back."""

    def __init__(self, handle: Callable[[RawMessage], None]) -> None:
        self._handle = handle
        self._closed = False
        self._busy = 0
        self._condition = threading.Condition()
        self._last_arrival = time.monotonic()
        self._last_taken = time.monotonic()
        self.turned_away = 0

    def handle(self, message: RawMessage) -> None:
        with self._condition:
            if self._closed and message.acknowledge is not None:
                self.turned_away += 1
                self._last_arrival = time.monotonic()
                return
            self._busy += 1
            self._last_taken = time.monotonic()
        try:
            self._handle(message)
        finally:
            with self._condition:
                self._busy -= 1
                self._condition.notify_all()

    def drain(self, quiet: float = 0.5, timeout: float = 10.0) -> bool:
        """Before `close()`: wait until no message has arrived for `quiet` seconds.

        For a worker that has left its shared subscription: the broker still sends what it
        had queued for this session, and taking it now (rather than turning it away) means
        none of it waits for this worker to come back. False if messages still arrived
        after `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._condition:
                busy = self._busy > 0  # a blocked handler holds the broker back: not quiet
                silent_for = 0.0 if busy else time.monotonic() - self._last_taken
            if silent_for >= quiet:
                return True
            if time.monotonic() + quiet - silent_for > deadline:
                return False
            time.sleep(min(quiet, 0.1) if busy else quiet - silent_for)

    def close(self, timeout: float = 10.0) -> bool:
        """Stop taking redeliverable messages; wait for those being handled. False on timeout."""
        deadline = time.monotonic() + timeout
        with self._condition:
            self._closed = True
            self._last_arrival = time.monotonic()
            while self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.warning("%d messages still being handled after %.0f s", self._busy, timeout)
                    return False
                self._condition.wait(remaining)
        return True

    def settle(self, quiet: float = 0.5, timeout: float = 5.0) -> bool:
        """After `close()`: wait until no redeliverable message has arrived for `quiet` seconds.

        False if messages still arrived after `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._condition:
                silent_for = time.monotonic() - self._last_arrival
            if silent_for >= quiet:
                return True
            if time.monotonic() + quiet - silent_for > deadline:
                return False
            time.sleep(quiet - silent_for)
