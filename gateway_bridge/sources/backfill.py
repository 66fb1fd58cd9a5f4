"""Backfill: fetch what The Things Stack stored while wherry was not listening, and feed it in.

The Things Network's MQTT is QoS 0: what is published while the bridge is restarting
or reconnecting is gone from MQTT. Its Storage Integration keeps it (24 hours on the
Sandbox, 30 days on Cloud). So on start and after every reconnect, for each
application, wherry reads the uplinks received since its cursor and hands them to
the same pipeline as live traffic. Writes are keyed on the network's `received_at`,
so the overlap with what MQTT did deliver is rewritten, not duplicated.

Cursors (the newest uplink time handed off, per application) advance only after
the pipeline acknowledged a whole page, or live uplinks of that application were
acknowledged, and are saved in the data directory. A backfill reaches back from
the cursor minus `overlap_s` (clock differences between The Things Stack and this
machine, live messages still in flight) but never further than `max_age_s`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway_bridge.counters import Counters
from gateway_bridge.sources.cursors import CursorStore, format_rfc3339_ns
from gateway_bridge.sources.handoff import HandOff
from gateway_bridge.sources.ttn_storage import (
    BackfillError,
    StorageRefused,
    StorageUnavailable,
    TtnStorageClient,
)
from gateway_bridge.uplink import Acknowledge, RawMessage

log = logging.getLogger(__name__)

MessageHandler = Callable[[RawMessage], None]

DEFAULT_PAGE_SIZE = 1000
DEFAULT_OVERLAP_S = 300.0
MICROSECOND_NS = 1_000
# The Storage Integration keeps times to the microsecond; paging from a microsecond
# before the newest uplink seen cannot skip one that shares its microsecond.


def backfill_topic(application_id: str) -> str:
    """The pseudo-topic of backfilled messages: dead letters say where they came from."""
    return f"ttn-storage:{application_id}"


@dataclass(frozen=True)
class BackfillResult:
    """What one backfill of one application did."""

    application_id: str
    uplinks: int
    pages: int
    after_ns: int
    newest_ns: int | None


class Backfill:
    """Reads each application's missed uplinks page by page into `handle`.

    `handle` is the pipeline's entry point; every message it is given carries an
    acknowledgement, and a page counts as done only when all of them ran.
    """

    def __init__(
        self,
        client: TtnStorageClient,
        cursors: CursorStore,
        handle: MessageHandler,
        *,
        max_age_s: float,
        page_size: int = DEFAULT_PAGE_SIZE,
        overlap_s: float = DEFAULT_OVERLAP_S,
        counters: Counters | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if page_size < 2:
            raise ValueError(f"page_size must be at least 2, not {page_size}")
        self.client = client
        self.cursors = cursors
        self._handle = handle
        self._max_age_ns = int(max_age_s * 1e9)
        self._overlap_ns = int(overlap_s * 1e9)
        self._page_size = page_size
        self._counters = counters or Counters()
        self._clock = clock

    def start_after(self, application_id: str) -> int:
        """Where the next backfill of `application_id` begins (exclusive), in ns."""
        oldest = self._clock() - self._max_age_ns
        cursor = self.cursors.get(application_id)
        if cursor is None:
            return oldest
        return max(cursor - self._overlap_ns, oldest)

    def run(self, application_id: str, stop: threading.Event | None = None) -> BackfillResult:
        """Fetch and hand off everything after the cursor; raises `BackfillError`.

        After a `StorageUnavailable` part-way, what was handed off before it has moved
        the cursor, so the retry resumes there.
        """
        stop = stop or threading.Event()
        after_ns = first_after = self.start_after(application_id)
        uplinks = pages = 0
        newest: int | None = None
        log.info(
            "backfill of %s: fetching uplinks after %s",
            application_id,
            format_rfc3339_ns(first_after),
        )
        while not stop.is_set():
            page = self._page(application_id, after_ns, stop)
            pages += 1
            uplinks += page.count
            if page.newest_ns is not None:
                newest = max(newest or page.newest_ns, page.newest_ns)
            if page.count < self._page_size:
                break
            if page.newest_ns is None or page.newest_ns <= after_ns + MICROSECOND_NS:
                log.warning(
                    "backfill of %s: a full page brought nothing newer than %s; stopping here",
                    application_id,
                    format_rfc3339_ns(after_ns),
                )
                break
            after_ns = page.newest_ns - MICROSECOND_NS
        self.cursors.save()
        result = BackfillResult(application_id, uplinks, pages, first_after, newest)
        log.info(
            "backfill of %s: %d uplinks in %d page(s)%s",
            application_id,
            uplinks,
            pages,
            f", newest {format_rfc3339_ns(newest)}" if newest is not None else "",
        )
        return result

    def _page(self, application_id: str, after_ns: int, stop: threading.Event) -> _Page:
        handoff = HandOff()
        page = _Page()
        topic = backfill_topic(application_id)
        try:
            for stored in self.client.page(
                application_id, after_ns=after_ns, limit=self._page_size
            ):
                page.count += 1
                if stored.received_at_ns is not None:
                    page.newest_ns = max(page.newest_ns or 0, stored.received_at_ns)
                self._counters.add("backfill.uplinks")
                self._handle(
                    RawMessage(
                        topic=topic,
                        body=stored.body,
                        arrived_ns=time.time_ns(),
                        acknowledge=handoff.acknowledgement(),
                    )
                )
        finally:
            # Whatever arrived (all of it, or what came before a failure) must be taken
            # before the cursor may pass it.
            if handoff.wait(stop=stop) and page.newest_ns is not None:
                self.cursors.advance(application_id, page.newest_ns, save=True)
        return page


@dataclass
class _Page:
    count: int = 0
    newest_ns: int | None = None


class BackfillWorker:
    """Runs backfills on a thread of their own whenever `trigger()` is called.

    Triggers that arrive during a run coalesce into one more run. A run that fails
    because the server is unavailable is retried with capped exponential backoff;
    one the server refused (key, rights, unknown application) waits for the next
    trigger, since retrying would only repeat the refusal.
    """

    def __init__(
        self,
        backfill: Backfill,
        applications: Sequence[str],
        *,
        retry_min_s: float = 5.0,
        retry_max_s: float = 300.0,
        counters: Counters | None = None,
    ) -> None:
        if not applications:
            raise ValueError("backfill needs at least one application id")
        self.backfill = backfill
        self.applications = tuple(applications)
        self._retry_min_s = retry_min_s
        self._retry_max_s = retry_max_s
        self._counters = counters or Counters()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="backfill", daemon=True)
        self.runs = 0
        self.last_results: dict[str, BackfillResult | BackfillError] = {}
        self._idle = threading.Condition()
        self._busy = False

    def start(self) -> None:
        self._thread.start()

    def trigger(self) -> None:
        """Ask for a backfill of every application; returns at once (safe on any thread)."""
        with self._idle:
            self._busy = True
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.backfill.cursors.save()
        self.backfill.client.close()

    def wait_idle(self, timeout: float) -> bool:
        """True once no run is pending or under way (for tests and orderly shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._busy, timeout)

    def _loop(self) -> None:
        delay = 0.0  # before the next retry; 0 while none is due
        while not self._stop.is_set():
            woken = self._wake.wait(delay) if delay else self._wake.wait()
            if self._stop.is_set():
                break
            if woken:
                self._wake.clear()
                next_delay = self._retry_min_s  # a fresh trigger (a reconnect) starts over
            else:
                next_delay = min(delay * 2, self._retry_max_s)
            retry_pending = self._run_all()
            delay = next_delay if retry_pending else 0.0
            if retry_pending:
                log.info("backfill: retrying in %.0f s", delay)
            with self._idle:
                if not self._wake.is_set() and not retry_pending:
                    self._busy = False
                    self._idle.notify_all()
        with self._idle:
            self._busy = False
            self._idle.notify_all()

    def _run_all(self) -> bool:
        """One backfill of every application; True when one should be retried."""
        self.runs += 1
        retry = False
        for application_id in self.applications:
            if self._stop.is_set():
                return False
            try:
                self.last_results[application_id] = self.backfill.run(application_id, self._stop)
            except StorageUnavailable as exc:
                self._counters.add("backfill.failures")
                self.last_results[application_id] = exc
                log.warning("backfill of %s failed: %s", application_id, exc)
                retry = True
            except StorageRefused as exc:
                self._counters.add("backfill.failures")
                self.last_results[application_id] = exc
                log.error("backfill of %s refused: %s", application_id, exc)
            except Exception as exc:  # a bug must not kill the thread; the next trigger retries
                self._counters.add("backfill.failures")
                self.last_results[application_id] = BackfillError(str(exc))
                log.exception("backfill of %s failed unexpectedly", application_id)
        return retry


class LiveCursor:
    """Moves backfill cursors with live MQTT traffic, so a reconnect fetches only the gap.

    Wraps the pipeline's entry point: a message on a The Things Stack topic of an
    application being backfilled gets an acknowledgement that, once the pipeline has
    taken the message, advances that application's cursor to the message's arrival
    time on this machine (the overlap margin covers the difference to the network's
    clock).
    """

    def __init__(self, cursors: CursorStore, applications: Sequence[str]) -> None:
        self.cursors = cursors
        self.applications = frozenset(applications)

    def wrap(self, handle: MessageHandler) -> MessageHandler:
        def tracked(message: RawMessage) -> None:
            application_id = ttn_topic_application(message.topic)
            if application_id is None or application_id not in self.applications:
                handle(message)
                return
            handle(
                RawMessage(
                    topic=message.topic,
                    body=message.body,
                    arrived_ns=message.arrived_ns,
                    acknowledge=self._advancing(
                        message.acknowledge, application_id, message.arrived_ns
                    ),
                )
            )

        return tracked

    def _advancing(
        self, acknowledge: Acknowledge | None, application_id: str, arrived_ns: int
    ) -> Acknowledge:
        def advance() -> None:
            if acknowledge is not None:
                acknowledge()
            self.cursors.advance(application_id, arrived_ns)

        return advance


def ttn_topic_application(topic: str) -> str | None:
    """`v3/{application}@{tenant}/devices/{device}/up` → the application id, else None."""
    parts = topic.split("/", 4)
    if len(parts) == 5 and parts[0] == "v3" and parts[2] == "devices" and parts[4] == "up":
        return parts[1].split("@", 1)[0]
    return None
