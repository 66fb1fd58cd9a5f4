"""A pupil copies the open-data page's Python example as the page shows it, runs it, and it
prints this server's real readings: no key, nothing to install."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import expect

from tests.e2e import story
from tests.e2e.conftest import OpenPage, Site

HOURLY_ROW = re.compile(r"^(\d{4}-\d\d-\d\dT\S+) (-?\d+(?:\.\d+)?) (\S+)$", re.MULTILINE)


def test_the_python_example_fetches_real_data(
    open_page: OpenPage, site: Site, tmp_path: Path
) -> None:
    page = open_page("/open")
    expect(page.get_by_role("heading", name="Ten lines of Python")).to_be_visible()
    program = page.locator("#python-example").inner_text()
    assert f"{site.url}/api/v1/open" in program, program
    assert len(program.strip().splitlines()) <= 14, program
    assert page.locator("#curl-example").inner_text().startswith("curl ")

    (tmp_path / "example.py").write_text(program)
    result = subprocess.run(
        [sys.executable, "example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, f"{program}\n---\n{result.stderr}"
    printed = result.stdout
    assert story.CLASSROOM in printed and story.PLAYGROUND in printed, printed
    assert "rst-" not in printed, f"a private road sensor is in the open data:\n{printed}"
    rows = HOURLY_ROW.findall(printed)
    assert len(rows) >= 20, printed  # a day of a school's sensor, hourly
    values = [float(value) for _, value, _ in rows]
    units = {unit for _, _, unit in rows}
    assert units <= {"°C", "%"}, units
    assert all(-10 < value < 100 for value in values), values
    assert len(set(values)) > 5, values  # a day's weather, not one number again and again
