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
    "tests.unit.registry.registry_behaviour",
    "tests.unit.registry.registry_edits_behaviour",
    "tests.unit.registry.registry_alerting_behaviour",
    "tests.unit.registry.registry_lease_behaviour",
)


# Under pytest-xdist (`scripts/test` runs two workers), each group below runs on one
# worker, in order: the fault tests time stops and restarts, so they must not compete
# with each other for the two cores; the browser tests share one wherry and one Chromium
# per worker. Long tests go first, so neither worker is left with a long tail.
GROUPS = (("faults", "tests/faults/"), ("e2e", "tests/e2e/"))
FIRST = ("tests/faults/", "tests/e2e/", "tests/api/test_openapi_fuzz.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for group, folder in GROUPS:
            if item.nodeid.startswith(folder):
                item.add_marker(pytest.mark.xdist_group(group))

    def rank(item: pytest.Item) -> int:
        starts = [n for n, prefix in enumerate(FIRST) if item.nodeid.startswith(prefix)]
        return starts[0] if starts else len(FIRST)

    items.sort(key=rank)  # stable: the order within each part is kept
