"""What the registry checks devices against: the decoders and quantities this wherry knows.

The registry cannot import `decoders` (both are leaves), so the rules arrive from
here, and the CLI and the API check a devices CSV with the very same function.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from decoders import QUANTITIES, DecodeError, UnknownDecoder, all_decoders, check_field_map
from storage.registry import Catalogue, DeviceImport, Registry, parse_device_csv


@cache
def decoder_catalogue() -> Catalogue:
    """Decoders, quantities and the decoders' own field-map check, for the registry's rules."""
    return Catalogue(
        decoders=frozenset(decoder.id for decoder in all_decoders()),
        quantities=frozenset(QUANTITIES),
        field_map_problem=field_map_problem,
    )


def field_map_problem(decoder_id: str, field_map: Mapping[str, str]) -> str | None:
    """Why `field_map` cannot work with the decoder (e.g. lux into ppm), or None."""
    try:
        check_field_map(decoder_id, field_map)
    except (DecodeError, UnknownDecoder) as problem:
        return str(problem)
    return None


def check_device_csv(text: str, registry: Registry) -> DeviceImport:
    """Every row of a devices CSV checked against the catalogue and what is registered."""
    catalogue = decoder_catalogue()
    return parse_device_csv(
        text,
        known_decoders=catalogue.decoders,
        known_quantities=catalogue.quantities,
        known_routes={route.route_id for route in registry.routes()},
        registered_dev_euis={d.dev_eui: d.device_id for d in registry.devices()},
        field_map_problem=catalogue.field_map_problem,
    )
