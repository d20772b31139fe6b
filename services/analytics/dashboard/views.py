"""The dashboard page and its assets, all served from here (no CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from shared.errors import NotFound

STATIC = Path(__file__).parent / "static"
router = APIRouter(tags=["dashboard"])

_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@router.get("/dashboard", response_class=HTMLResponse, summary="The charts page")
def dashboard() -> HTMLResponse:
    """The page itself holds no data: it asks for a token and reads the analytics API
    with it, so an outsourcing client's `viewer` token shows the same charts."""
    return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))


@router.get("/dashboard/assets/{path:path}", include_in_schema=False)
def asset(path: str) -> FileResponse:
    target = (STATIC / path).resolve()
    if not target.is_file() or STATIC.resolve() not in target.parents:
        raise NotFound(f"no dashboard asset {path}")
    return FileResponse(
        target,
        media_type=_TYPES.get(target.suffix, "application/octet-stream"),
        headers={"Cache-Control": "public, max-age=3600"},
    )
