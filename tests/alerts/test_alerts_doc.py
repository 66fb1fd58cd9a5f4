"""docs/alerts.md lists every gritting-policy setting with its default: a test keeps it true."""

from __future__ import annotations

import re
from pathlib import Path

from alerts.policy import GrittingPolicy

DOC = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"
BEGIN = "<!-- policy table: generated from alerts/policy.py, checked by tests -->"
END = "<!-- end of policy table -->"


def policy_table() -> str:
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for name, field in GrittingPolicy.model_fields.items():
        default = "(none)" if field.default is None else f"`{field.default}`"
        meaning = re.sub(r"\s+", " ", field.description or "").strip()
        rows.append(f"| `{name}` | {default} | {meaning} |")
    return "\n".join(rows)


def test_the_policy_table_lists_every_setting_with_its_default() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert documented == policy_table(), (
        "docs/alerts.md's policy table is out of date; regenerate it with\n"
        ".venv/bin/python -c 'from tests.alerts.test_alerts_doc import policy_table; "
        "print(policy_table())'"
    )
