"""What every fault test starts from: its own `influxd` (tests kill it) and a registered
fleet for a `wherry run` that the test starts and stops itself.

A test module sets `FLEET` and, if it needs them, `SETTINGS` (extra `WHERRY_*` values by
setting name) for its `bridge`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers
from tests.faults.harness import Wherry, influx_url, own_influxd, prepare_wherry, running


@pytest.fixture
def influxd(tmp_path: Path) -> Iterator[servers.ServerProcess]:
    with own_influxd(tmp_path / "influxd") as server:
        yield server


@pytest.fixture
def bridge(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    influxd: servers.ServerProcess,
    mosquitto_server: servers.ServerProcess,
) -> Iterator[Wherry]:
    prepared = prepare_wherry(
        tmp_path,
        request.module.FLEET,
        store_url=influx_url(influxd),
        mqtt_port=mosquitto_server.port,
        **getattr(request.module, "SETTINGS", {}),
    )
    with running(prepared):
        yield prepared
