"""deploy/compose.yaml, checked structurally (no `docker compose config` here): every
service is built or pulled, restarts, is health-checked where something waits on it,
takes every secret from .env, and depends only on services that exist."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.compose_file import (
    BARE_REFERENCE,
    ENV_EXAMPLE,
    compose,
    env_example,
    environment,
    interpolate,
    references,
    required_in_env_example,
    services,
    strings,
)
from tests.deploy.paths import DEPLOY

ONE_SHOTS = {"influxdb-init", "wherry-migrate"}
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|_KEY$", re.IGNORECASE)
SERVICES = sorted(services())


def test_the_installation_has_every_part_issue_9_names() -> None:
    assert set(SERVICES) == {
        "mosquitto",
        "influxdb",
        "influxdb-init",
        "postgres",
        "wherry-migrate",
        "wherry-bridge",
        "wherry-api",
        "grafana",
    }


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_has_an_image_a_restart_policy_and_health(name: str) -> None:
    service = services()[name]
    assert "image" in service or "build" in service
    image = str(service.get("image", ""))
    assert not image.endswith(":latest") and (":" in image or "build" in service), image
    if name in ONE_SHOTS:
        assert service["restart"] == "no"
        return
    assert service["restart"] in ("unless-stopped", "always", "on-failure")
    health = service.get("healthcheck")
    assert health, f"{name} has no healthcheck"
    if health.get("disable"):
        # Only the bridge: it serves no HTTP, and nothing waits for it to be healthy.
        assert name == "wherry-bridge"
        assert all(name not in (other.get("depends_on") or {}) for other in services().values())
    else:
        assert health["test"][0] in ("CMD", "CMD-SHELL")


def test_the_wherry_services_run_bridge_and_api_apart_after_migrate() -> None:
    names = ("wherry-bridge", "wherry-api", "wherry-migrate")
    bridge, api, migrate = (services()[name] for name in names)
    assert bridge["command"] == ["run"] and environment(bridge)["WHERRY_SERVE_API"] == "false"
    assert api["command"] == ["api"] and migrate["command"] == ["migrate"]
    for service in (bridge, api):
        depends = service["depends_on"]
        assert depends["wherry-migrate"]["condition"] == "service_completed_successfully"
        assert depends["influxdb-init"]["condition"] == "service_completed_successfully"
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    # Each wherry process keeps its own spool: no data volume shared between two of them.
    mounts = [v.split(":")[0] for s in (bridge, api, migrate) for v in s["volumes"]]
    assert len(mounts) == len(set(mounts))
    assert int(str(bridge["stop_grace_period"]).rstrip("s")) > 30  # the 30 s SIGTERM flush


def test_influxdb_is_initialised_with_a_dbrp_mapping_and_v1_users() -> None:
    influx = environment(services()["influxdb"])
    for name in ("MODE", "USERNAME", "PASSWORD", "ORG", "BUCKET", "ADMIN_TOKEN"):
        assert f"DOCKER_INFLUXDB_INIT_{name}" in influx
    init = services()["influxdb-init"]
    script_mount = next(v for v in init["volumes"] if v.endswith(":/init-v1.sh:ro"))
    script = (DEPLOY / script_mount.split(":")[0]).read_text()
    assert "influx v1 dbrp create" in script and "influx v1 auth create" in script
    assert "--read-bucket" in script and "--write-bucket" in script
    assert init["depends_on"]["influxdb"]["condition"] == "service_healthy"


def test_mosquitto_has_passwords_acl_tls_and_the_queue_settings() -> None:
    mosquitto = services()["mosquitto"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in mosquitto["volumes"]}
    config = (DEPLOY / mounts["/mosquitto/config/mosquitto.conf"]).read_text()
    assert "allow_anonymous false" in config and "listener 8883" in config
    assert mounts["/mosquitto/certs"] == "mosquitto-certs"
    included = (DEPLOY / mounts["/mosquitto/config/conf.d/wherry.conf"]).read_text()
    assert "max_queued_messages 0" in included and "max_inflight_messages 1000" in included
    assert mosquitto["ports"] == ["${MQTT_TLS_PORT:-8883}:8883"]  # plain 1883 stays inside


def test_no_secret_is_written_into_the_file() -> None:
    for name, service in services().items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert value.startswith("${"), f"{name}.{key} is a literal: take it from .env"
        for text in strings(service):
            # user:password@ in a URL must be a variable, never a literal password
            for credentials in re.findall(r"://[^:/@\s]+:([^@\s]+)@", text):
                assert credentials.startswith("${"), f"{name}: literal password in {text!r}"


def test_every_variable_is_in_env_example_and_every_secret_must_be_set() -> None:
    used = {name for text in strings(compose()) for name in references(text)}
    documented = env_example()
    assert used - set(documented) == set(), "add these to deploy/.env.example"
    for text in strings(compose()):
        for match in re.finditer(r"\$\{([A-Z_]+)(:?[-?])?", text):
            if SECRET_NAME.search(match.group(1)):
                assert match.group(2) == ":?", f"{match.group(1)} must be required (${{…:?…}})"
    # Required secrets are empty in the example: nothing secret is committed.
    for name in required_in_env_example():
        assert documented[name] == "", f"{name} has a value in .env.example"
    # Bare $NAME would be interpolated by compose too; only ${NAME} and $$ are used.
    for text in strings(compose()):
        assert not BARE_REFERENCE.findall(text.replace("$$", "")), text


def test_compose_refuses_to_start_without_the_secrets() -> None:
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate(str(services()["postgres"]["environment"]), {})
    filled = {name: "x" * 48 for name in required_in_env_example()} | {"MQTT_TLS_DIR": "/srv/tls"}
    for text in strings(compose()):
        interpolate(text, filled)  # every required variable is satisfied by .env's names


def test_depends_on_names_existing_services_and_volumes_are_declared() -> None:
    document = compose()
    declared = set(document["volumes"])
    for name, service in services().items():
        for target, condition in (service.get("depends_on") or {}).items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            expected = (
                "service_completed_successfully" if target in ONE_SHOTS else "service_healthy"
            )
            assert condition["condition"] == expected, f"{name} → {target}"
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists() or source.endswith("/passwd"), source
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
    used = {str(v).split(":")[0] for s in services().values() for v in s.get("volumes", [])}
    assert declared <= used, "declared but unused volumes"


def test_only_mosquitto_tls_is_published_beyond_loopback_by_default() -> None:
    for name, service in services().items():
        for port in service.get("ports", []):
            if name == "mosquitto":
                continue
            assert str(port).startswith("${") and "127.0.0.1" in str(port), (name, port)


def test_the_passwd_file_and_env_are_never_committed() -> None:
    ignored = (DEPLOY / "mosquitto" / ".gitignore").read_text().split()
    assert "passwd" in ignored
    root_ignores: Any = (DEPLOY / ".gitignore").read_text().split()
    assert ".env" in root_ignores
    assert ENV_EXAMPLE.exists()
