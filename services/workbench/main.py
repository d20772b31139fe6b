"""The workbench: `uvicorn --factory services.workbench.main:create_app --port 8000`.

Web pages for the staff (agents, duty managers, department clerks, supervisors, QA and
administrators), served from the server with Jinja2 and refreshed in parts by htmx. It
keeps sign-in accounts and sessions in its own schema and calls the four services' APIs
as the signed-in person; it reads no other service's tables and publishes no events.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.workbench.access.deps import CsrfRefused, NotAllowed, SignInNeeded
from services.workbench.access.flows import Directory
from services.workbench.access.views import router as access_router
from services.workbench.admin.views import router as admin_router
from services.workbench.apis import Apis, Refused
from services.workbench.complaints.views import UPLOAD_PATH
from services.workbench.complaints.views import router as complaints_router
from services.workbench.config import WorkbenchConfig, get_config
from services.workbench.pages import STATIC, render
from services.workbench.queues.views import router as queues_router
from services.workbench.reports.views import router as reports_router
from services.workbench.roster.views import router as roster_router
from shared.api import RequestContextMiddleware
from shared.db import database_for
from shared.errors import allow_header
from shared.headers import SecurityHeadersMiddleware
from shared.logs import configure_logging
from shared.metrics import MetricsSpec, ServiceMetrics, metrics_router
from shared.migrations import pending_migrations
from shared.ratelimit import Limits, WriteLimitMiddleware
from shared.settings import AUTH_STORE, WORKBENCH, Settings

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    config: WorkbenchConfig | None = None,
    *,
    apis: Apis | None = None,
) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(WORKBENCH, level=settings.log_level, fmt=settings.log_format)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        cfg = config or get_config()
        app.state.settings = settings
        app.state.workbench = cfg
        app.state.db = database_for(WORKBENCH, settings)
        app.state.auth_db = database_for(AUTH_STORE, settings)
        app.state.apis = apis or Apis(cfg)
        app.state.directory = Directory(app.state.apis, app.state.auth_db)
        app.state.metrics = ServiceMetrics(
            WORKBENCH, MetricsSpec(), db=app.state.db, settings=settings
        )
        try:
            yield
        finally:
            try:
                app.state.directory.close()
            except Exception:  # the auth store is gone: its token runs out by itself
                log.warning("could not revoke the workbench's directory token", exc_info=True)
            if apis is None:
                app.state.apis.close()
            app.state.metrics.close()
            app.state.db.dispose()
            app.state.auth_db.dispose()

    app = FastAPI(
        title="Workbench",
        description="The staff's web pages: sign in, queues, complaints, roster, reports.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    # Each form a person sends is a write: counted per address (pages carry no bearer).
    app.state.limits = limits = Limits.from_settings(settings)
    app.add_middleware(WriteLimitMiddleware, limits=limits)
    app.add_middleware(
        RequestContextMiddleware,
        service=WORKBENCH,
        access_log=settings.access_log,
        max_body=settings.max_body_bytes,
        # A file to attach, and its form around it, a little over the limit: intake names
        # the limit rather than the connection being cut.
        larger_bodies=[(UPLOAD_PATH, (config or get_config()).upload_max_bytes + 1024 * 1024)],
    )
    # Everything a page loads comes from here: no other site is ever asked for anything,
    # no inline script or style runs (shared.headers).
    app.add_middleware(SecurityHeadersMiddleware)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": WORKBENCH}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        db = request.app.state.db
        try:
            db.ping()
            missing = pending_migrations(db, WORKBENCH)
            check = "ok" if not missing else f"migrations pending: {', '.join(missing)}"
        except Exception as exc:
            missing, check = ["?"], f"unreachable: {type(exc).__name__}"
        ok = not missing
        return JSONResponse(
            {
                "status": "ready" if ok else "not_ready",
                "service": WORKBENCH,
                "checks": {"database": check},
            },
            status_code=200 if ok else 503,
        )

    app.include_router(metrics_router())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in (
        access_router,
        complaints_router,
        queues_router,
        roster_router,
        reports_router,
        admin_router,
    ):
        app.include_router(router)
    install_page_errors(app)
    return app


def _htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def install_page_errors(app: FastAPI) -> None:
    """Errors as pages (or, for htmx's partial requests, as what htmx understands)."""

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = "/sign-in?ended=1" if request.cookies.get("wb_session") else "/sign-in"
        if request.method == "GET" and not _htmx(request):
            target += ("&" if "?" in target else "?") + "next=" + quote(here, safe="")
        if _htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": target})
        answer = RedirectResponse(target, status_code=303)
        answer.delete_cookie("wb_session", path="/")
        return answer

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> Response:
        user = getattr(request.state, "user", None)
        return render(
            request,
            "error.html",
            request.app.state.workbench,
            user=user,
            status=403,
            kind="forbidden",
        )

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        return render(request, "error.html", request.app.state.workbench, status=403, kind="csrf")

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        user = getattr(request.state, "user", None)
        kind = "not_found" if exc.status == 404 else "refused"
        return render(
            request,
            "error.html",
            request.app.state.workbench,
            user=user,
            status=exc.status if exc.status >= 400 else 502,
            kind=kind,
            message=exc.message,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        user = getattr(request.state, "user", None)
        kind = "not_found" if exc.status_code == 404 else "refused"
        page = render(
            request,
            "error.html",
            request.app.state.workbench,
            user=user,
            status=exc.status_code,
            kind=kind,
            message=str(exc.detail),
        )
        if exc.status_code == 405:
            page.headers["Allow"] = allow_header(request)
        return page
