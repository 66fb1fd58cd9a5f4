"""Bad payloads are rejected with a DecodeError that says what was wrong, and where."""

from __future__ import annotations

import pytest

from decoders import DecodeError, UnknownDecoder, all_decoders, decode, get_decoder


def rejected(decoder_id: str, hex_payload: str, f_port: int | None) -> str:
    with pytest.raises(DecodeError) as caught:
        decode(decoder_id, bytes.fromhex(hex_payload), f_port)
    return str(caught.value)


def test_unknown_decoder_names_the_known_ones() -> None:
    with pytest.raises(UnknownDecoder, match="decentlab-dl-ds18"):
        decode("acme-thermo", b"\x01", 1)
    with pytest.raises(UnknownDecoder):
        get_decoder("acme-thermo")


def test_unhashable_decoder_id_is_unknown_not_a_crash() -> None:
    with pytest.raises(UnknownDecoder):
        decode(["cayenne-lpp"], b"\x01", 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("decoder_id", [d.id for d in all_decoders() if d.id != "ttn"])
def test_empty_and_oversized_payloads(decoder_id: str) -> None:
    ports = get_decoder(decoder_id).f_ports
    port = None if ports is None else min(ports)
    assert "empty payload" in rejected(decoder_id, "", port)
    assert "at most 242" in rejected(decoder_id, "00" * 243, port)


@pytest.mark.parametrize("decoder_id", [d.id for d in all_decoders()])
def test_port_zero_is_never_data(decoder_id: str) -> None:
    message = rejected(decoder_id, "0167011002680a", 0)
    assert "FPort 0" in message or "f_port 0" in message


def test_payload_that_is_not_bytes() -> None:
    with pytest.raises(DecodeError, match="must be bytes"):
        decode("cayenne-lpp", "0167011002680a", 1)  # type: ignore[arg-type]


def test_cayenne_truncated_value_names_the_bytes() -> None:
    message = rejected("cayenne-lpp", "016701", 1)
    assert message == (
        "cayenne-lpp: truncated payload: temperature on channel 1 needs bytes 2–3 but the "
        "payload has 3 bytes (bytes count from 0)"
    )


def test_cayenne_unknown_type_names_the_byte() -> None:
    assert "unknown data type 0xfe at byte 1 (channel 1)" in rejected("cayenne-lpp", "01fe0001", 1)


def test_cayenne_channel_without_type() -> None:
    assert "channel 2 at byte 4 has no data type" in rejected("cayenne-lpp", "0167011002", 1)


def test_decentlab_wrong_version() -> None:
    message = rejected("decentlab-dl-ds18", "03023d0003815e0c15", 1)
    assert "wrong protocol version 3 at byte 0" in message


def test_decentlab_truncated_header_and_body() -> None:
    assert "header" in rejected("decentlab-dl-ds18", "02023d", 1)
    message = rejected("decentlab-dl-ds18", "02023d0003815e0c", 1)
    assert "needs bytes 5–8 but the payload has 8 bytes" in message


def test_decentlab_oversized_body() -> None:
    message = rejected("decentlab-dl-ds18", "02023d0003815e0c1500", 1)
    assert "announce 9 bytes, got 10; unexpected data from byte 9" in message


def test_decentlab_flags_for_sensors_the_model_lacks() -> None:
    message = rejected("decentlab-dl-ds18", "02023d0007815e0c150000", 1)
    assert "flags 0x0007 at bytes 3–4" in message


def test_decentlab_wrong_port() -> None:
    assert "unknown FPort 2" in rejected("decentlab-dl-ds18", "02023d0003815e0c15", 2)


def test_dragino_wrong_port_is_the_vendors_unknown_fport() -> None:
    message = rejected("dragino-lsn50v2-d20", "0b54000000000000fc0205", 42)
    assert "unknown FPort 42" in message
    assert "FPort 2" in message


def test_dragino_wrong_size() -> None:
    message = rejected("dragino-laq4", "0d07050012020b00fb01", 2)
    assert "LAQ4 frames on FPort 2 are 11 bytes, got 10" in message


def test_dragino_lsn50_3adc_mode_needs_twelve_bytes() -> None:
    assert "12 bytes" in rejected("dragino-lsn50v2-d20", "0b54000000000800fc0205", 2)


def test_dragino_laq4_unknown_work_mode() -> None:
    assert "unknown work mode 2 in byte 2" in rejected("dragino-laq4", "0d07090012020b00fb01b3", 2)


def test_elsys_unknown_type_and_truncation() -> None:
    assert "unknown Elsys data type 0x7f at byte 3" in rejected("elsys-ers", "0100e27f", 1)
    message = rejected("elsys-ers", "0100e20600", 1)
    assert "co2 (type 0x06 at byte 3) needs bytes 4–5" in message


def test_milesight_unknown_channel_and_truncation() -> None:
    message = rejected("milesight-am103", "01755c0567", 85)
    assert "unknown channel 0x05 type 0x67 at byte 3" in message
    message = rejected("milesight-em500-pt100", "01755c0367", 85)
    assert "temperature (channel 0x03 at byte 3) needs bytes 5–6" in message
    assert "has no type" in rejected("milesight-am103", "01755c03", 85)


def test_bad_input_never_raises_anything_but_decode_error() -> None:
    for decoder in all_decoders():
        for payload in (b"\x00", b"\xff" * 7, b"\x02" * 40):
            for port in (None, 1, 2, 85, 256, -1):
                try:
                    decode(decoder.id, payload, port)
                except DecodeError as exc:
                    assert "internal decoder fault" not in str(exc)
