"""Where an uplink goes after a transport hands it over: parse, look up, decode, write.

The pipeline never knows which transport a message came from. Everything it is
given ends in exactly one of: stored points, a sighting of an unregistered
device, a dead letter with its reason, or an ignored non-uplink event. Each of
those is counted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from alerts.model import Observation
from decoders import DecodeError, Reading, UnknownDecoder, decode
from gateway_bridge.batcher import Batcher
from gateway_bridge.counters import Counters
from gateway_bridge.directory import DeviceDirectory
from gateway_bridge.envelopes import EnvelopeError, parse_message
from gateway_bridge.points import reading_points, uplink_point
from gateway_bridge.uplink import Acknowledge, RawMessage, Uplink
from storage.points import Point
from storage.registry import DeadLetter, DeviceRecord, Sighting

log = logging.getLogger(__name__)


class AcknowledgeWhenAll:
    """Runs one acknowledgement after `count` parts of a message have each been taken."""

    def __init__(self, acknowledge: Acknowledge, count: int) -> None:
        self._acknowledge = acknowledge
        self._remaining = count
        self._lock = threading.Lock()

    def part_done(self) -> None:
        with self._lock:
            self._remaining -= 1
            done = self._remaining == 0
        if done:
            self._acknowledge()


def split_acknowledgement(acknowledge: Acknowledge | None, parts: int) -> list[Acknowledge | None]:
    if acknowledge is None:
        return [None] * parts
    latch = AcknowledgeWhenAll(acknowledge, parts)
    return [latch.part_done] * parts


@dataclass(frozen=True)
class Sinks:
    """Where the pipeline's results go; each is drained by its own batcher thread."""

    points: Batcher[Point]
    dead_letters: Batcher[DeadLetter]
    sightings: Batcher[Sighting]


class Pipeline:
    def __init__(
        self,
        directory: DeviceDirectory,
        sinks: Sinks,
        counters: Counters,
        *,
        max_message_bytes: int = 256 * 1024,
        accept_simulated: bool = False,
        observe: Callable[[Observation], None] | None = None,
    ) -> None:
        self.directory = directory
        self.sinks = sinks
        self.counters = counters
        self.max_message_bytes = max_message_bytes
        self.accept_simulated = accept_simulated
        self.observe = observe

    def handle(self, message: RawMessage) -> None:
        """Take one message to its end; never raises for anything the message contains."""
        self.counters.add("messages_received")
        try:
            uplink = parse_message(message.topic, message.body, max_bytes=self.max_message_bytes)
        except EnvelopeError as exc:
            self.dead_letter(message, exc.reason, str(exc), message.acknowledge)
            return
        if uplink is None:
            self.counters.add("events_ignored")
            self._acknowledge_now(message.acknowledge)
            return
        if uplink.simulated and not self.accept_simulated:
            self.counters.add("simulated_ignored")
            log.info(
                "ignored a simulated uplink from %s (WHERRY_ACCEPT_SIMULATED=false)",
                uplink.device_id,
            )
            self._acknowledge_now(message.acknowledge)
            return
        self.counters.add("uplinks_received")
        device = self.directory.find(uplink)
        if device is None:
            self._record_sighting(uplink, message.acknowledge)
            return
        self._store(message, uplink, device)

    def _store(self, message: RawMessage, uplink: Uplink, device: DeviceRecord) -> None:
        points = [uplink_point(uplink, device.device_id)]
        try:
            decoded = decode(
                device.decoder,
                uplink.payload,
                uplink.f_port,
                field_map=device.field_map,
                decoded_payload=uplink.decoded_payload,
            )
        except (DecodeError, UnknownDecoder) as exc:
            reason = "decode_error" if isinstance(exc, DecodeError) else "unknown_decoder"
            to_points, to_letters = split_acknowledgement(message.acknowledge, 2)
            self.sinks.points.submit(points, to_points)
            self.dead_letter(
                message, reason, f"{device.device_id} ({device.decoder}): {exc}", to_letters
            )
            self.counters.add("uplinks_accepted")
            self._observe(uplink, device, ())
            return
        readings = reading_points(uplink, device, decoded.readings)
        points.extend(readings)
        self.counters.add("uplinks_accepted")
        self.counters.add("readings_flagged", sum(1 for r in decoded.readings if not r.valid))
        self.sinks.points.submit(points, message.acknowledge)
        self._observe(uplink, device, decoded.readings)

    def _observe(self, uplink: Uplink, device: DeviceRecord, readings: Sequence[Reading]) -> None:
        """Hand the uplink to the alert engine: what it measured, and that the device is alive."""
        if self.observe is None:
            return
        best = uplink.best_reception
        self.observe(
            Observation(
                device_id=device.device_id,
                time_ns=uplink.received_at_ns,
                domain=device.domain,
                route_id=device.route_id,
                site=device.site,
                values={r.quantity: r.value for r in readings if r.valid},
                flagged={
                    r.quantity: r.invalid_reason or "invalid" for r in readings if not r.valid
                },
                rssi=None if best is None or best.rssi is None else float(best.rssi),
                snr=None if best is None or best.snr is None else float(best.snr),
            )
        )

    def _record_sighting(self, uplink: Uplink, acknowledge: Acknowledge | None) -> None:
        self.counters.add("unregistered_sightings")
        log.info(
            "uplink from unregistered device %s (DevEUI %s, application %s): kept as a sighting",
            uplink.device_id,
            uplink.dev_eui or "unknown",
            uplink.application_id,
        )
        sighting = Sighting(
            network=uplink.network,
            device_id=uplink.device_id,
            application_id=uplink.application_id,
            dev_eui=uplink.dev_eui,
            seen_at_ns=uplink.received_at_ns,
            f_port=uplink.f_port,
            payload=uplink.payload,
        )
        self.sinks.sightings.submit([sighting], acknowledge)

    def dead_letter(
        self, message: RawMessage, reason: str, detail: str, acknowledge: Acknowledge | None
    ) -> None:
        """Keep a message the pipeline cannot use, with the reason, where engineers list it."""
        self.counters.add(f"dead_letters.{reason}")
        log.warning("dead letter (%s) from %s: %s", reason, message.topic or "?", detail[:300])
        letter = DeadLetter(
            arrived_ns=message.arrived_ns,
            topic=message.topic,
            reason=reason,
            detail=detail,
            body=message.body,
        )
        self.sinks.dead_letters.submit([letter], acknowledge)

    @staticmethod
    def _acknowledge_now(acknowledge: Acknowledge | None) -> None:
        if acknowledge is not None:
            acknowledge()
