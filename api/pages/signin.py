"""Signing in with an API key, and signing out.

A key pasted into the form is checked exactly as the API checks it (format, secret,
revoked, expired), then exchanged for the session cookie of `session.py`; the key itself
is never stored in the browser by us. `next` sends the user back where they were going,
but only to a path on this site, so a crafted link cannot bounce them elsewhere.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import TOUCH_EVERY
from api.deps import ServicesDep
from api.keys import secret_matches, split_token
from api.pages.session import (
    COOKIE,
    CSRF_FIELD,
    MAX_AGE_S,
    CsrfRejected,
    PageCallerDep,
    check_form,
    issue,
    same_origin,
)
from api.pages.templating import render
from api.services import Services
from storage.registry import ApiKeyRecord

router = APIRouter()

HOME = "/"
MAX_NEXT = 2000


def safe_next(target: str | None) -> str:
    """`target` when it is a path on this site, else "/": no open redirect.

    Refused: absolute and scheme-relative URLs (`//evil`), backslashes (browsers read
    `/\\evil` as `//evil`), control characters and spaces (browsers drop some, which can
    turn a path into a host), and the sign-in pages themselves.
    """
    if not target or len(target) > MAX_NEXT or not target.startswith("/"):
        return HOME
    if target.startswith("//") or "\\" in target:
        return HOME
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return HOME
    if parts.path in {"/signin", "/signout"}:
        return HOME
    return target


@router.get("/signin", response_class=HTMLResponse)
def signin_form(
    request: Request, caller: PageCallerDep, next: str | None = None, out: bool = False
) -> HTMLResponse:
    return _form(request, safe_next(next), signed_out=out and caller.role is None)


@router.post("/signin", response_class=HTMLResponse)
def sign_in(
    request: Request,
    services: ServicesDep,
    _: PageCallerDep,
    api_key: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=MAX_NEXT)] = HOME,
) -> Response:
    """A good key: the session cookie and 303 to `next`; a bad one: the form and why (401)."""
    if not same_origin(request):
        raise CsrfRejected("this form was sent from another site")
    target = safe_next(next)
    record, problem = check_key(services, api_key)
    if record is None:
        return _form(request, target, error=problem, status_code=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        issue(services.session_secret, record.key_id),
        max_age=MAX_AGE_S,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


def check_key(services: Services, token: str) -> tuple[ApiKeyRecord | None, str]:
    """The key behind `token` when it may sign in, else None and what to tell the user."""
    token = token.strip()
    if not token:
        return None, "Paste your API key: it starts with wherry_."
    parts = split_token(token)
    if parts is None:
        return None, (
            "This is not a wherry API key: a key reads wherry_, twelve letters and digits, "
            "_ and a long secret. Check it was copied whole."
        )
    key_id, secret = parts
    record = services.keys.get(key_id)
    if record is None or not secret_matches(secret, record.secret_hash):
        return None, (
            "This key is not known here. Check it was copied whole, or ask an "
            "administrator for a new one."
        )
    now = services.clock()
    if record.revoked_at is not None:
        return None, (
            f"This key was revoked on {record.revoked_at:%d %b %Y}: "
            "ask an administrator for a new one."
        )
    if record.expires_at is not None and record.expires_at <= now:
        return None, (
            f"This key expired on {record.expires_at:%d %b %Y}: ask an administrator for a new one."
        )
    if record.last_used_at is None or now - record.last_used_at >= TOUCH_EVERY:
        services.registry.touch_api_key(key_id, now)
        services.keys.used(record, now)
    return record, ""


@router.get("/signout", response_class=HTMLResponse)
def signout_page(request: Request, _: PageCallerDep) -> HTMLResponse:
    """A page with a sign-out button: signing out changes state, so it is a POST."""
    return render(request, "signout.html", {"title": "Sign out"})


@router.post("/signout")
def sign_out(
    request: Request,
    caller: PageCallerDep,
    token: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Response:
    if caller.role is not None:  # signed out already: nothing to protect, nothing to refuse
        check_form(request, token)
    response = RedirectResponse("/signin?out=1", status_code=303)
    response.delete_cookie(
        COOKIE, path="/", secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )
    return response


def _form(
    request: Request,
    target: str,
    *,
    error: str | None = None,
    signed_out: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "title": "Sign in" if error is None else "Error: sign in",
        "next": target,
        "error": error,
        "signed_out": signed_out,
    }
    return render(request, "signin.html", context, status_code=status_code)
