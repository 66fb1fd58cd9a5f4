"""The systemd units: `systemd-analyze verify` on the real files (ExecStart pointed at the
wherry this checkout installed), and the sandboxing and stop semantics issue #9 asks for."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.paths import VENV_BIN
from tests.deploy.units import SERVICES, UNITS, directives, environment_file, one

INSTALLED = "/opt/wherry/bin/wherry"


def installed_copies(folder: Path) -> list[Path]:
    """The units as installed, except ExecStart names this checkout's wherry (the only
    change: /opt/wherry does not exist on a test machine, and verify checks the binary)."""
    copies = []
    for name in SERVICES:
        text = (UNITS / f"{name}.service").read_text(encoding="utf-8")
        assert INSTALLED in text
        copy = folder / f"{name}.service"
        copy.write_text(text.replace(INSTALLED, str(VENV_BIN / "wherry")), encoding="utf-8")
        copies.append(copy)
    return copies


def analyze(*units: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
    if not Path(binary).exists():
        pytest.skip("systemd-analyze is not installed (Debian: package systemd)")
    return subprocess.run(
        [binary, "verify", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=units[0].parent,
    )


def test_systemd_analyze_verify_accepts_every_unit_without_a_warning(tmp_path: Path) -> None:
    result = analyze(*installed_copies(tmp_path))
    assert result.returncode == 0, result.stderr
    # verify exits 0 for directives it ignores ("Unknown key", "Failed to parse"): any
    # line about our files is a defect.
    ours = [line for line in result.stderr.splitlines() if "wherry" in line]
    assert ours == [], "\n".join(ours)


def test_verify_does_report_a_broken_unit(tmp_path: Path) -> None:
    # The check above is only worth something if verify notices mistakes here.
    (copy, *_) = installed_copies(tmp_path)
    copy.write_text(copy.read_text().replace("ProtectSystem=strict", "ProtectSystem=strikt"))
    assert "protect system value" in analyze(copy).stderr
    missing = tmp_path / "missing.service"
    missing.write_text((UNITS / "wherry-api.service").read_text())
    result = analyze(missing)
    assert result.returncode != 0 and "/opt/wherry/bin/wherry" in result.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_each_unit_is_sandboxed(name: str) -> None:
    unit = directives(UNITS / f"{name}.service")
    service = unit["Service"]
    assert one(unit, "Service", "User") == "wherry" and "DynamicUser" not in service
    expected = {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
    }
    for key, value in expected.items():
        assert one(unit, "Service", key) == value, key
    assert one(unit, "Service", "EnvironmentFile") == "/etc/wherry/wherry.env"
    assert (one(unit, "Service", "ExecStart") or "").startswith(INSTALLED + " ")
    # ProtectSystem=strict leaves nothing writable but what is named: no ReadWritePaths
    # to system folders, only the StateDirectory.
    assert "ReadWritePaths" not in service


@pytest.mark.parametrize("name", ["wherry-bridge", "wherry-api"])
def test_long_running_units_keep_state_restart_and_stop_after_the_flush(name: str) -> None:
    unit = directives(UNITS / f"{name}.service")
    state = one(unit, "Service", "StateDirectory")
    assert state == f"wherry/{name.removeprefix('wherry-')}"
    assert f"WHERRY_DATA_DIR=%S/{state}" in unit["Service"]["Environment"]
    assert one(unit, "Service", "Restart") == "on-failure"
    timeout = one(unit, "Service", "TimeoutStopSec")
    assert timeout is not None and int(timeout.rstrip("s")) >= 60  # flush takes up to 30 s
    assert one(unit, "Unit", "Requires") == "wherry-migrate.service"
    assert "wherry-migrate.service" in (one(unit, "Unit", "After") or "").split()
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


def test_the_bridge_runs_without_the_api_and_the_api_without_the_bridge() -> None:
    bridge = directives(UNITS / "wherry-bridge.service")
    api = directives(UNITS / "wherry-api.service")
    assert "WHERRY_SERVE_API=false" in bridge["Service"]["Environment"]
    assert one(bridge, "Service", "ExecStart") == f"{INSTALLED} run"
    assert one(api, "Service", "ExecStart") == f"{INSTALLED} api"


def test_migrate_is_a_oneshot_that_stays_active() -> None:
    unit = directives(UNITS / "wherry-migrate.service")
    assert one(unit, "Service", "Type") == "oneshot"
    assert one(unit, "Service", "RemainAfterExit") == "yes"
    assert one(unit, "Service", "ExecStart") == f"{INSTALLED} migrate"


def test_the_example_environment_file_leaves_data_dir_to_the_units() -> None:
    # EnvironmentFile= wins over Environment=: a WHERRY_DATA_DIR there would make bridge and
    # API share one spool.
    values = environment_file(UNITS / "wherry.env.example")
    assert "WHERRY_DATA_DIR" not in values and "WHERRY_SERVE_API" not in values
    assert {"WHERRY_MQTT_URL", "WHERRY_STORE_URL", "WHERRY_REGISTRY_URL"} <= set(values)
    assert all("CHANGE-ME" in v for k, v in values.items() if k.endswith("_URL"))
