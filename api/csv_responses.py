"""JSON or CSV: which one a caller asked for, and CSV bodies a spreadsheet opens safely.

`format=csv|json` wins; otherwise an `Accept` header preferring `text/csv` gets CSV.
Everything else (no header, `*/*`, `application/json`, a browser's `text/html,…`) gets
JSON, so a pupil's first `requests.get(url).json()` always works.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request, Response

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
JSON_MEDIA_TYPE = "application/json"

Format = Literal["json", "csv"]
Cell = str | int | float | bool | None

# A text cell starting with one of these is run as a formula by spreadsheet programs.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def wants_csv(request: Request, format: Format | None) -> bool:
    """True when `format=csv`, or with no `format` when `Accept` prefers `text/csv`."""
    if format is not None:
        return format == "csv"
    accept = request.headers.get("accept", "")
    if "csv" not in accept:
        return False
    csv_quality = json_quality = 0.0
    for offer in accept.split(","):
        media, _, params = offer.strip().partition(";")
        quality = _quality(params)
        media = media.strip().lower()
        if media == "text/csv":
            csv_quality = max(csv_quality, quality)
        elif media in ("application/json", "application/*"):
            json_quality = max(json_quality, quality)
    return csv_quality > 0 and csv_quality >= json_quality


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def csv_cell(value: Cell) -> Cell:
    """A cell as written: text that a spreadsheet would run as a formula is quoted with `'`."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """A header line and one line per row; `None` is an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class Rendered:
    """A finished body, kept apart from a Response so a cache can hand it out many times."""

    body: bytes
    media_type: str
    headers: Mapping[str, str]

    def response(self, headers: Mapping[str, str] | None = None) -> Response:
        return Response(
            self.body, media_type=self.media_type, headers={**self.headers, **(headers or {})}
        )


def render_csv(
    columns: Sequence[str], rows: Iterable[Sequence[Cell]], *, filename: str
) -> Rendered:
    return Rendered(
        csv_text(columns, rows).encode("utf-8"),
        CSV_MEDIA_TYPE,
        {"Content-Disposition": f'inline; filename="{filename}"', "Vary": "Accept"},
    )


def render_json(body: Any) -> Rendered:
    """JSON already shaped like the route's response model (so no second validation)."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Rendered(text.encode("utf-8"), JSON_MEDIA_TYPE, {"Vary": "Accept"})


def csv_response(
    columns: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    filename: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return render_csv(columns, rows, filename=filename).response(headers)


def json_response(body: Any, *, headers: Mapping[str, str] | None = None) -> Response:
    return render_json(body).response(headers)


def csv_openapi(description: str, example: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route answering JSON (its response model) or CSV."""
    return {
        200: {
            "description": description,
            "content": {"text/csv": {"schema": {"type": "string"}, "example": example}},
        }
    }
