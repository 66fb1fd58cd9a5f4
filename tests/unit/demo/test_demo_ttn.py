"""The TTN v3 uplink details the simulator reproduces: airtime, durations, timestamps, omissions."""

from __future__ import annotations

import random

import pytest

from wherry.demo.ttn import airtime_ns, compact, duration_text, iso_ns, ulid


def test_airtime_matches_the_things_stack_data_formats_example() -> None:
    # TTS docs' uplink example: SF7/125 kHz, a 9-byte FRMPayload → "0.056576s".
    assert duration_text(airtime_ns(9, 7)) == "0.056576s"


@pytest.mark.parametrize(
    ("payload_bytes", "spreading_factor", "expected"),
    [
        (11, 7, "0.061696s"),  # 24-byte PHYPayload, SF7
        (9, 9, "0.205824s"),
        (9, 10, "0.370688s"),
        (9, 12, "1.482752s"),  # low-data-rate optimisation on
    ],
)
def test_airtime_follows_the_semtech_formula(
    payload_bytes: int, spreading_factor: int, expected: str
) -> None:
    assert duration_text(airtime_ns(payload_bytes, spreading_factor)) == expected


def test_durations_use_protobuf_json_digits() -> None:
    assert duration_text(2_000_000_000) == "2s"
    assert duration_text(61_000_000) == "0.061s"
    assert duration_text(56_576_000) == "0.056576s"
    assert duration_text(1) == "0.000000001s"


def test_timestamps_have_nanoseconds_and_z() -> None:
    assert iso_ns(1_768_446_765_123_456_789) == "2026-01-15T03:12:45.123456789Z"
    assert iso_ns(1_768_446_765_000_000_000) == "2026-01-15T03:12:45.000000000Z"


def test_ulids_are_26_crockford_characters_sorted_by_time() -> None:
    rng = random.Random(1)
    early, late = ulid(1_768_446_765_000_000_000, rng), ulid(1_768_446_766_000_000_000, rng)
    assert len(early) == 26 and set(early) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert early[:10] < late[:10]


def test_empty_fields_are_left_out_like_the_things_stack_does() -> None:
    message = {
        "a": 0,
        "b": "",
        "c": False,
        "d": {"e": 0.0, "f": -1},
        "g": [{"h": 0, "i": 2}],
        "j": {},
    }
    assert compact(message) == {"d": {"f": -1}, "g": [{"i": 2}]}
