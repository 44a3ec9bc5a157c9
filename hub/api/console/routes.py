"""The operations console: server-rendered pages for people who do not read JSON.

Mount it with `app.include_router(console.router)` (`from hub.api import console`); it serves
its own stylesheet and script under /console/static/."""

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from hub.api.console import auth, order_page, pages, queue, what_if_page
from hub.api.console.web import STATIC_DIR, ConsoleRoute, PageError

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript"}


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse("/console/exceptions", status_code=303)


@router.get("/static/{name}")
async def static(name: str) -> FileResponse:
    if name not in STATIC_FILES:
        raise PageError(404, "Not found")
    return FileResponse(
        STATIC_DIR / name,
        media_type=STATIC_FILES[name],
        headers={"Cache-Control": "public, max-age=300"},
    )


router.include_router(auth.router)
router.include_router(queue.router)
router.include_router(order_page.router)
router.include_router(pages.router)
router.include_router(what_if_page.router)
