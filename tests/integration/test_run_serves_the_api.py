"""`wherry run` serves the HTTP API beside the bridge; `wherry keys create` issues a working key."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port
from tests.wherry_process import WherryRun, wherry

pytestmark = pytest.mark.integration


def wait_for_http(url: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_run_serves_health_metrics_and_keyed_routes(tmp_path: Path) -> None:
    port = free_port()
    env = {"WHERRY_DATA_DIR": str(tmp_path / "data"), "WHERRY_API_PORT": str(port)}
    created = wherry("keys", "create", "--role", "admin", "--label", "ops test", env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("wherry_")
    listing = wherry("keys", "list", env=env)
    assert "ops test" in listing.stdout and token not in listing.stdout

    run = WherryRun(env, tmp_path / "wherry.log")
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_for_http(f"{base}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert "wherry_api_request_seconds" in httpx.get(f"{base}/metrics").text
        assert httpx.get(f"{base}/api/v1/keys").status_code == 401
        keys = httpx.get(f"{base}/api/v1/keys", headers={"Authorization": f"Bearer {token}"})
        assert keys.status_code == 200 and keys.json()[0]["label"] == "ops test"
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "wherry"
    finally:
        status = run.terminate()
    assert status == 0, run.log
    assert token not in run.log

    revoked = wherry("keys", "revoke", token.split("_")[1], env=env)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    bad = wherry("keys", "create", "--role", "wizard", "--label", "x", env=env)
    assert bad.returncode == 2 and "--role 'wizard'" in bad.stderr
