"""Server-rendered pages for people, beside the JSON API (which stays under /api/v1).

The gritting board and route pages (`board`), devices and engineer tools (`devices`,
`tools`), open data for schools (`open_data`), and sign-in (`signin`). Templates are in
`templates/`; CSS and the little JavaScript there is are in `static/`, served by wherry
itself: nothing is fetched from anywhere else, so the pages work offline.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.pages import board, devices, home, open_data, route_page, signin, tools
from api.pages.session import CsrfRejected, PageForbidden, SignInRequired
from api.pages.templating import render

STATIC = Path(__file__).parent / "static"


def add_pages(app: FastAPI) -> None:
    """Mount the pages' routers, their static files and the handlers for their refusals."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in (home.router, signin.router, board.router, route_page.router):
        app.include_router(router, include_in_schema=False)
    # tools before devices: /devices/new and /devices/import win over /devices/{device_id}
    for router in (tools.router, devices.router, open_data.router):
        app.include_router(router, include_in_schema=False)
    app.add_exception_handler(SignInRequired, _sign_in_first)
    app.add_exception_handler(PageForbidden, _forbidden)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)


async def _sign_in_first(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(f"/signin?next={quote(exc.next_path)}", status_code=303)


async def _forbidden(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, PageForbidden)
    roles = ", ".join(sorted(exc.allowed))
    message = f"This page needs one of these roles: {roles}. You are signed in as {exc.role}."
    return render(
        request, "error.html", {"title": "Not allowed", "message": message}, status_code=403
    )


async def _csrf_rejected(request: Request, exc: Exception) -> HTMLResponse:
    return render(
        request, "error.html", {"title": "Form refused", "message": str(exc)}, status_code=403
    )
