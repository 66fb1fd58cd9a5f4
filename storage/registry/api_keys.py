"""Rules a new API key must meet before the registry stores it.

The registry never sees a secret: callers hash it (`api.keys`) and hand in the
hash. Keys are never deleted, only revoked, so the audit log can always name them.
"""

import re
from datetime import datetime

from storage.registry.records import API_KEY_ROLES, FieldProblem, NewApiKey
from storage.registry.validation import InvalidValue, parse_text

_KEY_ID = re.compile(r"[0-9a-z]{4,64}")
_HASH = re.compile(r"[0-9a-f]{32,128}")
MAX_LABEL = 100


def key_problems(key: NewApiKey) -> list[FieldProblem]:
    """Every rule `key` breaks; empty when it may be stored."""
    problems: list[FieldProblem] = []
    if not isinstance(key.key_id, str) or not _KEY_ID.fullmatch(key.key_id):
        problems.append(
            FieldProblem("key_id", f"key_id {key.key_id!r} must be 4 to 64 characters a-z, 0-9")
        )
    try:
        label = key.label.strip() if isinstance(key.label, str) else ""
        if parse_text("label", label, max_length=MAX_LABEL) is None:
            raise InvalidValue("label is missing: say who or what holds the key")
    except InvalidValue as problem:
        problems.append(FieldProblem("label", str(problem)))
    if key.role not in API_KEY_ROLES:
        problems.append(
            FieldProblem("role", f"role {key.role!r} is not one of {', '.join(API_KEY_ROLES)}")
        )
    if not isinstance(key.secret_hash, str) or not _HASH.fullmatch(key.secret_hash):
        problems.append(
            FieldProblem(
                "secret_hash",
                "secret_hash must be the hex digest of the secret, never the secret itself",
            )
        )
    if key.expires_at is not None and (
        not isinstance(key.expires_at, datetime) or key.expires_at.tzinfo is None
    ):
        problems.append(
            FieldProblem("expires_at", "expires_at must be a time with a time zone (UTC)")
        )
    return problems
