"""Session-wide fixtures: real Mosquitto and InfluxDB processes, started once and stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def mosquitto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.ServerProcess]:
    server = servers.mosquitto(tmp_path_factory.mktemp("mosquitto"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influxd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.ServerProcess]:
    server = servers.influxd(tmp_path_factory.mktemp("influxd"))
    yield server
    server.stop()


# Shared behaviour modules are imported by several test files; rewrite their asserts too.
pytest.register_assert_rewrite(
    "tests.unit.registry.registry_behaviour", "tests.unit.registry.registry_edits_behaviour"
)
