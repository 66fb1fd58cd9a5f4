"""Who is calling: an API key from `Authorization: Bearer …` or `X-API-Key`, or nobody.

No key is anonymous (open data only); a key that is malformed, unknown, expired or
revoked is refused with 401 everywhere, so a user learns at once that their key is
wrong rather than silently seeing only public data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.deps import ServicesDep
from api.keys import secret_matches, split_token
from api.roles import ADMINS, ANY_KEY, ENGINEERS, HIGHWAYS, RESPONDERS, Role

TOUCH_EVERY = timedelta(minutes=1)

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer wherry_…`")
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The same API key, in a header of its own."
)


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated key behind a request, or an anonymous caller (`role` None)."""

    key_id: str | None = None
    role: Role | None = None
    label: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.role is None

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"key:{self.key_id} ({self.label})" if self.key_id else "anonymous"


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def current_caller(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    header_key: Annotated[str | None, Depends(api_key_header)],
) -> Caller:
    """The caller. Runs on the event loop while the key is cached (no thread hop), and
    asks the registry in a thread only for a key not cached or a last use to record."""
    token = credentials.credentials if credentials is not None else header_key
    if token is None:
        return Caller()
    parts = split_token(token)
    if parts is None:
        raise unauthorized("malformed API key: expected wherry_<key id>_<secret>")
    key_id, secret = parts
    known, record = services.keys.cached(key_id)
    if not known:
        record = await run_in_threadpool(services.keys.get, key_id)
    if record is None or not secret_matches(secret, record.secret_hash):
        raise unauthorized("unknown API key")
    now = services.clock()
    if record.revoked_at is not None:
        raise unauthorized(f"API key {key_id} was revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise unauthorized(f"API key {key_id} expired at {record.expires_at.isoformat()}")
    if record.last_used_at is None or now - record.last_used_at >= TOUCH_EVERY:
        await run_in_threadpool(services.registry.touch_api_key, key_id, now)
        services.keys.used(record, now)
    caller = Caller(key_id=key_id, role=Role(record.role), label=record.label)
    request.state.caller = caller
    return caller


CallerDep = Annotated[Caller, Depends(current_caller)]


def require(roles: frozenset[Role]) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency admitting only keys whose role is in `roles`: 401 without a key, 403 else."""
    allowed = ", ".join(sorted(roles))

    async def check(caller: CallerDep) -> Caller:  # async: no I/O, so no thread hop
        if caller.role is None:
            raise unauthorized(f"this needs an API key with one of the roles: {allowed}")
        if caller.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"a {caller.role} key may not do this; it needs one of: {allowed}",
            )
        return caller

    return check


AnyKey = Annotated[Caller, Depends(require(ANY_KEY))]
"""A caller with any valid key."""
Engineer = Annotated[Caller, Depends(require(ENGINEERS))]
"""A caller whose key may change devices, routes and decoders."""
Highways = Annotated[Caller, Depends(require(HIGHWAYS))]
"""A caller whose key may log treatments."""
Responder = Annotated[Caller, Depends(require(RESPONDERS))]
"""A caller whose key may acknowledge alerts (road alerts need a highways key)."""
Admin = Annotated[Caller, Depends(require(ADMINS))]
"""A caller whose key may manage keys and read the audit log."""
