"""Live events from the engine's thread to any number of asyncio listeners (the SSE clients).

Publishing never waits for a listener: each has a bounded queue, and a slow one
loses its oldest events and is told how many (a `Gap`), so it can reload what it
shows. Recent events are kept so a client that reconnects with `Last-Event-ID`
misses nothing that is still kept.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType

from alerts.notify.payload import encode

SLOW_CLIENT = "this client read too slowly; the oldest events were dropped"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One published event: `id` is `<epoch>-<seq>`, unique across restarts of wherry."""

    id: str
    seq: int
    name: str
    data: Mapping[str, object]
    json: str


@dataclass(frozen=True, slots=True)
class Gap:
    """Events a listener will never see: `missed` of them, or an unknown number (None)."""

    missed: int | None
    reason: str


class Listener:
    """One subscriber's bounded queue; filled from any thread, read on its event loop."""

    def __init__(self, broadcaster: Broadcaster, loop: asyncio.AbstractEventLoop, size: int):
        self._broadcaster = broadcaster
        self._loop = loop
        self._size = size
        self._lock = threading.Lock()
        self._queue: deque[StreamEvent | Gap] = deque()
        self._dropped = 0
        self._dropped_unknown = False
        self._closed = False
        self._wake_pending = False
        self._wakeup = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed

    async def next(self, timeout: float | None = None) -> StreamEvent | Gap | None:
        """The next event, a `Gap` if events were dropped, or None after `timeout` or when
        the broadcaster closed (then `closed` is True) once everything queued was read."""
        while True:
            with self._lock:
                if self._dropped or self._dropped_unknown:
                    unknown, self._dropped_unknown = self._dropped_unknown, False
                    missed, self._dropped = self._dropped, 0
                    return Gap(None if unknown else missed, SLOW_CLIENT)
                if self._queue:
                    return self._queue.popleft()
                if self._closed:
                    return None
                self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                return None

    def close(self) -> None:
        """Stop listening (the client went away)."""
        self._broadcaster._forget(self)
        self._end()

    def __enter__(self) -> Listener:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _offer(self, item: StreamEvent | Gap) -> bool:
        """Queue `item` (from any thread); False when this listener's loop is gone."""
        with self._lock:
            if self._closed:
                return True
            if len(self._queue) >= self._size:
                dropped = self._queue.popleft()
                if isinstance(dropped, Gap):
                    self._dropped_unknown = self._dropped_unknown or dropped.missed is None
                    self._dropped += dropped.missed or 0
                else:
                    self._dropped += 1
            self._queue.append(item)
            return self._schedule_wake_locked()

    def _end(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._schedule_wake_locked()

    def _schedule_wake_locked(self) -> bool:
        if self._wake_pending:
            return True
        try:
            self._loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop was closed under us: nobody will read this listener
            self._closed = True
            return False
        self._wake_pending = True
        return True

    def _wake(self) -> None:
        with self._lock:
            self._wake_pending = False
        self._wakeup.set()


class Broadcaster:
    """Fans `(event_name, data)` out to listeners; `publish` is thread-safe and never blocks.

    `heartbeat_s` and `retry_ms` are the live stream's keep-alive interval and the
    reconnect delay it suggests to clients.
    """

    def __init__(
        self,
        *,
        queue_size: int = 256,
        history: int = 256,
        heartbeat_s: float = 15.0,
        retry_ms: int = 5000,
    ) -> None:
        if queue_size < 1 or history < 0:
            raise ValueError("queue_size must be at least 1 and history not negative")
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self.retry_ms = retry_ms
        self._epoch = format(time.time_ns() // 1_000_000, "x")
        self._seq = 0
        self._history: deque[StreamEvent] = deque(maxlen=history)
        self._listeners: set[Listener] = set()
        self._lock = threading.Lock()
        self._closed = False

    def publish(self, name: str, data: Mapping[str, object]) -> StreamEvent:
        """Send an event to every listener (from any thread); returns it with its id."""
        body = encode(data).decode()
        with self._lock:
            self._seq += 1
            event = StreamEvent(f"{self._epoch}-{self._seq}", self._seq, name, dict(data), body)
            self._history.append(event)
            gone = [listener for listener in self._listeners if not listener._offer(event)]
            self._listeners.difference_update(gone)
        return event

    def listen(self, last_event_id: str | None = None) -> Listener:
        """A new listener on the running event loop; with `last_event_id` (a reconnecting
        client's), first the kept events after it, or a `Gap` if some are no longer kept."""
        listener = Listener(self, asyncio.get_running_loop(), self.queue_size)
        with self._lock:
            if last_event_id is not None:
                for item in self._replay_after(last_event_id):
                    listener._offer(item)
            if self._closed:
                listener._end()
            else:
                self._listeners.add(listener)
        return listener

    def close(self) -> None:
        """End every stream: listeners read what is queued, then stop.

        Call it before stopping the API server, which otherwise waits for the streams.
        """
        with self._lock:
            self._closed = True
            listeners, self._listeners = self._listeners, set()
        for listener in listeners:
            listener._end()

    @property
    def listeners(self) -> int:
        with self._lock:
            return len(self._listeners)

    def _forget(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def _replay_after(self, last_event_id: str) -> list[StreamEvent | Gap]:
        epoch, _, seq_text = last_event_id.strip().partition("-")
        if epoch != self._epoch or not seq_text.isdigit():
            reason = "the stream restarted since that event; reload the current state"
            return [Gap(None, reason)] if last_event_id.strip() else []
        seq = int(seq_text)
        kept = [event for event in self._history if event.seq > seq]
        oldest = kept[0].seq if kept else self._seq + 1
        items: list[StreamEvent | Gap] = []
        if oldest > seq + 1:
            items.append(Gap(oldest - seq - 1, "events since then are no longer kept"))
        return items + kept
