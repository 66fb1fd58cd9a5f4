"""Dead letters: messages the pipeline could not use, kept with why, for engineers to read."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import Engineer
from api.deps import RegistryDep
from api.refusals import KEY_NEEDED
from api.schemas.registry import DeadLetterCounts, DeadLetterInfo, DeadLetterList
from storage.registry import DeadLetterRecord

router = APIRouter(prefix="/dead-letters", tags=["devices"], responses=KEY_NEEDED)


@router.get("", summary="Messages set aside", response_model=DeadLetterList)
def list_dead_letters(
    _: Engineer,
    registry: RegistryDep,
    reason: Annotated[
        str | None,
        Query(max_length=64, description="Only this reason.", examples=["malformed_json"]),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 100,
) -> DeadLetterList:
    """The newest dead letters first: the topic, why each was set aside, and the body
    (its first 64 KiB; size and SHA-256 describe the whole message)."""
    letters = registry.dead_letters(reason=reason, limit=limit)
    return DeadLetterList(count=len(letters), dead_letters=[_info(letter) for letter in letters])


@router.get("/counts", summary="Messages set aside, by reason", response_model=DeadLetterCounts)
def count_dead_letters(_: Engineer, registry: RegistryDep) -> DeadLetterCounts:
    """How many dead letters are kept for each reason."""
    counts = registry.dead_letter_counts()
    return DeadLetterCounts(total=sum(counts.values()), by_reason=dict(sorted(counts.items())))


def _info(letter: DeadLetterRecord) -> DeadLetterInfo:
    return DeadLetterInfo(
        id=letter.id,
        arrived_at=letter.arrived_at,
        topic=letter.topic,
        reason=letter.reason,
        detail=letter.detail,
        body_base64=base64.b64encode(letter.body).decode("ascii"),
        body_text=letter.body.decode("utf-8", "replace"),
        body_size=letter.body_size,
        body_sha256=letter.body_sha256,
        truncated=letter.truncated,
    )
