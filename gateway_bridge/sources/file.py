"""JSON Lines files as a source: replay, demo and tests.

Each non-blank line is one message body (a The Things Stack uplink, bare or
wrapped as `{"result": …}` by the Storage Integration, or a ChirpStack event).
The topic is `file:{path}:{line}`: it matches no network server's topic, so
`parse_message` decides the format by the body's shape, and a dead letter says
exactly which line it came from.
"""

import time
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

from gateway_bridge.uplink import RawMessage


def file_topic(path: str | PathLike[str], line: int) -> str:
    """The pseudo-topic of line `line` (1-based) of `path`."""
    return f"file:{path}:{line}"


def read_jsonl(path: str | PathLike[str]) -> Iterator[RawMessage]:
    """The messages of a JSON Lines file, one per non-blank line, read lazily.

    Lines are returned as bytes, undecoded: a line that is not UTF-8 or not JSON
    becomes a dead letter downstream instead of stopping the replay here.
    Raises `OSError` if the file cannot be opened.
    """
    name = Path(path)
    with name.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            body = line.strip()
            if body:
                yield RawMessage(
                    topic=file_topic(name, number), body=body, arrived_ns=time.time_ns()
                )
