"""The decoder registry: every module in this package that lists `DECODERS` contributes them.

Adding a decoder therefore means adding one module (and its test vectors); nothing here
or anywhere else names it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from types import MappingProxyType

from decoders.decoder import Decoder
from decoders.errors import UnknownDecoder

_ID = re.compile(r"^[a-z0-9]+(?:[-.][a-z0-9]+)*$")


def get_decoder(decoder_id: str) -> Decoder:
    """The decoder registered as `decoder_id`; UnknownDecoder when there is none."""
    try:
        return DECODERS_BY_ID[decoder_id]
    except (KeyError, TypeError):
        raise unknown(decoder_id) from None


def all_decoders() -> list[Decoder]:
    """Every registered decoder, sorted by id."""
    return list(DECODERS_BY_ID.values())


def unknown(decoder_id: object) -> UnknownDecoder:
    known = ", ".join(DECODERS_BY_ID)
    return UnknownDecoder(f"no decoder is registered as {decoder_id!r}; known decoders: {known}")


def discover(package_name: str) -> dict[str, Decoder]:
    """Decoders listed as `DECODERS` by the modules of `package_name`, sorted by id."""
    package = importlib.import_module(package_name)
    found: dict[str, Decoder] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in {"registry", "__main__"}:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for decoder in getattr(module, "DECODERS", ()):
            if not isinstance(decoder, Decoder):
                raise TypeError(f"{module.__name__}.DECODERS holds {decoder!r}, not a Decoder")
            if not _ID.match(decoder.id):
                raise ValueError(
                    f"decoder id {decoder.id!r} in {module.__name__} is not <vendor>-<model> "
                    "in lower case"
                )
            if decoder.id in found:
                raise ValueError(f"decoder id {decoder.id!r} is registered twice")
            found[decoder.id] = decoder
    return dict(sorted(found.items()))


DECODERS_BY_ID = MappingProxyType(discover(__package__ or "decoders"))
