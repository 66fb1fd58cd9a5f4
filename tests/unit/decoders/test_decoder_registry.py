"""The registry finds every decoder module by itself; a decoder declares what it produces."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from decoders import QUANTITIES, Decoder, all_decoders, decode, get_decoder
from decoders.registry import discover

EXPECTED_IDS = {
    "cayenne-lpp",
    "ttn",
    "decentlab-dl-ds18",
    "decentlab-dl-pm",
    "decentlab-dl-ctd10",
    "decentlab-dl-pr26",
    "decentlab-dl-pr36",
    "decentlab-dl-pr36ctd",
    "decentlab-dl-optod",
    "decentlab-dl-ntu",
    "decentlab-dl-pheht",
    "dragino-lsn50v2-d20",
    "dragino-lsn50v2-d20-d22-d23",
    "dragino-laq4",
    "dragino-ldds75",
    "dragino-ldds75-114",
    "dragino-lsph01",
    "elsys-elt-2",
    "elsys-ers",
    "elsys-ers-co2",
    "elsys-ers-co2-lite",
    "milesight-em500-pt100",
    "milesight-am103",
    "milesight-am307",
    "milesight-am319",
    "milesight-em500-swl",
}


def test_all_decoders_are_registered_and_sorted() -> None:
    ids = [decoder.id for decoder in all_decoders()]
    assert ids == sorted(ids)
    assert set(ids) == EXPECTED_IDS


@pytest.mark.parametrize("decoder", all_decoders(), ids=lambda d: d.id)
def test_a_decoder_declares_itself(decoder: Decoder) -> None:
    assert get_decoder(decoder.id) is decoder
    assert decoder.id == decoder.id.lower()
    assert decoder.vendor and decoder.model and decoder.description
    assert decoder.f_ports is None or all(1 <= port <= 223 for port in decoder.f_ports)
    assert decoder.default_field_map, "defaults should cover the common installation"
    assert set(decoder.default_field_map.values()) <= set(QUANTITIES)
    assert decoder.quantities >= set(decoder.default_field_map.values())
    assert decoder.quantities <= set(QUANTITIES)


def test_vendor_prefixes() -> None:
    for decoder in all_decoders():
        if decoder.id not in {"cayenne-lpp", "ttn"}:
            assert decoder.id.startswith(decoder.vendor.lower() + "-")


def test_dew_point_is_declared_where_it_can_be_derived() -> None:
    assert "dew_point" in get_decoder("cayenne-lpp").quantities
    assert "dew_point" not in get_decoder("decentlab-dl-ds18").quantities


@pytest.fixture
def vendor_package(tmp_path: Path) -> Iterator[str]:
    """A package holding one new vendor module, and nothing that names it."""
    package = tmp_path / "acme_decoders"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "acme.py").write_text(
        textwrap.dedent(
            """
            from typing import Any

            from decoders.decoder import Decoder


            class AcmeThermo(Decoder):
                def _decode(self, payload: bytes) -> dict[str, Any]:
                    return {"celsius": payload[0] - 40}


            DECODERS = (
                AcmeThermo(
                    id="acme-thermo",
                    vendor="Acme",
                    model="Thermo",
                    description="One byte, °C + 40.",
                    f_ports={1},
                    default_field_map={"celsius": "road_surface_temperature"},
                ),
            )
            """
        )
    )
    (package / "helpers.py").write_text("X = 1\n")  # modules without DECODERS are ignored
    sys.path.insert(0, str(tmp_path))
    yield "acme_decoders"
    sys.path.remove(str(tmp_path))
    for name in [name for name in sys.modules if name.startswith("acme_decoders")]:
        del sys.modules[name]


def test_one_new_module_is_all_a_decoder_needs(vendor_package: str) -> None:
    found = discover(vendor_package)
    assert list(found) == ["acme-thermo"]
    decoder = found["acme-thermo"]
    assert decoder.quantities == {"road_surface_temperature"}
    assert decoder.decode_fields(b"\x29", 1) == {"celsius": 1}


def test_the_ids_of_the_real_package_are_unique() -> None:
    assert len(discover("decoders")) == len(all_decoders())


def test_decode_uses_the_registry() -> None:
    assert decode("cayenne-lpp", bytes.fromhex("0167ffde"), 1).vendor_fields == {
        "temperature_1": -3.4
    }
