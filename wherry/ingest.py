"""Wiring of the sources beyond MQTT: the TTN Storage Integration backfill and webhook ingest."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway_bridge.intake import Intake
from gateway_bridge.sources.backfill import Backfill, BackfillWorker, LiveCursor
from gateway_bridge.sources.cursors import FILE_NAME, CursorStore
from gateway_bridge.sources.ttn_storage import StorageOptions, TtnStorageClient
from gateway_bridge.sources.webhook import DEFAULT_HANDOFF_TIMEOUT_S, WebhookIngest
from gateway_bridge.uplink import Acknowledge, RawMessage
from wherry.bridge import Bridge
from wherry.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Backfilling:
    """A started backfill worker; `trigger` on start and after every MQTT (re)connect."""

    worker: BackfillWorker

    def trigger(self) -> None:
        self.worker.trigger()

    def stop(self) -> None:
        self.worker.stop()


def start_backfill(settings: Settings, bridge: Bridge) -> Backfilling | None:
    """Start the backfill worker when `ttn_storage_url` is set, else None.

    Live MQTT traffic moves the cursors too (so a reconnect fetches only the gap): the
    bridge's intake is rebuilt over a pipeline entry that advances them once a message
    has been taken. The cursor wrapper sits behind the intake, so the intake still sees
    a QoS 0 message as one that cannot be redelivered.
    """
    if settings.ttn_storage_url is None or settings.ttn_api_key is None:
        return None
    applications = settings.backfill_applications
    cursors = CursorStore(settings.data_dir / FILE_NAME)
    client = TtnStorageClient(
        StorageOptions(
            base_url=settings.ttn_storage_url,
            api_key=settings.ttn_api_key.get_secret_value(),
            ca_file=str(settings.ttn_ca_file) if settings.ttn_ca_file else None,
            max_line_bytes=bridge.pipeline.max_message_bytes,
        )
    )
    bridge.intake = Intake(LiveCursor(cursors, applications).wrap(bridge.pipeline.handle))
    backfill = Backfill(
        client,
        cursors,
        bridge.intake.handle,
        max_age_s=settings.backfill_max_age_hours * 3600,
        counters=bridge.counters,
    )
    worker = BackfillWorker(backfill, applications, counters=bridge.counters)
    worker.start()
    log.info(
        "backfill from %s for %s (at most %g h back)",
        settings.ttn_storage_url,
        ", ".join(applications),
        settings.backfill_max_age_hours,
    )
    return Backfilling(worker)


def webhook_ingest(
    settings: Settings,
    bridge: Bridge,
    *,
    handoff_timeout_s: float = DEFAULT_HANDOFF_TIMEOUT_S,
) -> WebhookIngest | None:
    """Webhook ingest into the bridge when `webhook_secret` is set, else None (404)."""
    if settings.webhook_secret is None:
        return None
    return WebhookIngest(
        _IntakePipeline(bridge),
        secret=settings.webhook_secret.get_secret_value(),
        max_bytes=settings.webhook_max_bytes,
        handoff_timeout_s=handoff_timeout_s,
    )


class _IntakePipeline:
    """The pipeline as webhooks see it: messages pass the bridge's intake (closed first on a
    clean stop, so a late request is not taken and is answered 503), dead letters go
    straight to the pipeline."""

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    @property
    def max_message_bytes(self) -> int:
        return self._bridge.pipeline.max_message_bytes

    def handle(self, message: RawMessage) -> None:
        self._bridge.intake.handle(message)

    def dead_letter(
        self, message: RawMessage, reason: str, detail: str, acknowledge: Acknowledge | None
    ) -> None:
        self._bridge.pipeline.dead_letter(message, reason, detail, acknowledge)
