"""Who is asking, as route dependencies: the signed-in user (`CurrentUser`), a role check
(`allow(Role.AGENT, …)`), and the CSRF check every POST of a signed-in user passes."""

from __future__ import annotations

import hmac
from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, Request

from services.workbench.access import flows
from services.workbench.access.flows import User
from shared.clock import utcnow
from shared.vocabulary import STAFF_ROLES, Role

SESSION_COOKIE = "wb_session"
# Before there is a session, the sign-in form is tied to this cookie (login CSRF).
SIGN_IN_COOKIE = "wb_signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class SignInNeeded(Exception):
    """No session, or one that has ended: the person signs in (again)."""


class NotAllowed(Exception):
    """Signed in, but this page is for other roles."""


class CsrfRefused(Exception):
    """A POST without this session's CSRF token."""


def secure(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "")
    return (
        request.url.scheme == "https"
        or forwarded.split(",")[0].strip() == "https"
        or bool(request.app.state.workbench.secure_cookies)
    )


def cookie_options(request: Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "lax", "secure": secure(request), "path": "/"}


async def csrf_matches(request: Request, expected: str) -> bool:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


async def current_user(request: Request) -> User:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or len(cookie) > 100:
        raise SignInNeeded
    state = request.app.state
    user = await anyio.to_thread.run_sync(
        partial(
            flows.current_user,
            state.db,
            state.auth_db,
            state.directory,
            state.workbench,
            cookie=cookie,
            now=utcnow(),
        )
    )
    if user is None:
        raise SignInNeeded
    if request.method not in ("GET", "HEAD") and not await csrf_matches(request, user.csrf_token):
        raise CsrfRefused
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def allow(*roles: Role) -> Any:
    """`user: Annotated[User, allow(Role.AGENT)]`: signed in, with one of these roles."""

    async def dependency(user: CurrentUser) -> User:
        if user.role not in roles:
            raise NotAllowed
        return user

    return Depends(dependency)


# Who works on which pages.
DESK = (Role.DUTY_MANAGER, Role.SUPERVISOR)
REGISTRARS = (Role.AGENT, Role.DUTY_MANAGER, Role.SUPERVISOR)
# Everyone but the outsourcing client's viewer, who has the dashboard only.
STAFF = tuple(role for role in STAFF_ROLES if role != Role.VIEWER)

HOME: dict[Role, str] = {
    Role.AGENT: "/register",
    Role.DUTY_MANAGER: "/desk",
    Role.SUPERVISOR: "/supervisor",
    Role.DEPARTMENT: "/department",
    Role.QA: "/qa",
    Role.ADMIN: "/admin/staff",
    Role.VIEWER: "/qa",
}
