"""Sign-in for the pages: an API key, pasted once, becomes a signed session cookie.

The cookie names the key and when the session began, signed with HMAC-SHA256; it never
holds the key's secret. Each request looks the key up again (through the 5 s key cache),
so revoking or expiring a key ends its sessions too. Forms carry a CSRF token derived
from the session, and page POSTs must come from this site (Origin/Referer); the cookie
itself is HttpOnly and SameSite=Strict.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request

from api.auth import Caller
from api.deps import ServicesDep
from api.roles import Role
from api.services import Services

COOKIE = "wherry_session"
MAX_AGE_S = 7 * 24 * 3600
"""A week: a duty officer signs in on their phone once, not every night."""
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True, slots=True)
class Session:
    key_id: str
    issued_at: int
    nonce: str

    @property
    def payload(self) -> str:
        return f"{self.key_id}.{self.issued_at}.{self.nonce}"


class SignInRequired(Exception):
    """Raised by a page that needs a signed-in caller; answered by a redirect to /signin."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageForbidden(Exception):
    """The signed-in key's role may not use this page; answered by a 403 page."""

    def __init__(self, role: Role, allowed: frozenset[Role]) -> None:
        super().__init__(f"{role} may not use this page")
        self.role = role
        self.allowed = allowed


class CsrfRejected(Exception):
    """A form post without this session's token, or from another site; answered by 403."""


def issue(secret: bytes, key_id: str, now: float | None = None) -> str:
    """A new cookie value for `key_id`."""
    session = Session(key_id, int(time.time() if now is None else now), secrets.token_hex(8))
    return f"{session.payload}.{_sign(secret, session.payload)}"


def read(secret: bytes, cookie: str | None, now: float | None = None) -> Session | None:
    """The session in `cookie`, or None when it is absent, forged or older than MAX_AGE_S."""
    if not cookie or len(cookie) > 512:
        return None
    payload, _, signature = cookie.rpartition(".")
    parts = payload.split(".")
    if len(parts) != 3 or not hmac.compare_digest(signature, _sign(secret, payload)):
        return None
    key_id, issued, nonce = parts
    if not issued.isdigit():
        return None
    age = (time.time() if now is None else now) - int(issued)
    if not 0 <= age <= MAX_AGE_S:
        return None
    return Session(key_id, int(issued), nonce)


def csrf_token(secret: bytes, session: Session) -> str:
    """The token forms of this session must send back."""
    return _sign(secret, f"csrf:{session.payload}")


def load_or_create_secret(path: Path) -> bytes:
    """The signing secret kept in `path` (created 0600 on first use), so restarts keep sessions."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        secret = secrets.token_bytes(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secret.hex())
        return secret


def page_caller(request: Request, services: ServicesDep) -> Caller:
    """Who is signed in, or an anonymous caller; a revoked or expired key signs nobody in.

    Kept on `request.state.page_caller` too, so the layout can say who is signed in.
    """
    caller = _signed_in(request, services)
    request.state.page_caller = caller
    return caller


def _signed_in(request: Request, services: Services) -> Caller:
    session = read(services.session_secret, request.cookies.get(COOKIE))
    if session is None:
        return Caller()
    record = services.keys.get(session.key_id)
    now = services.clock()
    if record is None or record.revoked_at is not None:
        return Caller()
    if record.expires_at is not None and record.expires_at <= now:
        return Caller()
    request.state.session = session
    return Caller(key_id=record.key_id, role=Role(record.role), label=record.label)


PageCallerDep = Annotated[Caller, Depends(page_caller)]


def require(allowed: frozenset[Role]) -> Any:
    """A dependency: the signed-in caller, when their role is in `allowed`."""

    def check(request: Request, caller: PageCallerDep) -> Caller:
        if caller.role is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInRequired(target)
        if caller.role not in allowed:
            raise PageForbidden(caller.role, allowed)
        return caller

    return Depends(check)


def form_token(request: Request) -> str | None:
    """The CSRF token to put in this request's forms (None when nobody is signed in)."""
    session: Session | None = getattr(request.state, "session", None)
    if session is None:
        return None
    secret: bytes = request.app.state.services.session_secret
    return csrf_token(secret, session)


def check_form(request: Request, token: str | None) -> None:
    """Refuse a form post from another site or without this session's CSRF token."""
    if not same_origin(request):
        raise CsrfRejected("this form was sent from another site")
    expected = form_token(request)
    if expected is None or token is None or not hmac.compare_digest(token, expected):
        raise CsrfRejected("this form is out of date or was not sent from wherry: reload the page")


def same_origin(request: Request) -> bool:
    """True when the browser says the post came from this host (or says nothing at all)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None or source == "null":
        return source is None
    return urlsplit(source).netloc == request.headers.get("host", "")


def _sign(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
