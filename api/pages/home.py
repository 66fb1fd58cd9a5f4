"""The front page: where each of wherry's three kinds of user starts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.pages.session import PageCallerDep
from api.pages.templating import render

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(request: Request, _: PageCallerDep) -> HTMLResponse:
    return render(request, "home.html", {"title": "wherry"})
