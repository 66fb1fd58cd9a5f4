"""Where backfill resumes: the newest uplink time handed off, per TTN application, on disk.

One small JSON file in the data directory, replaced atomically (write a temporary
file, fsync, rename, fsync the folder), so a crash leaves either the old cursors or
the new ones, never half a file. Cursors only move forward. A file that cannot be
read is reported and treated as empty: backfill then reaches back its maximum age,
and idempotent writes make the overlap harmless.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from gateway_bridge.envelopes.timestamps import parse_rfc3339_ns

log = logging.getLogger(__name__)

FILE_NAME = "backfill-cursors.json"
FORMAT_VERSION = 1


def format_rfc3339_ns(time_ns: int) -> str:
    """`2026-01-15T03:00:00.123456789Z`: RFC 3339 in UTC with all nine fraction digits."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


class CursorStore:
    """The newest handed-off uplink time (ns) per application, persisted to `path`.

    `advance` moves a cursor forward in memory; the file is rewritten at most every
    `save_every_s` seconds by `advance` itself (live traffic moves cursors hundreds of
    times a second) and at once by `save()`. Thread-safe.
    """

    def __init__(
        self,
        path: Path,
        *,
        save_every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._save_every_s = save_every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cursors: dict[str, int] = _load(path)
        self._dirty = False
        self._saved_at = clock()

    def get(self, application_id: str) -> int | None:
        """The newest uplink time handed off for `application_id`, or None if never seen."""
        with self._lock:
            return self._cursors.get(application_id)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._cursors)

    def advance(self, application_id: str, time_ns: int, *, save: bool = False) -> None:
        """Move the cursor of `application_id` to `time_ns` if that is later; persist when due."""
        with self._lock:
            if time_ns <= self._cursors.get(application_id, -1):
                return
            self._cursors[application_id] = time_ns
            self._dirty = True
            due = save or self._clock() - self._saved_at >= self._save_every_s
        if due:
            self.save()

    def save(self) -> None:
        """Write the cursors now, if anything changed since the last write."""
        with self._lock:
            if not self._dirty:
                return
            cursors = dict(self._cursors)
            self._dirty = False
            self._saved_at = self._clock()
            try:
                _write_atomically(self.path, _document(cursors))
            except OSError as exc:
                self._dirty = True
                log.warning("could not save backfill cursors to %s: %s", self.path, exc)


def _document(cursors: Mapping[str, int]) -> bytes:
    applications = {
        app: {"received_at": format_rfc3339_ns(time_ns)} for app, time_ns in sorted(cursors.items())
    }
    text = json.dumps({"version": FORMAT_VERSION, "applications": applications}, indent=2)
    return (text + "\n").encode("utf-8")


def _load(path: Path) -> dict[str, int]:
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("backfill cursors in %s cannot be read (%s): starting without them", path, exc)
        return {}
    try:
        applications = document["applications"]
        return {
            str(app): parse_rfc3339_ns(entry["received_at"]) for app, entry in applications.items()
        }
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        log.warning(
            "backfill cursors in %s are not in the expected form (%s): starting without them",
            path,
            exc,
        )
        return {}


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
