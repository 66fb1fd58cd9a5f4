"""deploy/Dockerfile, checked structurally (no image is built in the tests): a builder
stage makes wheels, the final stage installs them without build tools and runs as a
non-root user with the data folder and a health check; .dockerignore keeps the context small."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field

from tests.deploy.paths import DEPLOY, REPO

DOCKERFILE = DEPLOY / "Dockerfile"
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|build-essential|make|clang|python3?-dev|libpq-dev)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [argument for kw, argument in self.instructions if kw == keyword]


def stages() -> list[Stage]:
    """Instructions per FROM, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found: list[Stage] = []
    arguments: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, argument = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not found:
            name, _, default = argument.partition("=")
            arguments[name] = default
            continue
        if keyword == "FROM":
            words = argument.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: arguments[m[1]], words[0])
            found.append(Stage(base, words[2] if len(words) > 2 else None))
            continue
        found[-1].instructions.append((keyword, argument.strip()))
    return found


def test_two_stages_on_python_3_11_slim() -> None:
    builder, final = stages()
    assert builder.base == final.base == "python:3.11-slim"
    assert builder.name == "builder" and final.name is None
    assert any("pip wheel" in run for run in builder.all("RUN"))


def test_the_final_stage_installs_the_builders_wheels_offline_without_build_tools() -> None:
    final = stages()[-1]
    runs = " ".join(final.all("RUN"))
    assert "from=builder" in runs and "--no-index" in runs and "wherry[postgres]" in runs
    assert not BUILD_TOOLS.search(runs), BUILD_TOOLS.search(runs)
    assert "apt-get" not in runs
    copied = " ".join(final.all("COPY"))
    assert "--from=builder" not in copied or "/wheels" not in copied  # wheels not kept


def test_the_final_stage_runs_as_a_non_root_user_with_the_data_dir_and_a_health_check() -> None:
    final = stages()[-1]
    users = final.all("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    env = " ".join(final.all("ENV"))
    assert "WHERRY_DATA_DIR=/var/lib/wherry" in env
    assert "/var/lib/wherry" in " ".join(final.all("VOLUME"))
    (health,) = final.all("HEALTHCHECK")
    assert "wherry-healthcheck" in health and "/healthz" in health
    assert final.all("ENTRYPOINT") == ['["wherry"]']


def test_the_builder_copies_every_package_pyproject_ships() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    packages = re.search(r"include = \[(.*?)\]", pyproject)
    assert packages is not None
    wanted = {name.strip().strip('"').rstrip("*") for name in packages.group(1).split(",")}
    sources = [word for argument in stages()[0].all("COPY") for word in argument.split()[:-1]]
    assert wanted <= set(sources), wanted - set(sources)
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: no such file in the checkout"
    lines = (REPO / ".dockerignore").read_text().splitlines()
    ignore = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*", ".dockerignore should let in only what the build copies"
    for source in sources:
        assert f"!{source}" in ignore or f"!{source}/" in ignore, f"{source} is ignored"


def test_the_health_check_script_answers_for_a_real_server_and_fails_without_one() -> None:
    # The script the image runs, against a stand-in HTTP server on a free port.
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory",
         str(DEPLOY)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        match = re.search(r"port (\d+)", banner)
        assert match is not None, banner
        port = int(match.group(1))
        script = str(DEPLOY / "healthcheck.py")
        ok = subprocess.run([sys.executable, script, f"http://127.0.0.1:{port}/Dockerfile"])
        missing = subprocess.run(
            [sys.executable, script, f"http://127.0.0.1:{port}/no-such-path"],
            capture_output=True, text=True,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert ok.returncode == 0
    assert missing.returncode == 1 and "did not answer 200" in missing.stderr
