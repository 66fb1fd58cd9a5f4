"""Audit requirements.lock for known vulnerabilities with pip-audit; offline-safe.

    .venv/bin/python scripts/audit_dependencies.py [requirements.lock]

Exit status: 1 when a locked package has a known vulnerability (each is listed with its
fix versions); 0 when none has, and also 0, with a warning, when the advisory service
cannot be reached or knows none of the packages (an offline machine or a mirror without
PyPI's JSON API): a test run must not go red because the network is away. Set
WHERRY_AUDIT_STRICT=1 (a CI with network) to make that case fail too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 20


@dataclass(frozen=True)
class Verdict:
    failed: bool
    message: str


def judge(exit_status: int, report: dict[str, Any] | None, stderr: str, *, strict: bool) -> Verdict:
    """What one pip-audit run means: a finding fails; no data fails only when `strict`."""
    if report is None:
        last = stderr.strip().splitlines()[-1:] or ["no output"]
        return Verdict(strict, f"advisory service unreachable, audit skipped: {last[0][:300]}")
    dependencies = report.get("dependencies", [])
    findings = [
        f"{dep['name']} {dep.get('version', '?')}: {vuln['id']} (fixed in "
        f"{', '.join(vuln.get('fix_versions') or ['no release yet'])})"
        for dep in dependencies
        for vuln in dep.get("vulns", [])
    ]
    if findings:
        return Verdict(True, "known vulnerabilities:\n  " + "\n  ".join(findings))
    audited = [dep for dep in dependencies if "skip_reason" not in dep]
    if not audited:
        return Verdict(
            strict,
            f"advisory data unavailable for all {len(dependencies)} packages "
            "(offline, or a mirror without PyPI's JSON API): audit skipped",
        )
    if exit_status != 0:
        return Verdict(True, f"pip-audit failed ({exit_status}): {stderr.strip()[-300:]}")
    skipped = len(dependencies) - len(audited)
    note = f" ({skipped} not found on PyPI)" if skipped else ""
    return Verdict(False, f"no known vulnerabilities in {len(audited)} packages{note}")


def main(argv: list[str]) -> int:
    lock = Path(argv[1]) if len(argv) > 1 else ROOT / "requirements.lock"
    pip_audit = Path(sys.executable).parent / "pip-audit"
    strict = os.environ.get("WHERRY_AUDIT_STRICT", "") not in ("", "0", "false")
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "audit.json"
        run = subprocess.run(
            [
                str(pip_audit), "--requirement", str(lock), "--no-deps", "--disable-pip",
                "--progress-spinner", "off", "--timeout", str(TIMEOUT_S),
                "--format", "json", "--output", str(output),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )  # fmt: skip
        report = json.loads(output.read_text()) if output.is_file() else None
    verdict = judge(run.returncode, report, run.stderr, strict=strict)
    stream = sys.stderr if verdict.failed else sys.stdout
    prefix = "pip-audit: " if not verdict.failed else "pip-audit FAILED: "
    print(prefix + verdict.message, file=stream)
    return 1 if verdict.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
