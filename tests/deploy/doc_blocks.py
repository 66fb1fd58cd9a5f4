"""The fenced blocks of a Markdown page with the `<!-- deployment-test: KIND -->` marker
written just above each, so a test can run or check every command a page shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MARKER = re.compile(r"<!--\s*deployment-test:\s*([\w.-]+)\s*-->")
FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass(frozen=True)
class Block:
    kind: str | None
    language: str
    text: str
    line: int
    """1-based line of the opening fence, for messages."""


def blocks(page: Path) -> list[Block]:
    """Every fenced block in order, with the marker of the line before its fence (if any)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        marker = MARKER.fullmatch(lines[index - 1].strip()) if index else None
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"{page}:{index + 1}: fence never closed")
        found.append(
            Block(
                kind=marker.group(1) if marker else None,
                language=fence.group(1),
                text="\n".join(lines[index + 1 : end]) + "\n",
                line=index + 1,
            )
        )
        index = end + 1
    return found


def of_kind(page: Path, kind: str) -> list[Block]:
    return [block for block in blocks(page) if block.kind == kind]


def exported(block: Block) -> dict[str, str]:
    """`export NAME=value` lines of a block: name → the value as written."""
    values: dict[str, str] = {}
    for line in block.text.splitlines():
        match = re.match(r"export\s+([A-Z_][A-Z0-9_]*)=(\S+)", line.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


def assignments(block: Block) -> dict[str, str]:
    """`NAME=value` lines (an environment file's), comments and blank lines skipped."""
    values: dict[str, str] = {}
    for raw in block.text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"line {block.line}: not NAME=value: {line!r}")
        values[name.strip()] = value.strip()
    return values
