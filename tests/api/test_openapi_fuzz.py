"""schemathesis against the live application's OpenAPI document, with an admin key.

A real uvicorn server over a real SQLite registry and store, seeded with a route and
devices so the generated requests reach real code paths. The run must find no 5xx
and no response that breaks the documented schema.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from api.app import create_app
from api.roles import Role
from tests.api_support import make_key, make_services
from tests.servers import free_port
from wherry.api_server import ApiServer
from wherry.imports import import_devices_file, import_routes_file
from wherry.settings import Settings

pytestmark = pytest.mark.integration

DEMO_DATA = Path(__file__).resolve().parents[2] / "wherry" / "demo" / "data"


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    settings = Settings.model_construct().model_copy(update={"data_dir": tmp_path})
    for load, csv in ((import_routes_file, "routes.csv"), (import_devices_file, "devices.csv")):
        assert load(settings, DEMO_DATA / csv, dry_run=False, echo=lambda _: None) == 0
    services = make_services(tmp_path)
    token = make_key(services, Role.admin, "schemathesis")
    server = ApiServer(create_app(services), "127.0.0.1", free_port())
    server.start()
    try:
        command = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
        assert command is not None, "schemathesis is a test dependency: pip install -e '.[test]'"
        run = subprocess.run(
            [
                command, "run", f"{server.url}/openapi.json",
                "--header", f"Authorization: Bearer {token}",
                "--checks", "not_a_server_error,response_schema_conformance",
                "--max-examples", "10",
                "--seed", "20261122",
                "--max-time", "150",
                "--workers", "1",  # CPython 3.11's ast.parse is not thread-safe
                "--suppress-health-check", "all",
            ],
            capture_output=True,
            text=True,
            timeout=420,
        )  # fmt: skip
    finally:
        server.stop()
        services.registry.close()
        services.store.close()
    (tmp_path / "schemathesis.txt").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-2000:]
