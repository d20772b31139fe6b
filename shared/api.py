"""The FastAPI app every service starts from: health, readiness, metrics, auth, errors,
request logs."""

from __future__ import annotations

import inspect
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth.store import TokenVerifier
from shared.db import Database, database_for
from shared.errors import install_error_handlers
from shared.headers import SecurityHeadersMiddleware, docs_router
from shared.kafka import KafkaProbe
from shared.logs import (
    configure_logging,
    correlation_id_var,
    new_correlation_id,
    valid_correlation_id,
)
from shared.metrics import MetricsSpec, ServiceMetrics, metrics_router, observe_request
from shared.migrations import pending_migrations
from shared.params import strict_request
from shared.ratelimit import Limits, WriteLimitMiddleware
from shared.settings import AUTH_STORE, Settings

log = logging.getLogger("access")

MAX_BODY_BYTES = 1_048_576


class RequestContextMiddleware:
    """Correlation id in and out (X-Correlation-ID), a size limit, one JSON log line and
    the request metrics (shared.metrics) per request. Plain ASGI: it adds no task switch
    to every request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str = "",
        access_log: bool = True,
        max_body: int = MAX_BODY_BYTES,
        larger_bodies: Sequence[tuple[str, int]] = (),
    ) -> None:
        self.app = app
        self.service = service
        self.access_log = access_log
        self.max_body = max_body
        # (path pattern, limit): routes that take files, beyond the limit of the rest.
        self.larger_bodies = [(re.compile(path), limit) for path, limit in larger_bodies]

    def limit_for(self, path: str) -> int:
        for pattern, limit in self.larger_bodies:
            if pattern.fullmatch(path):
                return limit
        return self.max_body

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
        max_body = self.limit_for(scope["path"])
        try:
            if length is not None and not length.isdigit():
                status = 400
                await self._refuse(
                    send,
                    cid,
                    400,
                    error="bad_request",
                    message="the Content-Length header must be a whole number of bytes",
                    field="Content-Length",
                )
                return
            if length is not None and int(length) > max_body:
                status = 413
                await self._too_large(send, cid, max_body)
                return

            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > max_body:
                        raise _BodyTooLarge(max_body)
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
                await self._too_large(send, cid, max_body)
        finally:
            seconds = time.perf_counter() - started
            observe_request(self.service, scope, status, seconds)
            if self.access_log and scope["path"] not in ("/healthz", "/readyz", "/metrics"):
                log.info(
                    "%s %s %d",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={"status": status, "duration_ms": round(seconds * 1000, 2)},
                )
            correlation_id_var.reset(token)

    async def _too_large(self, send: Send, cid: str, limit: int) -> None:
        message = _BodyTooLarge(limit).detail
        await self._refuse(send, cid, 413, error="payload_too_large", message=message)

    async def _refuse(self, send: Send, cid: str, status: int, **body: str) -> None:
        response = JSONResponse(body, status_code=status, headers={"x-correlation-id": cid})
        await response({"type": "http"}, _empty_receive, send)


class _BodyTooLarge(HTTPException):
    """An HTTP error, so that FastAPI's body parsing passes it on as the 413 it is."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the limit of {limit} bytes")


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
    metrics: MetricsSpec | None = None,
    version: str = "0.1.0",
    larger_bodies: Sequence[tuple[str, int]] = (),
) -> FastAPI:
    """Build a service's app. Nothing connects until the app starts (lifespan).

    `metrics` names what `/metrics` reports besides the requests: the outbox backlog, the
    worker's consumer lag, the service's own figures (shared.metrics). `larger_bodies`
    lets routes that take files (a path pattern each) take bodies over MAX_BODY_BYTES."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(service, level=settings.log_level, fmt=settings.log_format)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        db: Database = database_for(service, settings)
        auth_db = database_for(AUTH_STORE, settings)
        app.state.settings = settings
        app.state.db = db
        app.state.auth_db = auth_db
        app.state.tokens = TokenVerifier(
            auth_db,
            ttl=settings.token_cache_seconds,
            max_lifetime=timedelta(days=settings.token_max_days),
        )
        app.state.tokens.start()
        app.state.kafka = KafkaProbe(settings)
        app.state.metrics = ServiceMetrics(
            service, metrics or MetricsSpec(), db=db, settings=settings
        )
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
            app.state.tokens.close()
            app.state.kafka.close()
            app.state.metrics.close()
            db.dispose()
            auth_db.dispose()

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        dependencies=[Depends(strict_request)],
        # Served by shared.headers.docs_router, with a policy that fits them.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    app.state.limits = limits = Limits.from_settings(settings)
    # Inside the request context: a refused write is logged and counted like any answer.
    app.add_middleware(WriteLimitMiddleware, limits=limits)
    app.add_middleware(
        RequestContextMiddleware,
        service=service,
        access_log=settings.access_log,
        max_body=settings.max_body_bytes,
        larger_bodies=larger_bodies,
    )
    # Outermost: every answer carries them, a refusal by the middleware above too.
    app.add_middleware(SecurityHeadersMiddleware)
    app.include_router(health_router(service))
    app.include_router(metrics_router())
    app.include_router(docs_router(app))
    for router in routers:
        app.include_router(router)
    return app
