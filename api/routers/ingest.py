"""Webhook ingest: where The Things Stack and ChirpStack POST uplinks (`/ingest/…`).

Not under /api/v1: these URLs are configured once in a network server's console and
must not move with API versions. Callers are machines holding a shared secret, not
people holding API keys: the secret travels in `X-Wherry-Webhook-Secret` and is
compared in constant time. A request is answered 2xx only once its message is
durably handed off; bad bodies are kept as dead letters and answered 4xx with the
reason; a slow or absent store is answered 503 with Retry-After, never 2xx.
"""

from __future__ import annotations

import logging
import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field

from api.deps import ServicesDep
from api.ratelimit import TokenBuckets
from api.services import RateLimit
from gateway_bridge.envelopes import EnvelopeReason
from gateway_bridge.sources.webhook import Outcome, WebhookIngest, WebhookNetwork

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Wherry-Webhook-Secret"
RETRY_AFTER_S = 5
FAILED_SECRETS = RateLimit(per_minute=30.0, burst=10)
"""Wrong secrets allowed per client address: 10 at once, then one every 2 s (429 beyond)."""

router = APIRouter(prefix="/ingest", tags=["ingest"])

webhook_secret = APIKeyHeader(
    name=SECRET_HEADER,
    scheme_name="WebhookSecret",
    auto_error=False,
    description="The shared secret set as WHERRY_WEBHOOK_SECRET (not an API key).",
)

STATUS_OF_REASON: dict[EnvelopeReason, int] = {
    "malformed_json": status.HTTP_400_BAD_REQUEST,
    "invalid_envelope": status.HTTP_422_UNPROCESSABLE_CONTENT,
    "invalid_base64": status.HTTP_422_UNPROCESSABLE_CONTENT,
    "oversize": status.HTTP_413_CONTENT_TOO_LARGE,
}


class IngestAnswer(BaseModel):
    status: Literal["accepted", "ignored"] = Field(
        description="`accepted`: the uplink is stored (or spooled); `ignored`: a valid event "
        "that is not an uplink."
    )
    detail: str = Field(default="", examples=[""])


class IngestRefusal(BaseModel):
    detail: str = Field(examples=["not valid JSON: EOF while parsing an object at line 1"])
    reason: str | None = Field(
        default=None,
        description="For a body that was kept as a dead letter: malformed_json, "
        "invalid_envelope, invalid_base64 or oversize.",
    )


def _refused(description: str) -> dict[str, Any]:
    return {"model": IngestRefusal, "description": description}


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": IngestAnswer, "description": "A valid event that is not an uplink"},
    400: _refused("Not JSON (kept as a dead letter)"),
    401: _refused(f"No {SECRET_HEADER} header, or the wrong secret"),
    404: _refused("Webhook ingest is off (no WHERRY_WEBHOOK_SECRET)"),
    413: _refused("Larger than WHERRY_WEBHOOK_MAX_BYTES (kept, cut, as a dead letter)"),
    422: _refused("JSON, but not an uplink envelope (kept as a dead letter)"),
    429: _refused("Too many wrong secrets from this address"),
    503: _refused("Not stored in time (the store is slow or away): send it again"),
}
BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}

SecretDep = Annotated[str | None, Depends(webhook_secret)]


@router.post(
    "/ttn",
    summary="An uplink from a The Things Stack webhook",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestAnswer,
    responses=RESPONSES,
    openapi_extra=BODY,
)
async def ingest_ttn(request: Request, services: ServicesDep, secret: SecretDep) -> JSONResponse:
    """The body is the uplink message as The Things Stack sends it (the same JSON as on
    MQTT). Configure the webhook with the JSON format and an additional header
    `X-Wherry-Webhook-Secret`; enable "Uplink message"."""
    return await _ingest(request, services.webhooks, secret, "ttn", None)


@router.post(
    "/chirpstack",
    summary="An event from a ChirpStack v4 HTTP integration",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestAnswer,
    responses=RESPONSES,
    openapi_extra=BODY,
)
async def ingest_chirpstack(
    request: Request,
    services: ServicesDep,
    secret: SecretDep,
    event: Annotated[
        str | None,
        Query(description="ChirpStack's event type; only `up` carries an uplink"),
    ] = None,
) -> JSONResponse:
    """ChirpStack's HTTP integration with JSON encoding POSTs every event here with
    `?event=up|join|status|…`; uplinks are stored, other events answered 200 and dropped."""
    return await _ingest(request, services.webhooks, secret, "chirpstack", event)


async def _ingest(
    request: Request,
    ingest: WebhookIngest | None,
    secret: str | None,
    network: WebhookNetwork,
    event: str | None,
) -> JSONResponse:
    if ingest is None:
        return _answer(404, "webhook ingest is off: set WHERRY_WEBHOOK_SECRET to turn it on")
    if not ingest.authenticates(secret):
        return _unauthenticated(request, secret is None)
    declared = _declared_length(request)
    if declared is not None and declared < 0:
        return _answer(400, "Content-Length is not a number")
    body, complete = await _read_at_most(request, ingest.max_bytes)
    if not complete or (declared is not None and declared > ingest.max_bytes):
        outcome = await run_in_threadpool(ingest.receive_oversize, network, body, declared)
    else:
        outcome = await run_in_threadpool(ingest.receive, network, body, event=event)
    return _outcome_answer(outcome)


def _outcome_answer(outcome: Outcome) -> JSONResponse:
    if outcome.status == "accepted":
        return JSONResponse({"status": "accepted", "detail": ""}, status_code=202)
    if outcome.status == "ignored":
        return JSONResponse({"status": "ignored", "detail": outcome.detail}, status_code=200)
    if outcome.status == "timeout":
        return JSONResponse(
            {"detail": outcome.detail, "reason": None},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    assert outcome.reason is not None
    return _answer(STATUS_OF_REASON[outcome.reason], outcome.detail, outcome.reason)


def _unauthenticated(request: Request, missing: bool) -> JSONResponse:
    client = request.client.host if request.client else "unknown"
    buckets: TokenBuckets | None = getattr(request.app.state, "ingest_failed_secrets", None)
    if buckets is None:
        buckets = request.app.state.ingest_failed_secrets = TokenBuckets(FAILED_SECRETS)
    wait = buckets.take(client)
    if wait > 0:  # not logged either: a flood of guesses must not flood the log
        retry_after = str(max(1, math.ceil(wait)))
        return JSONResponse(
            {"detail": f"too many wrong webhook secrets from this address: wait {retry_after} s"},
            status_code=429,
            headers={"Retry-After": retry_after},
        )
    what = f"no {SECRET_HEADER} header" if missing else f"wrong {SECRET_HEADER}"
    log.warning("webhook %s from %s refused: %s", request.url.path, client, what)
    return _answer(401, f"{what}: send the secret configured as WHERRY_WEBHOOK_SECRET")


def _declared_length(request: Request) -> int | None:
    """Content-Length as sent; -1 when it is not a number."""
    value = request.headers.get("content-length")
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else -1


async def _read_at_most(request: Request, limit: int) -> tuple[bytes, bool]:
    """The body, read as it streams in, stopping after `limit` + 1 bytes.

    Returns (the bytes read, whether that was the whole body). A body that never
    fits is not read to its end: a 10 MB request costs `limit` bytes of memory.
    """
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return bytes(body[: limit + 1]), False
    return bytes(body), True


def _answer(code: int, detail: str, reason: str | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "reason": reason}, status_code=code)
