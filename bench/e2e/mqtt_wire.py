"""The few MQTT 3.1.1 packets the benchmark's publisher needs, as bytes (OASIS MQTT 3.1.1, §3).

A Python client library spends tens of microseconds per message on bookkeeping; the
publisher must offer 20,000+ uplinks a second while sharing two cores with the broker and
the bridge, so it frames packets itself: CONNECT, PUBLISH at QoS 1, DISCONNECT, and reads
back only PUBACKs (4 bytes each).
"""

from __future__ import annotations

import socket
import struct

CONNACK_ACCEPTED = b"\x20\x02\x00\x00"
PUBACK_SIZE = 4
DISCONNECT = b"\xe0\x00"


def remaining_length(length: int) -> bytes:
    """The variable-length 'remaining length' of a fixed header (§2.2.3)."""
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | 0x80 if length else byte)
        if not length:
            return bytes(out)


def utf8(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">H", len(data)) + data


def connect_packet(client_id: str, *, clean_session: bool = True, keepalive: int = 0) -> bytes:
    flags = 0x02 if clean_session else 0x00
    variable = utf8("MQTT") + bytes([4, flags]) + struct.pack(">H", keepalive)
    body = variable + utf8(client_id)
    return b"\x10" + remaining_length(len(body)) + body


def publish_qos1(topic: bytes, packet_id: int, payload: bytes) -> bytes:
    """PUBLISH, QoS 1, no retain, no dup: header, topic, packet id, payload."""
    length = 2 + len(topic) + 2 + len(payload)
    return b"".join(
        (
            b"\x32",
            remaining_length(length),
            struct.pack(">H", len(topic)),
            topic,
            struct.pack(">H", packet_id),
            payload,
        )
    )


def open_session(
    port: int, client_id: str, *, clean_session: bool = True, host: str = "127.0.0.1"
) -> socket.socket:
    """A connected socket after CONNACK, or ConnectionError with the broker's answer."""
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(client_id, clean_session=clean_session))
    answer = b""
    while len(answer) < 4:
        chunk = sock.recv(4 - len(answer))
        if not chunk:
            raise ConnectionError("the broker closed the connection before CONNACK")
        answer += chunk
    if answer != CONNACK_ACCEPTED:
        raise ConnectionError(f"the broker refused the connection: CONNACK {answer.hex()}")
    sock.settimeout(None)
    return sock


def discard_session(port: int, client_id: str) -> None:
    """Connect once with a clean session: the broker drops what it queued for `client_id`.

    A bridge's persistent QoS 1 session outlives its process; without this, the broker
    would go on queuing every later phase's uplinks for a client that never returns.
    """
    sock = open_session(port, client_id, clean_session=True)
    try:
        sock.sendall(DISCONNECT)
    finally:
        sock.close()
