"""Numeric ids in URLs: bounded, so an id no database can hold is a 422, not a server error."""

from typing import Annotated

from fastapi import Path

MAX_ROW_ID = 2**63 - 1

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="The row's number.", examples=[42])]
