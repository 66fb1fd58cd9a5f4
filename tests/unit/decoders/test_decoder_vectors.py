"""Every vendor example decodes to the vendor's own output; every error example is rejected.

Two runs over the same examples: one over the copies in tests/vectors (always available),
one over ../shared/testvectors directly, as the issue's acceptance asks, when that exists.
"""

from __future__ import annotations

import math

import pytest

from decoders import QUANTITIES, DecodeError, all_decoders, decode
from tests.unit.decoders.decoder_vectors import (
    SHARED_VECTORS,
    VECTORS,
    Case,
    differences,
    load_cases,
)

COPIED_CASES = [case for path in sorted(VECTORS.glob("*.json")) for case in load_cases(path)]

SHARED_FILES = ["ttn-device-repository.json", "cayenne-lpp.json"]
SHARED_CASES = [
    case
    for name in SHARED_FILES
    if (SHARED_VECTORS / name).is_file()
    for case in load_cases(SHARED_VECTORS / name)
]


def check(case: Case) -> None:
    assert case.decoder_id is not None, f"{case.name}: no decoder reproduces this codec"
    if case.expected is None:
        with pytest.raises(DecodeError):
            decode(case.decoder_id, case.payload, case.f_port, decoded_payload=case.decoded_payload)
        return
    decoded = decode(
        case.decoder_id, case.payload, case.f_port, decoded_payload=case.decoded_payload
    )
    problems = differences(case.expected, decoded.vendor_fields)
    assert not problems, f"{case.name}: " + "; ".join(problems)
    for reading in decoded.readings:
        quantity = QUANTITIES[reading.quantity]
        assert reading.unit == quantity.unit
        if reading.valid:
            assert quantity.minimum <= reading.value <= quantity.maximum
            assert math.isfinite(reading.value)


@pytest.mark.parametrize("case", COPIED_CASES, ids=lambda case: f"{case.source}:{case.name}")
def test_vector_copy(case: Case) -> None:
    check(case)


@pytest.mark.parametrize(
    "case",
    SHARED_CASES
    or [pytest.param(None, marks=pytest.mark.skip(reason=f"{SHARED_VECTORS} is not present"))],
    ids=lambda case: f"shared/{case.source}:{case.name}" if case else "shared",
)
def test_shared_vector(case: Case) -> None:
    check(case)


def test_the_shared_device_repository_is_read_when_present() -> None:
    if not (SHARED_VECTORS / "ttn-device-repository.json").is_file():
        pytest.skip(f"{SHARED_VECTORS} is not present")
    names = {case.name for case in SHARED_CASES}
    assert "decentlab/DL-DS18#1" in names
    assert len(SHARED_CASES) >= 40


def test_every_decoder_has_vectors() -> None:
    covered = {case.decoder_id for case in COPIED_CASES if case.expected is not None}
    missing = [decoder.id for decoder in all_decoders() if decoder.id not in covered]
    assert not missing, f"decoders without a passing example in tests/vectors: {missing}"


def test_every_vector_device_has_a_decoder() -> None:
    orphans = [case.name for case in COPIED_CASES if case.decoder_id is None]
    assert not orphans
