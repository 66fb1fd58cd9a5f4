"""Jinja2 templates for the pages, and one `render` that gives every page what the layout needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.pages.session import CSRF_FIELD, form_token

TEMPLATES = Path(__file__).parent / "templates"

templates = Jinja2Templates(directory=TEMPLATES)
"""Autoescaping is on for .html: every value a page shows is escaped unless marked safe."""


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """`template` with `context`, plus the caller, the CSRF token and the current path."""
    caller = getattr(request.state, "page_caller", None)
    values: dict[str, Any] = {
        "caller": caller,
        "csrf_field": CSRF_FIELD,
        "csrf_token": form_token(request),
        "current_path": request.url.path,
    }
    values.update(context or {})
    return templates.TemplateResponse(request, template, values, status_code=status_code)
