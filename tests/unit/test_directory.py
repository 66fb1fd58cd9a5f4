"""The bridge's device directory: lookups by id and DevEUI, refreshed without asking per message."""

from __future__ import annotations

from pathlib import Path

from gateway_bridge.directory import DeviceDirectory
from gateway_bridge.uplink import Uplink
from storage.registry import DeviceRecord, Registry
from tests.unit.registry.registry_edits_behaviour import CATALOGUE, draft
from tests.unit.test_points import device


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def uplink(device_id: str, dev_eui: str | None = None, network: str = "ttn") -> Uplink:
    return Uplink(
        network=network,  # type: ignore[arg-type]
        device_id=device_id,
        application_id="a",
        received_at_ns=1,
        payload=b"",
        dev_eui=dev_eui,
    )


def test_finds_by_device_id_then_by_dev_eui() -> None:
    known = [device(device_id="rst-01", dev_eui="70b3d57ed0000001")]
    directory = DeviceDirectory(lambda: known)
    assert directory.find(uplink("rst-01")) is known[0]
    assert directory.find(uplink("renamed-on-ttn", "70B3D57ED0000001")) is known[0]
    assert directory.find(uplink("stranger", "0000000000000001")) is None


def test_chirpstack_is_looked_up_by_dev_eui_first() -> None:
    a = device(device_id="a-name", dev_eui="70b3d57ed0000001")
    b = device(device_id="b-name", dev_eui="70b3d57ed0000002")
    directory = DeviceDirectory(lambda: [a, b])
    assert directory.find(uplink("a-name", "70b3d57ed0000002", network="chirpstack")) is b


def test_a_device_registered_later_is_found_after_the_miss_interval() -> None:
    clock = Clock()
    devices: list[DeviceRecord] = []
    loads = []

    def load() -> list[DeviceRecord]:
        loads.append(clock.now)
        return list(devices)

    directory = DeviceDirectory(load, refresh=60, miss_refresh=5, clock=clock)
    devices.append(device(device_id="new-01"))
    assert directory.find(uplink("new-01")) is None  # just loaded: not asked again yet
    clock.now = 6
    assert directory.find(uplink("new-01")) is not None
    clock.now = 7
    for _ in range(100):
        directory.find(uplink("stranger"))
    assert len(loads) == 2  # misses within the interval do not hammer the registry


def test_retired_devices_are_not_found() -> None:
    directory = DeviceDirectory(lambda: [device(device_id="old", status="retired")])
    assert directory.find(uplink("old")) is None


def test_a_device_registered_through_the_registry_is_found_by_the_next_uplink(
    tmp_path: Path,
) -> None:
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.migrate()
    clock = Clock()
    directory = DeviceDirectory(registry.devices, clock=clock)
    registry.on_devices_changed(directory.expire)
    try:
        assert directory.find(uplink("road-01")) is None  # a sighting: the miss reloaded now
        registry.create_device(draft(route_id=None), actor="ana", catalogue=CATALOGUE)
        found = directory.find(uplink("road-01"))  # no time has passed on the directory's clock
        assert found is not None and found.device_id == "road-01"

        registry.retire_device("road-01", actor="ana")
        assert directory.find(uplink("road-01")) is None
    finally:
        registry.close()
