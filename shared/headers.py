"""What every answer tells the browser: its content is what it says it is (nosniff), and
an HTML page may load only what this site serves, run no inline script it did not
declare, and be framed by nobody (Content-Security-Policy, X-Frame-Options for older
browsers).

The services' own pages (the dashboard, the monthly report, the workbench, the SMS
gateway's page) load everything from the site that serves them. The one exception is
the API documentation at /docs and /redoc: FastAPI's pages load Swagger UI and ReDoc
from their CDN (cdn.jsdelivr.net) and start them with an inline script. Rather than
ship those bundles (some megabytes of a developer tool) with every service, the docs
pages get a policy of their own that names that CDN and allows the page's own inline
script by its hash: nothing else, no other inline script, and never in a frame. They
show no data of their own; the document they read is the service's /openapi.json.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "content-security-policy"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL | re.IGNORECASE)
_DOCS_CDN = "https://cdn.jsdelivr.net"


def policy(
    *,
    scripts: Iterable[str] = (),
    styles: Iterable[str] = (),
    images: Iterable[str] = (),
    fonts: Iterable[str] = (),
    workers: Iterable[str] = (),
) -> str:
    """A Content-Security-Policy: this site only, plus the sources named."""

    def sources(*extra: str) -> str:
        return " ".join(["'self'", *extra])

    directives = [
        "default-src 'self'",
        f"script-src {sources(*scripts)}",
        f"style-src {sources(*styles)}",
        f"img-src {sources('data:', *images)}",
        f"font-src {sources(*fonts)}",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    if workers:
        directives.append(f"worker-src {sources(*workers)}")
    return "; ".join(directives)


# What a page gets unless its route sets a policy of its own.
DEFAULT_POLICY = policy()


def _hashes(pattern: re.Pattern[str], html: str) -> list[str]:
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in pattern.findall(html)
    ]


def page_with_inline(
    html: str, *, status_code: int = 200, **sources: Iterable[str]
) -> HTMLResponse:
    """An HTML answer whose own inline <script> and <style> blocks (those without
    attributes) are allowed by their hash, and nothing else inline."""
    scripts = [*sources.pop("scripts", ()), *_hashes(_INLINE_SCRIPT, html)]
    styles = [*sources.pop("styles", ()), *_hashes(_INLINE_STYLE, html)]
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={CSP: policy(scripts=scripts, styles=styles, **sources)},
    )


def docs_router(app: FastAPI) -> APIRouter:
    """/docs, its OAuth2 redirect and /redoc, as FastAPI serves them, with the policy
    the module docstring explains. Build the app with docs_url=None, redoc_url=None."""
    router = APIRouter(include_in_schema=False)
    favicon = "https://fastapi.tiangolo.com"

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", ""))

    def openapi_url(request: Request) -> str:
        return root(request) + (app.openapi_url or "/openapi.json")

    @router.get("/docs")
    def swagger(request: Request) -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url(request),
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root(request) + "/docs/oauth2-redirect",
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
        return page_with_inline(
            bytes(page.body).decode(),
            scripts=[_DOCS_CDN],
            styles=[_DOCS_CDN],
            images=[favicon],
        )

    @router.get("/docs/oauth2-redirect")
    def oauth2_redirect() -> HTMLResponse:
        return page_with_inline(bytes(get_swagger_ui_oauth2_redirect_html().body).decode())

    @router.get("/redoc")
    def redoc(request: Request) -> HTMLResponse:
        page = get_redoc_html(openapi_url=openapi_url(request), title=f"{app.title} - ReDoc")
        docs_policy = policy(
            scripts=[_DOCS_CDN],
            # ReDoc styles its components with <style> elements it writes as it runs.
            styles=["'unsafe-inline'", "https://fonts.googleapis.com"],
            fonts=["https://fonts.gstatic.com"],
            images=[favicon, "https://cdn.redoc.ly"],
            workers=["blob:"],
        )
        return HTMLResponse(bytes(page.body).decode(), headers={CSP: docs_policy})

    return router


class SecurityHeadersMiddleware:
    """nosniff on every answer; on HTML, the default policy (unless the route set its
    own), X-Frame-Options and a referrer policy that keeps paths to this site. Plain
    ASGI, like shared.api's other middleware."""

    def __init__(self, app: ASGIApp, *, default_policy: str = DEFAULT_POLICY) -> None:
        self.app = app
        self.default_policy = default_policy.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                content_type = b""
                for name, value in headers:
                    if name.lower() == b"content-type":
                        content_type = value.lower()
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if content_type.startswith(b"text/html"):
                    if CSP.encode() not in names:
                        headers.append((CSP.encode(), self.default_policy))
                    if b"x-frame-options" not in names:
                        headers.append((b"x-frame-options", b"DENY"))
                    if b"referrer-policy" not in names:
                        headers.append((b"referrer-policy", b"same-origin"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
