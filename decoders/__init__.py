"""Vendor payloads to canonical readings with units.

`decode(decoder_id, payload, f_port, field_map=…)` is the whole job: the vendor's own
fields, then canonical readings (plausibility applied, dew point derived). It raises
UnknownDecoder for an unknown decoder id and DecodeError for any bad payload, nothing else.
"""

from decoders.decoded import Decoded
from decoders.decoder import Decoder
from decoders.derived import dew_point
from decoders.errors import DecodeError, UnknownDecoder
from decoders.fieldmap import FieldMapError, parse_field_map
from decoders.normalise import check_field_map, decode
from decoders.quantities import QUANTITIES, Quantity
from decoders.readings import Reading
from decoders.registry import all_decoders, get_decoder

__all__ = [
    "QUANTITIES",
    "DecodeError",
    "Decoded",
    "Decoder",
    "FieldMapError",
    "Quantity",
    "Reading",
    "UnknownDecoder",
    "all_decoders",
    "check_field_map",
    "decode",
    "dew_point",
    "get_decoder",
    "parse_field_map",
]
