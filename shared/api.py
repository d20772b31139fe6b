"""The FastAPI app every service starts from: health, readiness, auth, errors, request logs."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth.store import TokenVerifier
from shared.db import Database, database_for
from shared.errors import install_error_handlers
from shared.kafka import KafkaProbe
from shared.logs import (
    configure_logging,
    correlation_id_var,
    new_correlation_id,
    valid_correlation_id,
)
from shared.migrations import pending_migrations
from shared.settings import AUTH_STORE, Settings

log = logging.getLogger("access")

MAX_BODY_BYTES = 1_048_576


class RequestContextMiddleware:
    """Correlation id in and out (X-Correlation-ID), a size limit, and one JSON log line
    per request. Plain ASGI: it adds no task switch to every request."""

    def __init__(
        self, app: ASGIApp, *, access_log: bool = True, max_body: int = MAX_BODY_BYTES
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        length = None
        for name, value in scope["headers"]:
            if name == b"x-correlation-id":
                incoming = value.decode("latin-1")
            elif name == b"content-length":
                length = value
        cid = valid_correlation_id(incoming) or new_correlation_id()
        token = correlation_id_var.set(cid)
        started = time.perf_counter()
        status = 500
        try:
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                status = 413
                await self._too_large(send, cid)
                return

            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body:
                        raise _BodyTooLarge
                return message

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"x-correlation-id", cid.encode()),
                    ]
                await send(message)

            try:
                await self.app(scope, limited_receive, send_with_id)
            except _BodyTooLarge:
                status = 413
                await self._too_large(send, cid)
        finally:
            if self.access_log and scope["path"] not in ("/healthz", "/readyz", "/metrics"):
                log.info(
                    "%s %s %d",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            correlation_id_var.reset(token)

    async def _too_large(self, send: Send, cid: str) -> None:
        response = JSONResponse(
            {"error": "payload_too_large", "message": f"request body over {self.max_body} bytes"},
            status_code=413,
            headers={"x-correlation-id": cid},
        )
        await response({"type": "http"}, _empty_receive, send)


class _BodyTooLarge(Exception):
    pass


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


def health_router(service: str) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get(
        "/readyz",
        summary="Ready: database reachable and migrated, Kafka reachable",
        responses={503: {"description": "not ready; `checks` says what is missing"}},
    )
    def readyz(request: Request) -> JSONResponse:
        state = request.app.state
        checks: dict[str, str] = {}
        ok = True
        try:
            state.db.ping()
            missing = pending_migrations(state.db, service)
            checks["database"] = (
                "ok" if not missing else f"migrations pending: {', '.join(missing)}"
            )
            ok = ok and not missing
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
            ok = False
        kafka_ok, detail = state.kafka.check()
        checks["kafka"] = "ok" if kafka_ok else f"unreachable: {detail}"
        ok = ok and kafka_ok
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "service": service, "checks": checks},
            status_code=200 if ok else 503,
        )

    return router


def create_service_app(
    *,
    service: str,
    title: str,
    description: str,
    settings: Settings,
    routers: Sequence[APIRouter],
    on_startup: Callable[[FastAPI], Any] | None = None,
    on_shutdown: Callable[[FastAPI], Any] | None = None,
    version: str = "0.1.0",
) -> FastAPI:
    """Build a service's app. Nothing connects until the app starts (lifespan)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(service, level=settings.log_level, fmt=settings.log_format)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        db: Database = database_for(service, settings)
        auth_db = database_for(AUTH_STORE, settings)
        app.state.settings = settings
        app.state.db = db
        app.state.auth_db = auth_db
        app.state.tokens = TokenVerifier(auth_db, ttl=settings.token_cache_seconds)
        app.state.kafka = KafkaProbe(settings)
        if on_startup is not None:
            started = on_startup(app)
            if inspect.isawaitable(started):
                await started
        try:
            yield
        finally:
            if on_shutdown is not None:
                stopped = on_shutdown(app)
                if inspect.isawaitable(stopped):
                    await stopped
            app.state.kafka.close()
            db.dispose()
            auth_db.dispose()

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, access_log=settings.access_log)
    app.include_router(health_router(service))
    for router in routers:
        app.include_router(router)
    return app


def state(request: Request, name: str) -> Any:
    return getattr(request.app.state, name)
