"""The vectors in tests/vectors are byte-identical copies of the shared originals."""

from pathlib import Path

import pytest

COPIES = Path(__file__).resolve().parents[2] / "vectors"
ORIGINALS = Path(__file__).resolve().parents[3].parent / "shared" / "testvectors"


@pytest.mark.parametrize("name", ["ttn-device-repository.json", "cayenne-lpp.json"])
def test_copy_matches_the_shared_original(name: str) -> None:
    if not ORIGINALS.is_dir():
        pytest.skip(f"{ORIGINALS} is not present on this machine")
    assert (COPIES / name).read_bytes() == (ORIGINALS / name).read_bytes(), (
        f"tests/vectors/{name} differs from {ORIGINALS / name}; copy it again"
    )
