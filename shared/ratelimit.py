"""Abuse limits: how many writes one token, and one client address, may make a minute,
and how many failed authentications one address may have before it is slowed down.

Every refusal is a 429 with Retry-After and a JSON body naming the limit. The counts are
kept in each API process's memory (a moving window, from the `limits` package): a
service run as N processes lets a client make N times as many writes, which is still far
from a flood. Writes are POST, PUT, PATCH and DELETE; reads are not counted.

A failed authentication counts only when the token is unknown to the store (guessed,
made up, garbled): a token that was revoked, ran out or whose holder left the directory
is one the client had, and a workbench whose user was just deactivated must not get its
whole address slowed down for it.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.errors import ApiError
from shared.settings import Settings

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Refusal:
    """A request over a limit: which one, and when to try again."""

    limit: str  # the setting that names it
    per_minute: int
    retry_after: int  # seconds
    what: str  # what is counted, for the message

    def body(self) -> dict[str, Any]:
        return {
            "error": "rate_limited",
            "message": f"too many {self.what}: at most {self.per_minute} a minute "
            f"({self.limit}); try again in {self.retry_after} s",
            "limit": self.limit,
            "per_minute": self.per_minute,
            "retry_after": self.retry_after,
        }

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TooManyRequests(ApiError):
    status = 429
    code = "rate_limited"

    def __init__(self, refusal: Refusal) -> None:
        body = refusal.body()
        super().__init__(body.pop("message"), **{k: v for k, v in body.items() if k != "error"})
        self.headers = refusal.headers()


class Limit:
    """One limit: `per_minute` hits for each key in any minute; 0 turns it off."""

    def __init__(self, limiter: MovingWindowRateLimiter, setting: str, per_minute: int, what: str):
        self.setting = setting
        self.per_minute = per_minute
        self.what = what
        self._limiter = limiter
        self._item: RateLimitItem | None = (
            RateLimitItemPerMinute(per_minute, namespace=setting) if per_minute > 0 else None
        )

    def full(self, key: str) -> Refusal | None:
        """A refusal if the key has no room left now; takes nothing."""
        if self._item is None or self._limiter.test(self._item, key):
            return None
        return self._refusal(key)

    def take(self, key: str) -> None:
        if self._item is not None:
            self._limiter.hit(self._item, key)

    def _refusal(self, key: str) -> Refusal:
        assert self._item is not None
        reset = self._limiter.get_window_stats(self._item, key).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        return Refusal(self.setting.upper(), self.per_minute, wait, self.what)


class Limits:
    """The limits one process enforces (see the module docstring)."""

    def __init__(
        self,
        *,
        token_writes_per_minute: int,
        address_writes_per_minute: int,
        auth_failures_per_minute: int,
    ) -> None:
        limiter = MovingWindowRateLimiter(MemoryStorage())
        self.token_writes = Limit(
            limiter,
            "rate_limit_token_writes_per_minute",
            token_writes_per_minute,
            "writes with this token",
        )
        self.address_writes = Limit(
            limiter,
            "rate_limit_address_writes_per_minute",
            address_writes_per_minute,
            "writes from this address",
        )
        self.auth_failures = Limit(
            limiter,
            "rate_limit_auth_failures_per_minute",
            auth_failures_per_minute,
            "failed sign-ins or unknown tokens from this address",
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            token_writes_per_minute=settings.rate_limit_token_writes_per_minute,
            address_writes_per_minute=settings.rate_limit_address_writes_per_minute,
            auth_failures_per_minute=settings.rate_limit_auth_failures_per_minute,
        )

    def write(self, *, token: str | None, address: str) -> Refusal | None:
        """Count one write; a refusal (nothing counted) when a limit is reached."""
        key = _token_key(token) if token else None
        refused = (key and self.token_writes.full(key)) or self.address_writes.full(address)
        if refused:
            return refused
        if key:
            self.token_writes.take(key)
        self.address_writes.take(address)
        return None

    def failures_over(self, address: str) -> Refusal | None:
        """A refusal while this address has failed authentication too often of late."""
        return self.auth_failures.full(address)

    def failed(self, address: str) -> None:
        self.auth_failures.take(address)


def _token_key(token: str) -> str:
    # Kept in memory for a minute: a digest rather than the token itself.
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def client_address(scope: Scope) -> str:
    """The client's address as the server saw it (behind a proxy, uvicorn's
    --forwarded-allow-ips makes it the one the proxy names)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return str(credentials).strip()
            return None
    return None


class WriteLimitMiddleware:
    """Refuses writes over the per-token or per-address limit with 429, before any of
    the app's code (and so any database work or outgoing event) runs. Plain ASGI."""

    def __init__(self, app: ASGIApp, *, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in WRITE_METHODS:
            refused = self.limits.write(token=_bearer(scope), address=client_address(scope))
            if refused is not None:
                answer = JSONResponse(refused.body(), status_code=429, headers=refused.headers())
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
