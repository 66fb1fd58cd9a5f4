"""Registry refusals as HTTP answers, and the error responses routes document."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import HTTPException, status

from api.schemas.registry import (
    ErrorDetail,
)
from storage.registry import (
    AlreadyRegistered,
    ChangeRejected,
    FieldProblem,
    InUse,
    NotRegistered,
)


def not_found(what: str) -> dict[int | str, dict[str, Any]]:
    return {404: {"model": ErrorDetail, "description": f"No {what} with this id is registered"}}


KEY_NEEDED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDetail, "description": "No API key, or one that is not valid"},
    403: {"model": ErrorDetail, "description": "The key's role may not do this"},
}


def conflict(why: str) -> dict[int | str, dict[str, Any]]:
    return {409: {"model": ErrorDetail, "description": why}}


def invalid(problems: Sequence[FieldProblem], *, where: str = "body") -> HTTPException:
    """A 422 in FastAPI's own shape, one entry per broken rule, located at its field."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[
            {"loc": [where, problem.field], "msg": problem.reason, "type": "value_error"}
            for problem in problems
        ],
    )


@contextmanager
def registry_refusals() -> Iterator[None]:
    """Registry refusals as HTTP: 422 broken rules, 404 unknown id, 409 taken or in use."""
    try:
        yield
    except ChangeRejected as rejected:
        raise invalid(rejected.problems) from rejected
    except NotRegistered as unknown:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(unknown)) from unknown
    except (AlreadyRegistered, InUse) as taken:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(taken)) from taken
