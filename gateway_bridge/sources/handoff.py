"""Waiting for the pipeline to take messages durably: what a webhook or a backfill page needs.

MQTT can leave a message unacknowledged and let the broker redeliver it. An HTTP
caller (a webhook request, a page of Storage Integration results) has no broker
behind it, so it must wait, holding the answer or the cursor, until every message
it handed over has been acknowledged: written to the store (or spooled to disk),
kept as a sighting or dead letter, or deliberately ignored.
"""

from __future__ import annotations

import threading
import time

from gateway_bridge.uplink import Acknowledge

STOP_POLL_S = 0.5


class HandOff:
    """A countdown of acknowledgements: one per message handed to the pipeline.

    `acknowledgement()` makes the callback for one more message (it counts once,
    however often it is called); `wait()` returns True once every callback made
    so far has run.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._expected = 0
        self._done = 0

    def acknowledgement(self) -> Acknowledge:
        with self._condition:
            self._expected += 1
        ran = threading.Event()

        def acknowledge() -> None:
            if ran.is_set():
                return
            with self._condition:
                if ran.is_set():
                    return
                ran.set()
                self._done += 1
                self._condition.notify_all()

        return acknowledge

    @property
    def pending(self) -> int:
        """Messages handed over and not yet acknowledged."""
        with self._condition:
            return self._expected - self._done

    def wait(self, timeout: float | None = None, stop: threading.Event | None = None) -> bool:
        """True once everything is acknowledged; False after `timeout` s or when `stop` is set."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while self._done < self._expected:
                if stop is not None and stop.is_set():
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                # Wake now and then to notice `stop`, which does not notify this condition.
                self._condition.wait(
                    STOP_POLL_S if remaining is None else min(remaining, STOP_POLL_S)
                )
            return True
