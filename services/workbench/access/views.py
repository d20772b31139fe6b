"""Signing in and out, the language switch, and a person's own password."""

from __future__ import annotations

import secrets
from functools import partial
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from services.workbench.access import flows
from services.workbench.access.deps import (
    HOME,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    CurrentUser,
    cookie_options,
    csrf_matches,
)
from services.workbench.config import ConfigDep
from services.workbench.pages import LANG_COOKIE, LANGUAGES, render
from shared.clock import utcnow
from shared.ratelimit import Limits, client_address

router = APIRouter()


def safe_next(target: str | None) -> str | None:
    """Only a path of this site: never another site's address."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return None


def _sign_in_page(
    request: Request,
    config: ConfigDep,
    *,
    next_: str | None,
    staff_id: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    token = secrets.token_urlsafe(32)
    page = render(
        request,
        "sign_in.html",
        config,
        status=status,
        sign_in_token=token,
        next=safe_next(next_) or "",
        staff_id=staff_id,
        error=error,
        ended=request.query_params.get("ended"),
    )
    page.set_cookie(SIGN_IN_COOKIE, token, max_age=3600, **cookie_options(request))
    return page


@router.get("/sign-in", include_in_schema=False)
def sign_in_form(request: Request, config: ConfigDep, next: str | None = None) -> Response:
    return _sign_in_page(request, config, next_=next)


@router.post("/sign-in", include_in_schema=False)
async def sign_in(
    request: Request,
    config: ConfigDep,
    staff_id: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not await csrf_matches(request, expected):
        message = (
            "页面已过期，请重新登录" if _zh(request) else "the page had expired: sign in again"
        )
        return _sign_in_page(request, config, next_=next, error=message, status=403)
    state = request.app.state
    limits: Limits = state.limits
    address = client_address(request.scope)
    # Beside each account's lock-out: one address trying many accounts is slowed down.
    refused = limits.failures_over(address)
    if refused is not None:
        message = (
            f"登录失败次数过多，请 {refused.retry_after} 秒后再试"
            if _zh(request)
            else f"too many failed sign-ins from here: try again in {refused.retry_after} s"
        )
        page = _sign_in_page(
            request, config, next_=next, staff_id=staff_id, error=message, status=429
        )
        page.headers.update(refused.headers())
        return page
    try:
        cookie, user = await anyio.to_thread.run_sync(
            partial(
                flows.sign_in,
                state.db,
                state.auth_db,
                state.directory,
                config,
                staff_id=staff_id,
                password=password,
                now=utcnow(),
            )
        )
    except flows.SignInRefused as exc:
        if exc.status in (401, 423):  # a wrong password, or one tried on a locked account
            limits.failed(address)
        message = exc.zh if _zh(request) else exc.en
        return _sign_in_page(
            request, config, next_=next, staff_id=staff_id, error=message, status=exc.status
        )
    target = safe_next(next) or HOME[user.role]
    if user.must_change:
        target = "/account/password?next=" + target
    answer = RedirectResponse(target, status_code=303)
    answer.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(config.longest.total_seconds()),
        **cookie_options(request),
    )
    answer.delete_cookie(SIGN_IN_COOKIE, path="/")
    return answer


def _zh(request: Request) -> bool:
    return request.cookies.get(LANG_COOKIE, LANGUAGES[0]) != "en"


@router.post("/sign-out", include_in_schema=False)
async def sign_out(request: Request, user: CurrentUser) -> Response:
    state = request.app.state
    await anyio.to_thread.run_sync(
        partial(flows.sign_out, state.db, state.auth_db, user, now=utcnow())
    )
    answer = RedirectResponse("/sign-in", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path="/")
    return answer


@router.get("/language", include_in_schema=False)
def switch_language(request: Request, to: str = "zh-CN", next: str | None = None) -> Response:
    answer = RedirectResponse(safe_next(next) or "/", status_code=303)
    chosen = to if to in LANGUAGES else LANGUAGES[0]
    answer.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, samesite="lax", path="/")
    return answer


@router.get("/", include_in_schema=False)
def home(user: CurrentUser) -> Response:
    return RedirectResponse(HOME[user.role], status_code=303)


@router.get("/account/password", include_in_schema=False)
def password_form(
    request: Request,
    config: ConfigDep,
    user: CurrentUser,
    next: str | None = None,
) -> Response:
    return render(request, "password.html", config, user=user, next=safe_next(next) or "")


@router.post("/account/password", include_in_schema=False)
def change_password(
    request: Request,
    config: ConfigDep,
    user: CurrentUser,
    current: Annotated[str, Form(max_length=200)] = "",
    new: Annotated[str, Form(max_length=200)] = "",
    again: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    error = None
    if new != again:
        error = "两次输入的新密码不一致" if _zh(request) else "the two new passwords differ"
    else:
        try:
            flows.change_own_password(
                request.app.state.db, user, current, new, config, now=utcnow()
            )
        except flows.PasswordRefused as exc:
            error = exc.zh if _zh(request) else exc.en
    if error:
        return render(
            request, "password.html", config, user=user, next=next, error=error, status=422
        )
    return RedirectResponse(safe_next(next) or HOME[user.role], status_code=303)
