"""paho-mqtt's client, reading its socket in large pieces.

paho 2 reads each incoming packet with at least four `recv()` calls (the packet type,
each byte of its length, then the rest) and one `select()` per packet. Every such call
lets go of the GIL, and while the alert engine or the store writer hold it, taking it
back waits up to Python's switch interval (5 ms). With thousands of uplinks a second the
MQTT thread then spends most of its time waiting for the GIL, not working
(docs/performance.md). Reading whatever the kernel holds in one call, and handing paho
its packets from memory, turns five waits per uplink into about one per 64 KiB.

paho supports wrapped sockets (its own websocket transport is one): it asks a socket's
`pending()` for bytes already read, and then reads again without waiting in `select()`;
`loop_read` here goes on through every whole packet in memory before paho selects again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

READ_SIZE = 64 * 1024


class BufferedSocket:
    """A socket (plain or TLS) whose `recv` is served from one large read at a time."""

    def __init__(self, sock: SocketLike) -> None:
        self._sock = sock
        self._buffer = b""
        self._position = 0

    def recv(self, buffer_size: int) -> bytes:
        """Up to `buffer_size` bytes: from memory, or one `READ_SIZE` read of the socket
        (raising what that read raises: `BlockingIOError`, TLS want-read, …)."""
        if self._position >= len(self._buffer):
            data = self._sock.recv(max(buffer_size, READ_SIZE))
            if len(data) <= buffer_size:
                return data  # b"" when the connection closed
            self._buffer, self._position = data, 0
        start = self._position
        self._position = min(start + buffer_size, len(self._buffer))
        return self._buffer[start : self._position]

    @property
    def buffered(self) -> int:
        """Bytes read from the socket and not yet handed out."""
        return len(self._buffer) - self._position

    def pending(self) -> int:
        """Bytes read but not yet handed out (and, for TLS, those decrypted but unread)."""
        inner = getattr(self._sock, "pending", None)
        return self.buffered + (inner() if inner is not None else 0)

    def send(self, buffer: bytes | bytearray) -> int:
        return self._sock.send(buffer)

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)  # anything else paho or ssl may ask of a socket


class BufferedClient(paho.Client):
    """`paho.Client` over a `BufferedSocket` (TCP and TLS; websockets buffer already)."""

    def _create_socket(self) -> SocketLike:
        sock = super()._create_socket()
        if self.transport == "websockets":
            return sock
        return BufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Handle every whole packet already read, not one per `select()`."""
        rc = super().loop_read(max_packets)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            sock = self._sock
            if not isinstance(sock, BufferedSocket) or not sock.buffered:
                break
            rc = super().loop_read(max_packets)  # consumes buffered bytes, or stops (AGAIN)
        return rc
