"""Wiring of the bridge: transport → pipeline → batchers → store and registry."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway_bridge.batcher import Batcher, Rejected
from gateway_bridge.counters import Counters
from gateway_bridge.directory import DeviceDirectory
from gateway_bridge.intake import Intake
from gateway_bridge.pipeline import Pipeline, Sinks
from gateway_bridge.spool import POINTS, Spool, SpoolAlarm
from storage import ReadingStore, StoreRejected
from storage.points import Point
from storage.registry import DeadLetter, Registry, Sighting
from wherry.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Bridge:
    """A running pipeline with its three batcher threads; `close()` drains them in order.

    Transports hand messages to `intake.handle`; the points that cannot reach the store
    wait in `spool` (under data_dir/spool).
    """

    pipeline: Pipeline
    counters: Counters
    store: ReadingStore
    registry: Registry
    spool: Spool[Point] | None = None
    intake: Intake = field(init=False)

    def __post_init__(self) -> None:
        self.intake = Intake(self.pipeline.handle)

    @property
    def sinks(self) -> Sinks:
        return self.pipeline.sinks

    def flush(self, timeout: float = 30.0) -> bool:
        return all(
            batcher.flush(timeout)
            for batcher in (self.sinks.points, self.sinks.dead_letters, self.sinks.sightings)
        )

    def close(self, timeout: float = 30.0) -> bool:
        """Write everything in flight; points first, since rejected points become dead letters."""
        done = self.sinks.points.close(timeout)
        done = self.sinks.dead_letters.close(timeout) and done
        done = self.sinks.sightings.close(timeout) and done
        if self.spool is not None:
            self.spool.close()
        return done

    def gauges(self) -> dict[str, float]:
        """Live figures for /metrics and /readyz: what waits in memory and in the spool."""
        figures = {
            "points_waiting": float(self.sinks.points.depth),
            "dead_letters_waiting": float(self.sinks.dead_letters.depth),
            "sightings_waiting": float(self.sinks.sightings.depth),
        }
        if self.spool is not None:
            figures.update(self.spool.status().gauges())
        return figures


MIB = 1024 * 1024


def build_bridge(
    settings: Settings,
    store: ReadingStore,
    registry: Registry,
    *,
    on_spool_alarm: SpoolAlarm | None = None,
) -> Bridge:
    """Start the batchers; `on_spool_alarm` hears the spool's level (ok, warning, full).

    The spool may already hold points from an earlier run: its level is reported
    during this call, on this thread. `bridge.spool.watch(...)` adds listeners later.
    """
    counters = Counters()
    spool = Spool(
        settings.data_dir / "spool",
        POINTS,
        quota_bytes=max(1, int(settings.spool_quota_mb * MIB)),
        on_alarm=on_spool_alarm,
    )

    dead_letters: Batcher[DeadLetter] = Batcher(
        "dead-letters",
        registry.record_dead_letters,
        on_rejected=_log_lost,
        max_items=500,
        max_delay=0.5,
    )

    def write_points(points: Sequence[Point]) -> None:
        try:
            store.write(points)
        except StoreRejected as exc:
            raise Rejected(str(exc)) from exc
        counters.add("points_written", len(points))

    def dead_letter_point(point: Point, exc: Exception) -> None:
        counters.add("dead_letters.store_rejected")
        log.error("store rejected a point of %s: %s", point.tags.get("device_id", "?"), exc)
        body = repr(point).encode("utf-8", "backslashreplace")
        dead_letters.submit(
            [
                DeadLetter(
                    time.time_ns(), f"store:{point.measurement}", "store_rejected", str(exc), body
                )
            ]
        )

    points: Batcher[Point] = Batcher(
        "store",
        write_points,
        on_rejected=dead_letter_point,
        max_items=settings.batch_size,
        max_delay=settings.flush_interval,
        capacity=settings.buffer_points,
        spool=spool,
    )
    sightings: Batcher[Sighting] = Batcher(
        "sightings", registry.record_sightings, on_rejected=_log_lost, max_items=500, max_delay=0.5
    )
    for batcher in (points, dead_letters, sightings):
        batcher.start()
    directory = DeviceDirectory(registry.devices)
    registry.on_devices_changed(directory.expire)
    pipeline = Pipeline(
        directory,
        Sinks(points=points, dead_letters=dead_letters, sightings=sightings),
        counters,
        max_message_bytes=settings.max_message_bytes,
        accept_simulated=settings.accept_simulated,
    )
    return Bridge(pipeline, counters, store, registry, spool)


def _log_lost(item: object, exc: Exception) -> None:
    log.error("the registry refused %r: %s", item, exc)
