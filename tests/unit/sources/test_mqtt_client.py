"""The buffered socket under paho: one large read, handed out in the pieces paho asks for."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from gateway_bridge.sources.mqtt_client import READ_SIZE, BufferedSocket


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)  # as paho keeps it
    yield ours, theirs
    ours.close()
    theirs.close()


def test_small_reads_are_served_from_one_read(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    theirs.sendall(b"\x30\x05hello\x30\x03abc")
    buffered = BufferedSocket(ours)

    assert buffered.recv(1) == b"\x30"
    assert buffered.pending() == 11  # everything else came with the first read
    assert [buffered.recv(1), buffered.recv(5), buffered.recv(1), buffered.recv(1)] == [
        b"\x05",
        b"hello",
        b"\x30",
        b"\x03",
    ]
    assert buffered.recv(10) == b"abc"  # no more than what is buffered
    assert buffered.pending() == 0


def test_an_empty_socket_raises_what_paho_expects(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    buffered = BufferedSocket(pair[0])
    with pytest.raises(BlockingIOError):
        buffered.recv(1)


def test_a_closed_connection_reads_as_empty(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    theirs.sendall(b"\x30")
    theirs.close()
    buffered = BufferedSocket(ours)
    assert buffered.recv(1) == b"\x30"
    assert buffered.recv(1) == b""


def test_a_large_packet_arrives_whole(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    body = bytes(range(256)) * (READ_SIZE // 256) + b"tail"  # more than one read takes
    theirs.sendall(body)
    buffered = BufferedSocket(ours)
    received = b""
    while len(received) < len(body):
        received += buffered.recv(len(body) - len(received))
    assert received == body


def test_writes_and_the_descriptor_are_the_socket_s(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    buffered = BufferedSocket(ours)
    assert buffered.fileno() == ours.fileno()
    assert buffered.send(b"ping") == 4
    assert theirs.recv(4) == b"ping"
