"""The pipeline end to end in one process: real SQLite store and registry, no broker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway_bridge.uplink import RawMessage
from storage import open_store
from storage.registry import Registry
from storage.registry.csv_import import parse_device_csv
from tests.uplinks import dl_ds18_payload, encode, ttn_topic, ttn_uplink
from wherry.bridge import Bridge, build_bridge
from wherry.settings import Settings

DEVICES = (
    "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,field_map\n"
    "rst-01,70b3d57ed0000001,Hill,decentlab-dl-ds18,road,,,,false,council,\n"
)


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.migrate()
    parsed = parse_device_csv(
        DEVICES, known_decoders={"decentlab-dl-ds18"}, known_quantities=set(), known_routes=set()
    )
    assert not parsed.errors
    registry.apply_device_import(parsed.rows, actor="test")
    store = open_store(f"sqlite:///{tmp_path / 'readings.db'}")
    settings = Settings.model_construct().model_copy(
        update={"flush_interval": 0.05, "data_dir": tmp_path}
    )
    running = build_bridge(settings, store, registry)
    yield running
    running.close(timeout=2)
    store.close()
    registry.close()


def message(body: bytes, acks: list[str], name: str, device_id: str = "rst-01") -> RawMessage:
    return RawMessage(ttn_topic(device_id), body, time.time_ns(), lambda: acks.append(name))


def good(f_cnt: int, payload: bytes | None = None, device_id: str = "rst-01") -> bytes:
    return encode(
        ttn_uplink(
            device_id,
            received_at_ns=1_768_446_000_000_000_000 + f_cnt,
            f_cnt=f_cnt,
            payload=payload if payload is not None else dl_ds18_payload(1, -1.5),
        )
    )


def test_every_message_is_acknowledged_once_after_its_result_is_kept(bridge: Bridge) -> None:
    acks: list[str] = []
    handle = bridge.pipeline.handle
    handle(message(good(1), acks, "stored"))
    handle(message(good(2, payload=b"\x02"), acks, "decode-error"))
    handle(message(b"{not json", acks, "malformed"))
    handle(message(good(3, device_id="stranger"), acks, "sighting", device_id="stranger"))
    handle(message(b'{"end_device_ids": {"device_id": "rst-01"}}', acks, "not-an-uplink"))
    assert bridge.flush(10)
    assert sorted(acks) == sorted(
        ["stored", "decode-error", "malformed", "sighting", "not-an-uplink"]
    )

    assert bridge.store.count("uplink", "f_cnt") == 2
    [reading] = bridge.store.query("reading")
    assert reading.fields["road_surface_temperature"] == -1.5
    assert bridge.registry.dead_letter_counts() == {
        "decode_error": 1,
        "malformed_json": 1,
        "invalid_envelope": 1,
    }
    assert [s.device_id for s in bridge.registry.sightings()] == ["stranger"]
    counts = bridge.counters.snapshot()
    assert counts["messages_received"] == 5
    assert counts["uplinks_accepted"] == 2
    assert counts["unregistered_sightings"] == 1


def test_acknowledged_only_once_spooled_while_the_store_refuses_to_write(
    bridge: Bridge, tmp_path: Path
) -> None:
    acks: list[str] = []
    bridge.store.close()  # a closed store is an unavailable one
    bridge.pipeline.handle(message(good(1), acks, "stored"))
    time.sleep(0.3)  # the first write failed; a second try follows before the spool
    assert acks == []
    assert bridge.sinks.points.depth == 2
    assert bridge.flush(10)
    assert acks == ["stored"]
    assert bridge.spool is not None and bridge.spool.status().items == 2
