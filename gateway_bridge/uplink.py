"""The one internal shape of an uplink, whatever network server or transport it came from."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

NetworkServer = Literal["ttn", "chirpstack"]


@dataclass(frozen=True, slots=True)
class GatewayReception:
    """How one gateway heard the uplink."""

    gateway_id: str
    rssi: float | None = None
    snr: float | None = None


@dataclass(frozen=True, slots=True)
class Uplink:
    """An uplink as the network server reported it.

    `received_at_ns` is the network server's own timestamp (TTN
    `uplink_message.received_at`, ChirpStack `time`), nanoseconds since the epoch:
    a redelivered uplink carries the same value, so writes keyed on it are idempotent.
    """

    network: NetworkServer
    device_id: str
    application_id: str
    received_at_ns: int
    payload: bytes
    dev_eui: str | None = None
    f_cnt: int | None = None
    f_port: int | None = None
    decoded_payload: Mapping[str, Any] | None = None
    receptions: tuple[GatewayReception, ...] = ()
    spreading_factor: int | None = None
    bandwidth_hz: int | None = None
    frequency_hz: int | None = None
    airtime_ms: float | None = None
    simulated: bool = False

    @property
    def best_reception(self) -> GatewayReception | None:
        """The gateway that heard the uplink loudest (highest RSSI)."""
        heard = [r for r in self.receptions if r.rssi is not None]
        if heard:
            return max(heard, key=lambda r: r.rssi or 0.0)
        return self.receptions[0] if self.receptions else None


Acknowledge = Callable[[], None]


@dataclass(frozen=True, slots=True)
class RawMessage:
    """Bytes as a transport delivered them, before any parsing.

    `acknowledge`, when set, tells the transport the message is durably handed
    off (an own broker's QoS 1 PUBACK). The pipeline calls it only after the
    points it produced are stored or spooled, or after it was dead-lettered.
    """

    topic: str
    body: bytes
    arrived_ns: int
    acknowledge: Acknowledge | None = field(default=None, compare=False)
