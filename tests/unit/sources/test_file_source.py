"""JSON Lines replay: one message a line, blank lines skipped, line numbers kept for tracing."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway_bridge.envelopes import EnvelopeError, parse_message
from gateway_bridge.sources.file import read_jsonl

REPLAY = Path(__file__).resolve().parents[2] / "fixtures" / "ttn" / "replay.jsonl"


def test_replay_fixture_lines_become_messages_with_their_line_numbers() -> None:
    messages = list(read_jsonl(REPLAY))
    assert [m.topic for m in messages] == [f"file:{REPLAY}:{line}" for line in (1, 2, 4, 5, 6)]
    assert all(m.acknowledge is None and m.arrived_ns > 0 for m in messages)
    uplinks = [parse_message(m.topic, m.body) for m in messages]
    assert [u.device_id if u else None for u in uplinks] == [
        "rst-high-street-01",  # bare
        "rst-high-street-01",  # {"result": …} from the Storage Integration
        None,  # a join, ignored
        "aq-st-marys-primary",
        "rst-high-street-01",
    ]


def test_crlf_whitespace_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    good = REPLAY.read_bytes().splitlines()[0]
    path.write_bytes(good + b"\r\n   \r\n\xff\xfe not json\n" + b"  " + good + b"  ")
    messages = list(read_jsonl(path))
    assert [m.topic.rsplit(":", 1)[1] for m in messages] == ["1", "3", "4"]
    assert messages[0].body == good == messages[2].body
    with pytest.raises(EnvelopeError) as caught:
        parse_message(messages[1].topic, messages[1].body)
    assert caught.value.reason == "malformed_json"


def test_a_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        list(read_jsonl(tmp_path / "nope.jsonl"))
