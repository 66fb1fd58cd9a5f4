"""API keys: admins issue, list and revoke them. The secret is shown once, at creation."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api.auth import Admin
from api.deps import RegistryDep, ServicesDep
from api.keys import issue_key
from api.refusals import KEY_NEEDED, conflict, invalid, not_found, registry_refusals
from api.schemas.keys import IssuedKeyInfo, KeyInfo, NewKeyRequest
from storage.registry import ApiKeyRecord, FieldProblem, NewApiKey

router = APIRouter(prefix="/keys", tags=["keys"], responses=KEY_NEEDED)


def key_info(record: ApiKeyRecord) -> KeyInfo:
    return KeyInfo.model_validate(record, from_attributes=True)


@router.get("", summary="List API keys", response_model=list[KeyInfo])
def list_keys(registry: RegistryDep, _: Admin) -> list[KeyInfo]:
    """Every key, newest first, with its role, expiry, revocation and last use. No secrets."""
    return [key_info(record) for record in registry.api_keys()]


@router.post(
    "",
    summary="Issue an API key",
    response_model=IssuedKeyInfo,
    status_code=status.HTTP_201_CREATED,
)
def create_key(request: NewKeyRequest, services: ServicesDep, caller: Admin) -> IssuedKeyInfo:
    """Issue a key with one role. The response holds the key once; store it safely."""
    if request.expires_at is not None and request.expires_at <= services.clock():
        raise invalid([FieldProblem("expires_at", "expires_at is in the past")])
    issued = issue_key()
    with registry_refusals():
        record = services.registry.create_api_key(
            NewApiKey(
                key_id=issued.key_id,
                label=request.label.strip(),
                role=request.role.value,
                secret_hash=issued.secret_hash,
                expires_at=request.expires_at,
            ),
            actor=caller.actor,
        )
    return IssuedKeyInfo(**key_info(record).model_dump(), token=issued.token)


@router.post(
    "/{key_id}/revoke",
    summary="Revoke an API key",
    response_model=KeyInfo,
    responses={
        **not_found("API key"),
        **conflict("The key making the request cannot revoke itself"),
    },
)
def revoke_key(key_id: str, services: ServicesDep, caller: Admin) -> KeyInfo:
    """The key stops working at once. Revoking is final; issue a new key instead.

    A key cannot revoke itself (so an admin cannot lock the council out by mistake):
    use another admin key, or `wherry keys revoke` on the server.
    """
    if key_id == caller.key_id:
        raise HTTPException(409, detail="a key cannot revoke itself: use another admin key")
    record = services.registry.revoke_api_key(key_id, actor=caller.actor, at=services.clock())
    services.keys.forget(key_id)
    if record is None:
        raise HTTPException(404, detail=f"no API key {key_id!r}")
    return key_info(record)
