"""CSV in and out: request bodies for imports, import reports, CSV responses for exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response, status
from pydantic import ValidationError

from api.refusals import invalid
from api.schemas.registry import (
    CsvUpload,
    ImportReport,
    RowProblem,
)
from storage.registry import (
    FieldProblem,
    RowError,
)

MAX_CSV_BYTES = 5 * 1024 * 1024
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
_CSV_TYPES = frozenset({"text/csv", "text/plain", "application/csv"})


def csv_request_body(example: str) -> dict[str, Any]:
    """The OpenAPI request body of an import: the CSV itself, or JSON `{"csv": "…"}`."""
    return {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": example},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"csv": {"type": "string"}},
                    "required": ["csv"],
                    "additionalProperties": False,
                },
                "example": {"csv": example},
            },
        },
    }


def csv_response_doc(example: str, description: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}, "example": example}},
            "description": description,
        }
    }


async def csv_body(request: Request) -> str:
    """The CSV of an import: a `text/csv` body, or JSON `{"csv": "…"}`; at most 5 MiB."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_CSV_BYTES:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                detail=f"the CSV is over {MAX_CSV_BYTES // (1024 * 1024)} MiB: split the file",
            )
    if media in _CSV_TYPES:
        try:
            return bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as problem:
            raise invalid(
                [
                    FieldProblem(
                        "csv",
                        f"the CSV is not UTF-8 text (byte {problem.start}): save it as "
                        f"'CSV UTF-8' and send it again",
                    )
                ]
            ) from None
    if media == "application/json" or media.endswith("+json"):
        try:
            return CsvUpload.model_validate_json(bytes(body)).csv.removeprefix("\ufeff")
        except ValidationError as problem:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=[
                    {
                        "loc": ["body", *error["loc"]],
                        "msg": error["msg"],
                        "type": error["type"],
                    }
                    for error in problem.errors(include_url=False)
                ],
            ) from None
    raise HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        detail='send the CSV as Content-Type: text/csv, or as JSON {"csv": "…"}',
    )


CsvBody = Annotated[str, Depends(csv_body)]


def import_report(
    *, dry_run: bool, valid_rows: int, errors: Sequence[RowError], applied: int
) -> ImportReport:
    bad_lines = {error.line for error in errors if error.line > 1}
    return ImportReport(
        dry_run=dry_run,
        rows=valid_rows + len(bad_lines),
        valid_rows=valid_rows,
        applied=applied,
        errors=[RowProblem(line=e.line, id=e.row_id, reason=e.reason) for e in errors],
    )


def import_refused(errors: Sequence[RowError]) -> HTTPException:
    """422 listing every bad row (line, id, reason); nothing was written."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[
            {
                "loc": ["body", "csv", error.line],
                "msg": str(error),
                "type": "csv_row",
                "line": error.line,
                "id": error.row_id,
                "reason": error.reason,
            }
            for error in sorted(errors, key=lambda e: e.line)
        ],
    )


def csv_response(columns: Sequence[str], rows: Sequence[Sequence[str]], filename: str) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return Response(
        buffer.getvalue(),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def number_cell(value: float | None) -> str:
    return "" if value is None else repr(float(value))
