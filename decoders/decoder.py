"""What every decoder is: bytes in one vendor's wire format to that vendor's own field names.

A decoder knows nothing about canonical quantities beyond its default field map and the
unit of each vendor field; turning vendor fields into readings is `decoders.normalise`'s job.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from decoders.errors import DecodeError

# LoRaWAN's largest application payload (DR with 242-byte N in the regional parameters).
MAX_PAYLOAD = 242
_BYTES = (bytes, bytearray, memoryview)


class Decoder(abc.ABC):
    """One registered codec, found by `id` (`<vendor>-<model>`, lower case).

    `f_ports` is the set of FPorts the device sends data on, or None for any application
    port. `default_field_map` (vendor field -> canonical quantity) covers the common
    installation so most devices need no field map of their own. `ttn_codec_ids` names
    the codecs in The Things Network Device Repository whose output this decoder
    reproduces; the test vectors are matched to decoders through it.
    """

    def __init__(
        self,
        *,
        id: str,
        vendor: str,
        model: str,
        description: str,
        f_ports: Iterable[int] | None,
        default_field_map: Mapping[str, str],
        field_units: Mapping[str, str] | None = None,
        ttn_codec_ids: Iterable[str] = (),
    ) -> None:
        self.id = id
        self.vendor = vendor
        self.model = model
        self.description = description
        self.f_ports: frozenset[int] | None = None if f_ports is None else frozenset(f_ports)
        self.default_field_map: Mapping[str, str] = MappingProxyType(dict(default_field_map))
        self.field_units: Mapping[str, str] = MappingProxyType(dict(field_units or {}))
        self.ttn_codec_ids: frozenset[str] = frozenset(ttn_codec_ids)
        produced = set(self.default_field_map.values())
        if {"air_temperature", "relative_humidity"} <= produced:
            produced.add("dew_point")
        self.quantities: frozenset[str] = frozenset(produced)

    def __repr__(self) -> str:
        return f"<Decoder {self.id}>"

    def vendor_unit(self, field: str) -> str | None:
        """The unit the vendor reports `field` in, or None when it has none."""
        return self.field_units.get(field)

    def decode_fields(self, payload: bytes, f_port: int | None) -> dict[str, Any]:
        """The vendor's own fields for one uplink; DecodeError for anything unreadable."""
        if f_port is not None:
            ports = self.f_ports
            if f_port.__class__ is not int or (
                f_port not in ports if ports is not None else not 0 < f_port < 256
            ):
                self.check_port(f_port)  # raises, saying why
        if payload.__class__ is not bytes and not isinstance(payload, _BYTES):
            raise DecodeError(f"{self.id}: payload must be bytes, got {type(payload).__name__}")
        try:
            size = len(payload)
            if size == 0:
                raise DecodeError("empty payload: there is nothing to decode")
            if size > MAX_PAYLOAD:
                raise DecodeError(
                    f"oversized payload: {size} bytes, LoRaWAN carries at most {MAX_PAYLOAD}"
                )
            return self._decode(payload)
        except DecodeError as exc:
            raise DecodeError(f"{self.id}: {exc}") from None
        except Exception as exc:  # a decoder bug must still not crash the pipeline
            raise DecodeError(
                f"{self.id}: internal decoder fault ({type(exc).__name__}: {exc}); "
                "please report this payload"
            ) from exc

    def decode_uplink(
        self, payload: bytes, f_port: int | None, decoded_payload: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], Mapping[str, str] | None]:
        """Vendor fields for one uplink and, when they came with the data, their units.

        Byte decoders read `payload` and ignore `decoded_payload`; units come from
        `vendor_unit`, so the second item is None.
        """
        return self.decode_fields(payload, f_port), None

    def check_port(self, f_port: int | None) -> None:
        """DecodeError unless this decoder reads uplinks on `f_port` (None: port unknown)."""
        if f_port is None:
            return
        if type(f_port) is not int:
            raise DecodeError(f"{self.id}: f_port must be an integer, got {f_port!r}")
        if self.f_ports is None:
            if not 1 <= f_port <= 255:
                raise DecodeError(
                    f"{self.id}: f_port {f_port} carries no application payload "
                    "(application ports are 1–255)"
                )
        elif f_port not in self.f_ports:
            ports = ", ".join(str(port) for port in sorted(self.f_ports))
            raise DecodeError(
                f"{self.id}: unknown FPort {f_port}: this device sends data on FPort {ports}"
            )

    @abc.abstractmethod
    def _decode(self, payload: bytes) -> dict[str, Any]:
        """Decode a non-empty payload of at most MAX_PAYLOAD bytes; DecodeError if unreadable."""


def truncated(what: str, first: int, last: int, size: int) -> DecodeError:
    """The error for a field that runs past the end of the payload."""
    return DecodeError(
        f"truncated payload: {what} needs bytes {first}–{last} but the payload has "
        f"{size} byte{'s' if size != 1 else ''} (bytes count from 0)"
    )
