"""`wherry keys` leaves the data dir alone when the registry lives elsewhere: run from a
service user's folder it could not write, it would otherwise fail."""

from __future__ import annotations

from pathlib import Path

from tests.cli_in_process import wherry_here


def test_keys_create_and_list_touch_no_data_dir_when_the_registry_is_elsewhere(
    tmp_path: Path,
) -> None:
    env = {
        "WHERRY_DATA_DIR": str(tmp_path / "not-here"),
        "WHERRY_REGISTRY_URL": f"sqlite:///{tmp_path / 'registry' / 'registry.db'}",
    }
    created = wherry_here("keys", "create", "--role", "reader", "--label", "pupil", env=env)
    assert created.returncode == 0, created.stdout + created.stderr
    listed = wherry_here("keys", "list", env=env)
    assert listed.returncode == 0 and "pupil" in listed.stdout
    assert (tmp_path / "registry" / "registry.db").exists()
    assert not (tmp_path / "not-here").exists()
