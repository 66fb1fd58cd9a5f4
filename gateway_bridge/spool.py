"""A durable queue of batches on disk: where points wait while the readings store is away.

An uplink is acknowledged once its points are in the store *or* in the spool, so the
spool must survive `kill -9` and power loss and must never hand back garbage:

- Segment files `spool/<n>.spool` are only ever appended to. Each batch is one
  record, written and `fsync`ed before `append` returns (one fsync per batch).
- A record is a 28-byte header (magic, payload length, item count, time spooled,
  payload CRC32, header CRC32) and a zlib-compressed payload. A torn tail (the
  process died while writing) fails its header check or ends past the end of the
  file: it is cut off at start-up with a log line. It was never acknowledged, so the
  broker still holds its messages. A payload whose CRC does not match is skipped
  with an error, never decoded.
- `spool/checkpoint` says where the first record not yet in the store begins;
  segments wholly before it are deleted. A crash between a store write and the
  checkpoint replays that batch, which is harmless: a point with the same
  measurement, tags and time overwrites itself.
- `spool/lock` is held (flock) by the one process that owns the spool.

The directory is created on the first `append`, so a bridge whose store never fails
leaves nothing on disk.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Generic, Literal, NoReturn, TypeVar

from storage.points import Point

T = TypeVar("T")
log = logging.getLogger(__name__)

SpoolLevel = Literal["ok", "warning", "full"]
SpoolAlarm = Callable[[SpoolLevel, str], None]
"""Called on every change of level, on the thread that changed it: keep it quick."""

LEVEL_GAUGE: dict[SpoolLevel, int] = {"ok": 0, "warning": 1, "full": 2}
"""The `spool_level` gauge's values."""
WARNING_FRACTION = 0.8
MAGIC = b"WSP1"
_HEADER = struct.Struct(">4sIIqI")  # magic, payload length, items, spooled at (ns), payload crc
_HEADER_SIZE = _HEADER.size + 4  # + CRC32 of the header itself
_SUFFIX = ".spool"
_CHECKPOINT = struct.Struct(">QQI")  # segment, offset, crc
MIB = 1024 * 1024
MIN_SEGMENT_BYTES = 4096
MAX_SEGMENT_BYTES = 64 * 1024 * 1024
COMPRESSION_LEVEL = 1  # JSON of points shrinks ~10x at level 1, in a few ms per batch


class SpoolFull(Exception):
    """The batch was not spooled: the quota is reached or the disk refused the write."""


class SpoolLocked(Exception):
    """Another process owns this spool directory."""


@dataclass(frozen=True)
class SpoolCodec(Generic[T]):
    """How items become bytes in a record and back."""

    encode: Callable[[Sequence[T]], bytes]
    decode: Callable[[bytes], list[T]]


@dataclass(frozen=True, slots=True)
class _Record:
    segment: int
    offset: int
    size: int  # header + payload
    items: int
    spooled_at_ns: int


@dataclass(frozen=True, slots=True)
class SpooledBatch(Generic[T]):
    """The oldest batch, read back; pass it to `Spool.remove` once the store has it."""

    items: list[T]
    spooled_at_ns: int
    record: _Record


@dataclass(frozen=True)
class SpoolStatus:
    """What the spool holds, for /metrics, /readyz and logs."""

    items: int
    batches: int
    bytes: int
    quota_bytes: int
    oldest_age_seconds: float
    level: SpoolLevel

    @property
    def fraction(self) -> float:
        return self.bytes / self.quota_bytes

    def gauges(self) -> dict[str, float]:
        """The figures /metrics shows as `wherry_spool_*` and /readyz reads back."""
        return {
            "spool_points": float(self.items),
            "spool_batches": float(self.batches),
            "spool_bytes": float(self.bytes),
            "spool_quota_bytes": float(self.quota_bytes),
            "spool_quota_fraction": self.fraction,
            "spool_oldest_age_seconds": self.oldest_age_seconds,
            "spool_level": float(LEVEL_GAUGE[self.level]),
        }


class Spool(Generic[T]):
    """Batches of items on disk, oldest first, within `quota_bytes` of disk space.

    One thread appends and removes (the points batcher); any thread may read `status()`.
    `on_alarm` (and listeners added with `watch`) hear every change of level:
    `warning` at 80 % of the quota, `full` when a batch did not fit (it stays `full`
    until the spool is back under 80 %), `ok` below 80 %.
    """

    def __init__(
        self,
        directory: Path,
        codec: SpoolCodec[T],
        *,
        quota_bytes: int,
        segment_bytes: int | None = None,
        on_alarm: SpoolAlarm | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if quota_bytes < 1:
            raise ValueError(f"quota_bytes must be positive, not {quota_bytes}")
        self.directory = directory
        self.quota_bytes = quota_bytes
        self._codec = codec
        self._segment_bytes = segment_bytes or min(
            MAX_SEGMENT_BYTES, max(MIN_SEGMENT_BYTES, quota_bytes // 16)
        )
        self._clock_ns = clock_ns
        self._lock = threading.RLock()
        self._listeners: list[SpoolAlarm] = [on_alarm] if on_alarm else []
        self._records: deque[_Record] = deque()
        self._items = 0
        self._sizes: dict[int, int] = {}  # segment number → bytes on disk
        self._next_segment = 1
        self._active: IO[bytes] | None = None
        self._active_segment = 0
        self._lock_file: IO[bytes] | None = None
        self._refused = False
        self._level: SpoolLevel = "ok"
        self.corrupt_batches = 0
        self._closed = False
        if directory.is_dir():
            try:
                self._open()
            except SpoolLocked as exc:
                log.error("%s: this process cannot spool until it is free", exc)
            except OSError as exc:
                log.error("spool in %s cannot be read: %s; spooling will retry", directory, exc)

    # -- public ---------------------------------------------------------------------

    def append(self, items: Sequence[T]) -> None:
        """Write one batch durably (fsynced) or raise `SpoolFull`; nothing half-written stays."""
        payload = zlib.compress(self._codec.encode(items), COMPRESSION_LEVEL)
        spooled_at = self._clock_ns()
        header = _HEADER.pack(MAGIC, len(payload), len(items), spooled_at, zlib.crc32(payload))
        record_bytes = header + struct.pack(">I", zlib.crc32(header)) + payload
        with self._lock:
            if self._closed:
                raise SpoolFull(f"the spool in {self.directory} is closed")
            try:
                self._open()
            except (OSError, SpoolLocked) as exc:
                self._refuse(f"cannot use the spool in {self.directory}: {exc}")
            if self._bytes + len(record_bytes) > self.quota_bytes:
                self._refuse(
                    f"a batch of {len(items)} items ({len(record_bytes)} bytes) does not fit in "
                    f"the spool's quota: {self._describe_use()}"
                )
            try:
                segment, file = self._segment_for(len(record_bytes))
                offset = self._sizes[segment]
                self._write_durably(file, segment, offset, record_bytes)
            except OSError as exc:
                self._refuse(f"cannot write the spool in {self.directory}: {exc}")
            self._sizes[segment] = offset + len(record_bytes)
            self._records.append(
                _Record(segment, offset, len(record_bytes), len(items), spooled_at)
            )
            self._items += len(items)
            self._update_level()

    def oldest(self) -> SpooledBatch[T] | None:
        """The oldest batch, or None when empty; a damaged record is skipped with an error."""
        with self._lock:
            while self._records and not self._closed:
                record = self._records[0]
                items = self._read(record)
                if items is not None:
                    return SpooledBatch(items, record.spooled_at_ns, record)
                self.corrupt_batches += 1
                self._drop_head()
            return None

    def remove(self, batch: SpooledBatch[T]) -> None:
        """Forget the oldest batch: the store has it. Fully drained segments are deleted."""
        with self._lock:
            if not self._records or self._records[0] != batch.record:
                raise ValueError("only the oldest batch can be removed")
            self._drop_head()

    def status(self) -> SpoolStatus:
        with self._lock:
            oldest = self._records[0].spooled_at_ns if self._records else None
            return SpoolStatus(
                items=self._items,
                batches=len(self._records),
                bytes=self._bytes,
                quota_bytes=self.quota_bytes,
                oldest_age_seconds=(
                    max(0.0, (self._clock_ns() - oldest) / 1e9) if oldest is not None else 0.0
                ),
                level=self._level,
            )

    @property
    def empty(self) -> bool:
        with self._lock:
            return not self._records

    def watch(self, listener: SpoolAlarm) -> None:
        """Add a listener; it hears the current level at once unless that is `ok`."""
        with self._lock:
            self._listeners.append(listener)
            level = self._level
            detail = self._describe_use()
        if level != "ok":
            self._call(listener, level, detail)

    def close(self) -> None:
        """Close files and let another process own the spool; what it holds stays on disk."""
        with self._lock:
            self._closed = True
            if self._active is not None:
                self._active.close()
                self._active = None
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    # -- writing --------------------------------------------------------------------

    @property
    def _bytes(self) -> int:
        return sum(self._sizes.values())

    def _segment_path(self, segment: int) -> Path:
        return self.directory / f"{segment:020d}{_SUFFIX}"

    def _segment_for(self, size: int) -> tuple[int, IO[bytes]]:
        """The open segment to append `size` bytes to: a new one when the current is full."""
        if self._active is not None:
            used = self._sizes.get(self._active_segment, 0)
            if used == 0 or used + size <= self._segment_bytes:
                return self._active_segment, self._active
            self._active.close()
            self._active = None
        segment = self._next_segment
        file = self._segment_path(segment).open("ab")
        _fsync_directory(self.directory)
        self._next_segment += 1
        self._active, self._active_segment = file, segment
        self._sizes[segment] = 0
        return segment, file

    def _write_durably(self, file: IO[bytes], segment: int, offset: int, data: bytes) -> None:
        try:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        except OSError:
            # Leave no partial record behind; if even that fails, start a new segment
            # (recovery cuts a torn tail off the old one).
            try:
                file.truncate(offset)
                file.flush()
            except OSError:
                file.close()
                self._active = None
            raise

    def _refuse(self, reason: str) -> NoReturn:
        self._refused = True
        self._update_level(reason, clear=False)
        raise SpoolFull(reason)

    def _open(self) -> None:
        """Own the directory (creating it) and read what an earlier run left; once."""
        if self._lock_file is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        lock_file = (self.directory / "lock").open("ab")
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise SpoolLocked(
                f"another wherry process uses the spool in {self.directory}; give each "
                "bridge worker its own WHERRY_DATA_DIR"
            ) from None
        try:
            self._recover()
        except OSError:
            # Touch nothing we could not read; the next append tries again.
            self._records.clear()
            self._sizes.clear()
            self._items = 0
            lock_file.close()
            raise
        self._lock_file = lock_file
        self._update_level()

    # -- draining -------------------------------------------------------------------

    def _read(self, record: _Record) -> list[T] | None:
        path = self._segment_path(record.segment)
        try:
            with path.open("rb") as file:
                file.seek(record.offset)
                data = file.read(record.size)
        except OSError as exc:
            log.error("spool: cannot read %s: %s; its batch is skipped", path, exc)
            return None
        header, payload = data[:_HEADER_SIZE], data[_HEADER_SIZE:]
        crc = _HEADER.unpack(header[: _HEADER.size])[4] if len(header) == _HEADER_SIZE else None
        if crc is None or zlib.crc32(payload) != crc or len(payload) != record.size - _HEADER_SIZE:
            log.error(
                "spool: the batch of %d items at %s offset %d is damaged (CRC mismatch); "
                "it is skipped, not replayed",
                record.items,
                path.name,
                record.offset,
            )
            return None
        try:
            return self._codec.decode(zlib.decompress(payload))
        except (ValueError, TypeError, zlib.error) as exc:
            log.error(
                "spool: the batch at %s offset %d cannot be decoded: %s",
                path.name,
                record.offset,
                exc,
            )
            return None

    def _drop_head(self) -> None:
        record = self._records.popleft()
        self._items -= record.items
        if self._records:
            head = self._records[0]
            self._save_checkpoint(head.segment, head.offset)
            drained = [s for s in self._sizes if s < head.segment]
        else:
            self._save_checkpoint(record.segment, record.offset + record.size)
            drained = list(self._sizes)
            if self._active is not None:
                self._active.close()
                self._active = None
        for segment in sorted(drained):
            self._delete_segment(segment)
        self._update_level()

    def _delete_segment(self, segment: int) -> None:
        try:
            self._segment_path(segment).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("spool: cannot delete drained segment %d: %s", segment, exc)
            return
        del self._sizes[segment]

    def _save_checkpoint(self, segment: int, offset: int) -> None:
        # Written then renamed: after a crash there is the old checkpoint or the new one. An
        # old one only replays batches the store already has, which overwrite themselves.
        body = struct.pack(">QQ", segment, offset)
        data = body + struct.pack(">I", zlib.crc32(body))
        path = self.directory / "checkpoint"
        temporary = path.with_suffix(".tmp")
        try:
            with temporary.open("wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(path)
        except OSError as exc:
            log.warning("spool: cannot save the checkpoint (%s); a restart may replay", exc)

    def _load_checkpoint(self) -> tuple[int, int]:
        path = self.directory / "checkpoint"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return 0, 0
        except OSError as exc:
            log.warning("spool: cannot read %s (%s): replaying from the start", path, exc)
            return 0, 0
        if len(data) == _CHECKPOINT.size:
            segment, offset, crc = _CHECKPOINT.unpack(data)
            if zlib.crc32(data[:16]) == crc:
                return segment, offset
        log.warning("spool: %s is damaged: replaying from the start", path)
        return 0, 0

    # -- recovery -------------------------------------------------------------------

    def _recover(self) -> None:
        started = time.monotonic()
        checkpoint_segment, checkpoint_offset = self._load_checkpoint()
        segments = sorted(
            int(path.name.removesuffix(_SUFFIX))
            for path in self.directory.glob(f"*{_SUFFIX}")
            if path.name.removesuffix(_SUFFIX).isdigit()
        )
        for segment in segments:
            if segment < checkpoint_segment:
                self._segment_path(segment).unlink(missing_ok=True)
                continue
            start = checkpoint_offset if segment == checkpoint_segment else 0
            self._scan(segment, start)
        self._next_segment = max([checkpoint_segment, *segments]) + 1
        if self._records:
            for segment in [s for s in self._sizes if s < self._records[0].segment]:
                self._delete_segment(segment)
        else:
            for segment in list(self._sizes):
                self._delete_segment(segment)
        if self._records:
            oldest = self._records[0].spooled_at_ns
            log.warning(
                "spool: %d items in %d batches waiting for the store (%s), the oldest spooled "
                "%.0f s ago; read in %.2f s",
                self._items,
                len(self._records),
                self._describe_use(),
                max(0.0, (self._clock_ns() - oldest) / 1e9),
                time.monotonic() - started,
            )

    def _scan(self, segment: int, start: int) -> None:
        """Index the records of one segment from `start`, reading headers only; cut off a
        torn tail."""
        path = self._segment_path(segment)
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            self._sizes[segment] = size
            offset = start
            while offset < size:
                file.seek(offset)
                record = _parse_header(file.read(_HEADER_SIZE), offset, segment, size)
                if record is not None:
                    self._records.append(record)
                    self._items += record.items
                    offset += record.size
                    continue
                file.seek(offset)
                resume = _next_header(file.read(), offset, segment, size)
                if resume is None:
                    log.warning(
                        "spool: %s ends in an incomplete record at offset %d (wherry stopped "
                        "while writing it, so it was never acknowledged): %d bytes cut off",
                        path.name,
                        offset,
                        size - offset,
                    )
                    break
                log.error(
                    "spool: %s has %d damaged bytes at offset %d; skipped to the next record",
                    path.name,
                    resume - offset,
                    offset,
                )
                self.corrupt_batches += 1
                offset = resume
        if offset < size:
            self._truncate(path, segment, offset)

    def _truncate(self, path: Path, segment: int, offset: int) -> None:
        try:
            with path.open("r+b") as file:
                file.truncate(offset)
                os.fsync(file.fileno())
            self._sizes[segment] = offset
        except OSError as exc:
            log.warning("spool: cannot cut %s at %d: %s", path.name, offset, exc)

    # -- alarms ---------------------------------------------------------------------

    def _describe_use(self) -> str:
        used = self._bytes
        return (
            f"{_size(used)} of {_size(self.quota_bytes)} "
            f"({100 * used / self.quota_bytes:.0f} %), {self._items} items"
        )

    def _update_level(self, reason: str | None = None, *, clear: bool = True) -> None:
        """Tell listeners about a new level; `full` lasts until the spool is under 80 %."""
        fraction = self._bytes / self.quota_bytes
        if clear and fraction < WARNING_FRACTION:
            self._refused = False
        level: SpoolLevel = (
            "full" if self._refused else "warning" if fraction >= WARNING_FRACTION else "ok"
        )
        if level == self._level:
            return
        self._level = level
        detail = reason or self._describe_use()
        if level == "full":
            log.error(
                "spool is full: %s. Batches wait in memory, unacknowledged: an own broker "
                "keeps their messages; a QoS 0 source (TTN) is slowed and may drop them",
                detail,
            )
        elif level == "warning":
            log.warning(
                "spool is %.0f %% full: %s; is the readings store down?", 100 * fraction, detail
            )
        else:
            log.info("spool is back under %.0f %%: %s", 100 * WARNING_FRACTION, detail)
        for listener in list(self._listeners):
            self._call(listener, level, detail)

    @staticmethod
    def _call(listener: SpoolAlarm, level: SpoolLevel, detail: str) -> None:
        try:
            listener(level, detail)
        except Exception:
            log.exception("spool alarm listener failed")


def _parse_header(header: bytes, offset: int, segment: int, file_size: int) -> _Record | None:
    """The record whose header starts `header` (read at `offset`) if the header is intact
    and its payload lies within the file."""
    if len(header) < _HEADER_SIZE:
        return None
    (header_crc,) = struct.unpack_from(">I", header, _HEADER.size)
    if zlib.crc32(header[: _HEADER.size]) != header_crc:
        return None
    magic, length, items, spooled_at, _ = _HEADER.unpack_from(header)
    if magic != MAGIC or offset + _HEADER_SIZE + length > file_size:
        return None
    return _Record(segment, offset, _HEADER_SIZE + length, items, spooled_at)


def _next_header(tail: bytes, base: int, segment: int, file_size: int) -> int | None:
    """The offset of the first intact record after the damage at `base` (where `tail` was
    read from), or None: the rest is a torn tail."""
    position = tail.find(MAGIC, 1)
    while position != -1:
        header = tail[position : position + _HEADER_SIZE]
        if _parse_header(header, base + position, segment, file_size) is not None:
            return base + position
        position = tail.find(MAGIC, position + 1)
    return None


def _size(count: int) -> str:
    if count >= MIB:
        return f"{count / MIB:.1f} MiB"
    if count >= 10 * 1024:
        return f"{count / 1024:.0f} KiB"
    return f"{count} bytes"


def _fsync_directory(directory: Path) -> None:
    """Make a new or renamed file's directory entry durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _encode_points(points: Sequence[Point]) -> bytes:
    rows = [[p.measurement, dict(p.tags), dict(p.fields), p.time_ns] for p in points]
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _decode_points(data: bytes) -> list[Point]:
    return [Point(m, t, f, n) for m, t, f, n in json.loads(data)]


POINTS = SpoolCodec[Point](_encode_points, _decode_points)
"""Points as compact JSON: floats keep their type (1.0 stays a float) and every digit."""
