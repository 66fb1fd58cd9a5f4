"""`wherry keys`: issue, list and revoke API keys from the command line."""

from __future__ import annotations

from datetime import UTC, datetime

from api.keys import issue_key
from api.roles import Role
from storage.registry import NewApiKey, Registry
from wherry.settings import Settings

ACTOR = "cli"


def _registry(settings: Settings) -> Registry:
    """The registry, migrated; nothing is created in data_dir unless the registry lives there
    (the registry makes an SQLite file's folder itself)."""
    registry = Registry(settings.effective_registry_url)
    registry.migrate()
    return registry


def parse_expiry(text: str | None, now: datetime) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--expires {text!r}: expected ISO 8601, e.g. 2027-04-30T23:59:59Z"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"--expires {text!r}: give a time zone, e.g. …Z or …+00:00")
    if moment <= now:
        raise ValueError(f"--expires {text!r} is in the past")
    return moment.astimezone(UTC)


def issue(settings: Settings, *, role: str, label: str, expires: str | None) -> tuple[str, str]:
    """(token, key id) of a new key; ValueError for a bad role, label or expiry."""
    if role not in Role.__members__:
        raise ValueError(f"--role {role!r}: expected one of {', '.join(Role.__members__)}")
    if not label.strip():
        raise ValueError("--label: say who or what holds the key")
    expires_at = parse_expiry(expires, datetime.now(UTC))
    issued = issue_key()
    registry = _registry(settings)
    try:
        registry.create_api_key(
            NewApiKey(issued.key_id, label.strip(), role, issued.secret_hash, expires_at),
            actor=ACTOR,
        )
    finally:
        registry.close()
    return issued.token, issued.key_id


def describe_keys(settings: Settings) -> list[str]:
    registry = _registry(settings)
    try:
        records = registry.api_keys()
    finally:
        registry.close()
    if not records:
        return ["no API keys; create one with: wherry keys create --role admin --label …"]
    lines = []
    for key in records:
        state = "revoked" if key.revoked_at else "active"
        expiry = key.expires_at.isoformat() if key.expires_at else "never"
        used = key.last_used_at.isoformat() if key.last_used_at else "never"
        lines.append(
            f"{key.key_id}  {key.role:<8} {state:<7} expires {expiry}  "
            f"last used {used}  {key.label}"
        )
    return lines


def revoke(settings: Settings, key_id: str) -> bool:
    registry = _registry(settings)
    try:
        return registry.revoke_api_key(key_id, actor=ACTOR, at=datetime.now(UTC)) is not None
    finally:
        registry.close()
