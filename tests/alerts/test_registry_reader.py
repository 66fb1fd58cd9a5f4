"""The engine's view of the registry, refreshed every minute: road sensors per route (not the
weather station beside them), and a retired device stops being watched, its alerts cleared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.model import Condition
from alerts.policy import GrittingPolicy
from alerts.rules import DeviceHealth
from decoders import QUANTITIES, all_decoders
from storage.registry import Registry, parse_device_csv, parse_route_csv
from wherry.alerting import RegistryReader

NS_PER_MINUTE = 60_000_000_000
T0 = 1_768_413_600_000_000_000
DEVICES = (
    "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,field_map\n"
    "rst-1,70b3d57ed0000a01,,decentlab-dl-ds18,road,bank,,,false,,\n"
    "rst-2,70b3d57ed0000a02,,decentlab-dl-ds18,road,bank,,,false,,\n"
    "weather,70b3d57ed0000a03,,cayenne-lpp,road,bank,,,false,,\n"
)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    registry = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    registry.migrate()
    routes = parse_route_csv("route_id,name,length_km,priority,area\nbank,Bank,6.4,1,\n")
    registry.apply_route_import(routes.rows, actor="test")
    devices = parse_device_csv(
        DEVICES,
        known_decoders={d.id for d in all_decoders()},
        known_quantities=set(QUANTITIES),
        known_routes={"bank"},
    )
    assert not devices.errors, devices.errors
    registry.apply_device_import(devices.rows, actor="test")
    yield registry
    registry.close()


def test_retired_devices_stop_being_watched_and_their_alerts_clear(registry: Registry) -> None:
    health = DeviceHealth()
    reader = RegistryReader(registry, GrittingPolicy(), [health])
    reported: list[Condition] = []
    reader.report = reported.append

    [plan] = reader()
    health.advance(T0)
    silent = [c for c in health.advance(T0 + 120 * NS_PER_MINUTE) if c.rule == "silent"]
    registry.retire_device("rst-2", actor="test")
    [after] = reader()

    assert plan.sensors == {"rst-1", "rst-2"}  # the weather station measures no road surface
    assert {c.device_id for c in silent if c.active} == {"rst-1", "rst-2", "weather"}
    assert after.sensors == {"rst-1"}
    assert [(c.key, c.active) for c in reported] == [("silent:rst-2", False)]
