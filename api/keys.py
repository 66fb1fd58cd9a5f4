"""API keys: made from 32 random bytes, shown once, stored only as a SHA-256 hash.

A key reads `wherry_<key id>_<secret>`. The key id is public (it names the key in
lists and the audit log) and finds the row; the secret is compared by hash in
constant time. A fast hash is right here, unlike for passwords: the secret has
256 bits of entropy, so there is nothing to guess (docs/decisions/0006).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "wherry"
KEY_ID_BYTES = 6
SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: `token` goes to the user once; only `key_id` and `secret_hash` are kept."""

    token: str
    key_id: str
    secret_hash: str


def issue_key() -> IssuedKey:
    key_id = secrets.token_hex(KEY_ID_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return IssuedKey(f"{PREFIX}_{key_id}_{secret}", key_id, hash_secret(secret))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    prefix, _, rest = token.strip().partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or len(key_id) != 2 * KEY_ID_BYTES or not secret:
        return None
    if any(c not in "0123456789abcdef" for c in key_id):
        return None
    return key_id, secret


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)
