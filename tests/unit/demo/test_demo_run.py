"""Starting the demo: its port for the pages, and a data directory of its own."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from wherry.demo import run
from wherry.demo.run import DemoError, choose_port, fresh_data_dir


@pytest.fixture()
def taken_port() -> Iterator[int]:
    """A port something is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_a_taken_port_asked_for_is_refused_with_what_to_do(taken_port: int) -> None:
    with pytest.raises(DemoError, match=r"port \d+ is taken .*--port"):
        choose_port(taken_port)


def test_port_zero_picks_a_free_port() -> None:
    port, note = choose_port(0)
    assert port > 0 and note is None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_the_default_port_falls_back_to_a_free_one_and_says_so(
    taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run, "DEFAULT_PORT", taken_port)
    port, note = choose_port(None)
    assert port != taken_port
    assert note == f"port {taken_port} is taken, so the pages are on port {port} instead"


def test_a_previous_demos_night_is_cleared(tmp_path: Path) -> None:
    data = tmp_path / "wherry-demo-data"
    (data / "spool").mkdir(parents=True)
    for name in ("readings.db", "registry.db", "registry.db-wal", "session.key"):
        (data / name).write_text("last night")
    fresh_data_dir(data)
    assert data.is_dir() and list(data.iterdir()) == []


def test_a_directory_with_other_files_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("mine")
    (tmp_path / "readings.db").write_text("?")
    with pytest.raises(DemoError, match=r"thesis\.tex.*--data-dir"):
        fresh_data_dir(tmp_path)
    assert (tmp_path / "thesis.tex").read_text() == "mine"
    assert (tmp_path / "readings.db").exists()


def test_a_new_directory_is_made(tmp_path: Path) -> None:
    fresh_data_dir(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()
