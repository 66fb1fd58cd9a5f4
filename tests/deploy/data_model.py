"""The measurements, tags and fields that docs/data-model.md documents, read from its
tables, so dashboards can be held to the documented schema rather than to a copy of it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

HEADING = re.compile(r"^###\s+`(\w+)`")
NAME = re.compile(r"`([a-z_][a-z0-9_]*)`")


@dataclass
class Measurement:
    name: str
    tags: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)


def measurements(page: Path) -> dict[str, Measurement]:
    """Each `### \\`name\\`` section's table: rows whose first cell is tag(s) or field(s)."""
    found: dict[str, Measurement] = {}
    current: Measurement | None = None
    for line in page.read_text(encoding="utf-8").splitlines():
        heading = HEADING.match(line)
        if heading:
            current = found.setdefault(heading.group(1), Measurement(heading.group(1)))
            continue
        if line.startswith("## "):
            current = None
        if current is None or not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or cells[0] not in ("tag", "tags", "field", "fields"):
            continue
        names = NAME.findall(cells[1])
        if not names and len(cells) > 2:
            # `reading`'s "one per canonical quantity" row names them in its last cell.
            names = NAME.findall(cells[2])
        target = current.tags if cells[0].startswith("tag") else current.fields
        target.update(names)
    return found
