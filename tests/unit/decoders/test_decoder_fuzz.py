"""No input, however broken, gets anything out of a decoder but a result or DecodeError.

Random bytes and ports go to every decoder; random JSON-like objects go to `ttn`. Random
bytes rarely form a valid frame, so each family also gets well-formed frames with random
contents, which must decode. The safety net in `Decoder.decode_fields` turns a decoder
bug into a DecodeError saying "internal decoder fault"; these tests fail on that message,
so they find bugs rather than hide them.
"""

from __future__ import annotations

import math
import re
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders import QUANTITIES, Decoded, DecodeError, all_decoders, decode, get_decoder
from decoders.cayenne_lpp import _TYPES as CAYENNE_TYPES
from decoders.decentlab import DecentlabDecoder
from decoders.elsys import _TYPES as ELSYS_TYPES

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DECODER_IDS = [decoder.id for decoder in all_decoders()]
REASON = re.compile(r"^(not_finite|probe_error|out_of_range|not_a_number|unit_mismatch): \S")

ports = st.one_of(st.none(), st.integers(min_value=-5, max_value=300))
field_maps = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["temperature", "temperature_1", "BatV", "level", "co2", "x", "Distance"]),
        st.sampled_from([*QUANTITIES, "", "-", "not_a_quantity"]),
        max_size=4,
    ),
)


def decode_or_reject(
    decoder_id: str, payload: bytes, f_port: int | None, **kw: Any
) -> Decoded | None:
    try:
        decoded = decode(decoder_id, payload, f_port, **kw)
    except DecodeError as exc:
        assert "internal decoder fault" not in str(exc), str(exc)
        assert "could not be read" not in str(exc), str(exc)
        assert str(exc), "a DecodeError must say what was wrong"
        return None
    check_readings(decoded)
    return decoded


def check_readings(decoded: Decoded) -> None:
    for reading in decoded.readings:
        quantity = QUANTITIES[reading.quantity]
        assert reading.unit == quantity.unit
        assert isinstance(reading.value, float)
        if reading.valid:
            assert math.isfinite(reading.value)
            assert quantity.minimum <= reading.value <= quantity.maximum
        else:
            assert reading.invalid_reason is not None
            assert REASON.match(reading.invalid_reason), reading.invalid_reason


@pytest.mark.parametrize("decoder_id", DECODER_IDS)
@FUZZ
@given(payload=st.binary(max_size=260), f_port=ports)
def test_random_bytes_and_ports(decoder_id: str, payload: bytes, f_port: int | None) -> None:
    decode_or_reject(decoder_id, payload, f_port)


@pytest.mark.parametrize("decoder_id", DECODER_IDS)
@settings(max_examples=100, deadline=None)
@given(payload=st.binary(max_size=64), field_map=field_maps)
def test_random_field_maps(
    decoder_id: str, payload: bytes, field_map: dict[str, str] | None
) -> None:
    decoder = get_decoder(decoder_id)
    port = None if decoder.f_ports is None else min(decoder.f_ports)
    decode_or_reject(decoder_id, payload, port, field_map=field_map)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([10**400, -(10**400), 2**53, 2**1024])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=40,
)
value_objects = st.fixed_dictionaries(
    {
        "value": json_values,
        "unit": st.sampled_from(["°C", "°F", "mm", "cm", "bar", "hPa", "V", "furlong"]),
    },
    optional={"displayName": st.text(max_size=8)},
)
ttn_payloads = st.dictionaries(
    st.sampled_from(["temperature_1", "relative_humidity_2", "battery_voltage", "t", "level"])
    | st.text(max_size=8),
    json_values | value_objects,
    max_size=8,
)


@FUZZ
@given(decoded_payload=ttn_payloads, f_port=ports, field_map=field_maps)
def test_ttn_random_decoded_payloads(
    decoded_payload: dict[str, Any], f_port: int | None, field_map: dict[str, str] | None
) -> None:
    decode_or_reject("ttn", b"", f_port, decoded_payload=decoded_payload, field_map=field_map)


@settings(max_examples=50, deadline=None)
@given(value=st.one_of(st.just(object()), st.just({1, 2}), st.just(b"raw"), st.integers()))
def test_ttn_rejects_non_json_values(value: Any) -> None:
    decode_or_reject("ttn", b"", 1, decoded_payload={"field": value})
    decode_or_reject("ttn", b"", 1, decoded_payload=value)


# well-formed frames with random contents must decode


@pytest.mark.parametrize(
    "decoder_id",
    [d.id for d in all_decoders() if isinstance(d, DecentlabDecoder)],
)
@FUZZ
@given(data=st.data())
def test_decentlab_well_formed_frames_decode(decoder_id: str, data: st.DataObject) -> None:
    decoder = get_decoder(decoder_id)
    assert isinstance(decoder, DecentlabDecoder)
    flags = data.draw(st.integers(min_value=0, max_value=(1 << len(decoder.sensors)) - 1))
    words = sum(s.words for bit, s in enumerate(decoder.sensors) if flags >> bit & 1)
    body = data.draw(st.binary(min_size=2 * words, max_size=2 * words))
    device_id = data.draw(st.integers(min_value=0, max_value=0xFFFF))
    payload = struct.pack(">BHH", 2, device_id, flags) + body
    decoded = decode_or_reject(decoder_id, payload, 1)
    assert decoded is not None
    expected = {"protocol_version", "device_id"} | {
        v.name for bit, s in enumerate(decoder.sensors) if flags >> bit & 1 for v in s.values
    }
    assert set(decoded.vendor_fields) == expected


cayenne_items = st.lists(
    st.tuples(st.integers(0, 255), st.sampled_from(sorted(CAYENNE_TYPES))).flatmap(
        lambda item: st.binary(
            min_size=CAYENNE_TYPES[item[1]][1], max_size=CAYENNE_TYPES[item[1]][1]
        ).map(lambda value: bytes(item) + value)
    ),
    min_size=1,
    max_size=12,
)


@FUZZ
@given(items=cayenne_items)
def test_cayenne_well_formed_frames_decode(items: list[bytes]) -> None:
    payload = b"".join(items)
    if len(payload) > 242:
        return
    decoded = decode_or_reject("cayenne-lpp", payload, 1)
    assert decoded is not None
    for item in items:
        name = CAYENNE_TYPES[item[1]][0]
        assert any(key.startswith(f"{name}_{item[0]}") for key in decoded.vendor_fields)


elsys_items = st.lists(
    st.sampled_from(sorted(ELSYS_TYPES)).flatmap(
        lambda kind: st.binary(min_size=ELSYS_TYPES[kind][1], max_size=ELSYS_TYPES[kind][1]).map(
            lambda value: bytes([kind]) + value
        )
    ),
    min_size=1,
    max_size=8,
)


@pytest.mark.parametrize("decoder_id", [d.id for d in all_decoders() if d.vendor == "Elsys"])
@FUZZ
@given(items=elsys_items)
def test_elsys_well_formed_frames_decode(decoder_id: str, items: list[bytes]) -> None:
    payload = b"".join(items)
    if len(payload) > 242:
        return
    assert decode_or_reject(decoder_id, payload, 5) is not None


@pytest.mark.parametrize("decoder_id", [d.id for d in all_decoders() if d.vendor == "Milesight"])
@FUZZ
@given(data=st.data())
def test_milesight_well_formed_frames_decode(decoder_id: str, data: st.DataObject) -> None:
    channels = get_decoder(decoder_id)._channels  # type: ignore[attr-defined]
    keys = data.draw(st.lists(st.sampled_from(sorted(channels)), min_size=1, max_size=8))
    payload = b"".join(
        bytes(key) + data.draw(st.binary(min_size=channels[key][1], max_size=channels[key][1]))
        for key in keys
    )
    assert decode_or_reject(decoder_id, payload, 85) is not None


@pytest.mark.parametrize("decoder_id", [d.id for d in all_decoders() if d.vendor == "Dragino"])
@FUZZ
@given(data=st.data())
def test_dragino_right_sized_frames(decoder_id: str, data: st.DataObject) -> None:
    size = data.draw(st.sampled_from([4, 5, 8, 11, 12]))
    payload = data.draw(st.binary(min_size=size, max_size=size))
    decode_or_reject(decoder_id, payload, 2)
