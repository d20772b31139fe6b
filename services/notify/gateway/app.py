"""The development SMS gateway's app (see the package docstring)."""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Annotated, Any, cast
from urllib.parse import parse_qsl, urlencode

import httpx
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import Receive, Scope, Send

from services.notify.config import NotifyConfig, get_config
from services.notify.providers.twilio import SIGNATURE_HEADER, signature
from services.notify.text import measure
from shared.headers import SecurityHeadersMiddleware, docs_router
from shared.logs import configure_logging, mask_phone
from shared.settings import Settings

log = logging.getLogger("sms-gateway")

PAGE = Path(__file__).with_name("page.html")
# The page's script and style: files, so that the page runs under a policy that allows
# no inline script (shared.headers).
ASSETS = Path(__file__).with_name("static")
_E164 = re.compile(r"^\+\d{6,16}$")
# Twilio's list: 50 to a page unless asked, never more than 1000.
PAGE_SIZE, PAGE_SIZE_MAX = 50, 1000
# Status reports in flight at once.
REPORTERS = 16


@dataclass
class Sms:
    sid: str
    direction: str  # "out": sent by the platform to a phone; "in": a reply from a phone
    phone: str  # the person's number
    number: str  # ours
    body: str
    status: str
    encoding: str
    segments: int
    created_at: str
    status_callback: str | None = None
    notify_status: int | None = None  # for a reply: what notify answered
    events: list[str] = field(default_factory=list)
    # When it left for the phone: at once, here; a queued message at Twilio has none
    # until it leaves, and its DateSent filter skips it.
    sent_at: datetime | None = None

    def twilio(self, account_sid: str) -> dict[str, Any]:
        to, sender = (
            (self.phone, self.number)
            if self.direction == "out"
            else (
                self.number,
                self.phone,
            )
        )
        return {
            "sid": self.sid,
            "account_sid": account_sid,
            "to": to,
            "from": sender,
            "body": self.body,
            "status": self.status,
            "num_segments": str(self.segments),
            "direction": "outbound-api" if self.direction == "out" else "inbound",
            "date_created": self.created_at,
            "date_sent": format_datetime(self.sent_at) if self.sent_at else None,
        }


@dataclass
class Faults:
    fail_next: int = 0
    status: int = 503
    delay: float = 0.0


class Store:
    """What the gateway keeps, in memory: a development tool, restarted empty."""

    def __init__(self, keep: int) -> None:
        self.lock = threading.Lock()
        self.messages: deque[Sms] = deque(maxlen=keep)
        self.by_key: dict[str, Sms] = {}
        self.faults = Faults()
        self.sends = 0  # send calls answered, failures included
        self.lookups = 0  # calls of the list of messages (a sender's look-ups)

    def add(self, sms: Sms, key: str | None = None) -> None:
        with self.lock:
            self.messages.append(sms)
            if key:
                self.by_key[key] = sms
                if len(self.by_key) > (self.messages.maxlen or 10_000):
                    self.by_key.pop(next(iter(self.by_key)))

    def list(self, *, to: str | None = None, phone: str | None = None) -> list[Sms]:
        with self.lock:
            items = list(self.messages)
        if to is not None:
            items = [m for m in items if m.direction == "out" and m.phone == to]
        if phone is not None:
            items = [m for m in items if m.phone == phone]
        return items


class ReplyIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", examples=["+8613900139001"])
    text: str = Field(min_length=1, max_length=1600, examples=["1"])
    # The number written to: one of a client's own (TENANTS_FILE `sender`); empty, ours.
    to: str | None = Field(default=None, max_length=32, examples=["+8610690001"])


class FaultsIn(BaseModel):
    fail_next: int = Field(default=0, ge=0)
    status: int = Field(default=503, ge=400, le=599)
    delay: float = Field(default=0.0, ge=0, le=60)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _twilio_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "status": status, "more_info": ""},
        status_code=status,
    )


class Gateway:
    """The gateway's state, kept on `app.state`: its messages and faults, its settings,
    and the client that calls the platform back (status reports, replies)."""

    def __init__(self, config: NotifyConfig) -> None:
        self.config = config
        self.store = Store(config.gateway_keep)
        self._http: httpx.AsyncClient | None = None
        # Status reports wait their turn in one line and go out a few at a time, as a
        # provider's do: thousands of messages a minute never mean thousands of calls
        # at once, each waiting for a connection.
        self._reports: asyncio.Queue[tuple[float, Sms, str]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For the app's lifetime: a client of its own and the reporters."""
        n = REPORTERS
        self._http = httpx.AsyncClient(
            timeout=10.0, limits=httpx.Limits(max_connections=n, max_keepalive_connections=n)
        )
        self._workers = [asyncio.create_task(self._reporter()) for _ in range(n)]
        try:
            yield
        finally:
            for task in self._workers:
                task.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            await self._http.aclose()

    def authorised(self, authorization: str, account_sid: str) -> bool:
        cfg = self.config
        if not authorization.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return (
            hmac.compare_digest(user, cfg.twilio_account_sid)
            and hmac.compare_digest(password, cfg.twilio_auth_token)
            and account_sid == cfg.twilio_account_sid
        )

    async def post_signed(self, url: str, form: dict[str, str]) -> httpx.Response:
        assert self._http is not None, "the gateway's app is not running"
        sig = signature(self.config.twilio_auth_token, url, form.items())
        return await self._http.post(url, data=form, headers={SIGNATURE_HEADER: sig})

    def report(self, sms: Sms) -> None:
        """Tell the platform, after the answer, that the message went out, then that it
        arrived: each report half the delivery delay after the one before."""
        half = self.config.gateway_delivery_delay / 2
        self._reports.put_nowait((time.monotonic() + half, sms, "sent"))

    async def _reporter(self) -> None:
        # One line in time order: every report waits the same delay after its cause.
        half = self.config.gateway_delivery_delay / 2
        while True:
            due, sms, status = await self._reports.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            sms.status = status
            if sms.status_callback:
                await self._call_back(sms, status)
            if status == "sent":
                self._reports.put_nowait((time.monotonic() + half, sms, "delivered"))

    async def _call_back(self, sms: Sms, status: str) -> None:
        cfg = self.config
        form = {
            "MessageSid": sms.sid,
            "SmsSid": sms.sid,
            "AccountSid": cfg.twilio_account_sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": sms.phone,
            "From": sms.number,
        }
        assert sms.status_callback is not None
        for attempt in range(3):
            try:
                answer = await self.post_signed(sms.status_callback, form)
                sms.events.append(f"{status} → {answer.status_code}")
                if answer.status_code < 500:
                    return
            except httpx.HTTPError as exc:
                sms.events.append(f"{status} → {type(exc).__name__}")
            await asyncio.sleep(0.5 * (attempt + 1))


class _AnswerCut(Exception):
    """Raised after an answer has begun, so that the server drops the connection."""


class _Cut(Response):
    """An answer that never arrives: its status line goes out, then the connection is
    cut, as when a provider's answer is lost on the way back after it took the message."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A body announced and never sent: the caller waits for it until the cut.
        headers = [(b"content-type", b"application/json"), (b"content-length", b"512")]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        raise _AnswerCut


class _QuietCuts(logging.Filter):
    """The server logs a cut answer as an application error: it is meant."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _AnswerCut))


def _gateway(request: Request) -> Gateway:
    return cast(Gateway, request.app.state.gateway)


GatewayDep = Annotated[Gateway, Depends(_gateway)]

router = APIRouter()


@router.post("/2010-04-01/Accounts/{account_sid}/Messages.json", tags=["twilio-style"])
async def send(
    request: Request,
    gateway: GatewayDep,
    account_sid: str,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """Send an SMS (Twilio-style). Answers 201 with the message's sid."""
    cfg, store = gateway.config, gateway.store
    if not gateway.authorised(request.headers.get("authorization", ""), account_sid):
        return _twilio_error(401, 20003, "Authentication Error - invalid credentials")
    faults = store.faults
    with store.lock:
        store.sends += 1
        failing = faults.fail_next > 0
        if failing:
            faults.fail_next -= 1
    if failing:
        return _twilio_error(faults.status, 20500, "gateway told to fail (POST /api/faults)")
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    to = str(form.get("To") or "")
    body = str(form.get("Body") or "")
    number = str(form.get("From") or form.get("MessagingServiceSid") or "")
    if not _E164.match(to):
        return _twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not body:
        return _twilio_error(400, 21602, "Message body is required.")
    if not number:
        return _twilio_error(400, 21603, "A 'From' or 'MessagingServiceSid' is required.")
    if not cfg.gateway_deduplicate:
        idempotency_key = None  # as Twilio: every request is a message of its own
    if idempotency_key and (earlier := store.by_key.get(idempotency_key)) is not None:
        return JSONResponse(earlier.twilio(cfg.twilio_account_sid), status_code=201)
    length = measure(body)
    sms = Sms(
        sid="SM" + uuid.uuid4().hex,
        direction="out",
        phone=to,
        number=number,
        body=body,
        status="queued",
        encoding=length.encoding,
        segments=length.segments,
        created_at=_now(),
        status_callback=str(form.get("StatusCallback") or "") or None,
        sent_at=datetime.now(UTC),
    )
    store.add(sms, idempotency_key)
    log.info("SMS to %s (%d part(s))", mask_phone(to), length.segments)
    gateway.report(sms)
    draw = random.random()
    if draw < cfg.gateway_drop_share:
        return _Cut()
    if draw < cfg.gateway_drop_share + cfg.gateway_late_share:
        await asyncio.sleep(cfg.http_timeout_seconds + 1)
    if faults.delay:
        # Kept, but answered late: the caller may give up waiting for the answer.
        await asyncio.sleep(faults.delay)
    return JSONResponse(sms.twilio(cfg.twilio_account_sid), status_code=201)


@router.get("/2010-04-01/Accounts/{account_sid}/Messages.json", tags=["twilio-style"])
def list_sent(
    request: Request,
    gateway: GatewayDep,
    account_sid: str,
    to: Annotated[str | None, Query(alias="To")] = None,
    sender: Annotated[str | None, Query(alias="From")] = None,
    since: Annotated[str | None, Query(alias="DateSent>")] = None,
    page_size: Annotated[int, Query(alias="PageSize", ge=1)] = PAGE_SIZE,
    page: Annotated[int, Query(alias="Page", ge=0)] = 0,
) -> JSONResponse:
    """The messages, newest sent first, a page at a time (Twilio's list, used to find a
    send whose answer was lost). `DateSent>` is "sent on or after" a date (YYYY-MM-DD)
    or a moment (ISO 8601); a message not sent yet has no date and never matches it."""
    if not gateway.authorised(request.headers.get("authorization", ""), account_sid):
        return _twilio_error(401, 20003, "Authentication Error - invalid credentials")
    cfg = gateway.config
    with gateway.store.lock:
        gateway.store.lookups += 1
    after = _date_sent_filter(since) if since else None
    if since and after is None:
        return _twilio_error(400, 20001, f"Invalid DateSent> value: {since}")
    found = [m.twilio(cfg.twilio_account_sid) | {"_sent": m.sent_at} for m in gateway.store.list()]
    if to:
        found = [m for m in found if m["to"] == to]
    if sender:
        found = [m for m in found if m["from"] == sender]
    if after is not None:
        found = [m for m in found if m["_sent"] is not None and m["_sent"] >= after]
    # Newest first; those not sent yet (no date) before any that were.
    found.reverse()
    found.sort(key=lambda m: m["_sent"] or datetime.max.replace(tzinfo=UTC), reverse=True)
    size = min(page_size, PAGE_SIZE_MAX)
    shown = [{k: v for k, v in m.items() if k != "_sent"} for m in found[page * size :][:size]]
    uri = request.url.path
    query = {k: v for k, v in request.query_params.items() if k not in ("Page", "PageSize")}

    def page_uri(n: int) -> str:
        return f"{uri}?{urlencode({**query, 'PageSize': size, 'Page': n})}"

    more = len(found) > (page + 1) * size
    return JSONResponse(
        {
            "messages": shown,
            "page": page,
            "page_size": size,
            "start": page * size,
            "end": page * size + max(len(shown) - 1, 0),
            "uri": page_uri(page),
            "first_page_uri": page_uri(0),
            "previous_page_uri": page_uri(page - 1) if page else None,
            "next_page_uri": page_uri(page + 1) if more else None,
        }
    )


def _date_sent_filter(value: str) -> datetime | None:
    """Twilio's DateSent value: a day (from its start, UTC) or a moment."""
    try:
        if len(value) == 10:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/api/messages", tags=["development"])
def messages(
    gateway: GatewayDep,
    to: Annotated[str | None, Query(description="Messages sent to this number")] = None,
    phone: Annotated[str | None, Query(description="The whole thread with a number")] = None,
) -> dict[str, Any]:
    """Messages the gateway holds, oldest first."""
    return {"messages": [asdict(m) for m in gateway.store.list(to=to, phone=phone)]}


@router.delete("/api/messages", tags=["development"], status_code=204)
def clear(gateway: GatewayDep) -> None:
    store = gateway.store
    with store.lock:
        store.messages.clear()
        store.by_key.clear()


@router.post("/api/reply", tags=["development"])
async def reply(data: ReplyIn, gateway: GatewayDep) -> JSONResponse:
    """A person's SMS from `from` to `to` (our number, if not given), delivered to
    notify's inbound webhook, signed."""
    cfg = gateway.config
    phone = "".join(data.from_.split())
    if not _E164.match(phone):
        return JSONResponse(
            {"error": "validation_error", "message": "from: an E.164 number, e.g. +86139…"},
            status_code=422,
        )
    length = measure(data.text)
    ours = (data.to or "").strip() or cfg.twilio_from
    sms = Sms(
        sid="SM" + uuid.uuid4().hex,
        direction="in",
        phone=phone,
        number=ours,
        body=data.text,
        status="received",
        encoding=length.encoding,
        segments=length.segments,
        created_at=_now(),
    )
    gateway.store.add(sms)
    url = cfg.gateway_notify_url.rstrip("/") + "/webhooks/sms/inbound"
    form = {
        "MessageSid": sms.sid,
        "SmsSid": sms.sid,
        "AccountSid": cfg.twilio_account_sid,
        "From": phone,
        "To": ours,
        "Body": data.text,
        "NumSegments": str(length.segments),
    }
    try:
        answer = await gateway.post_signed(url, form)
    except httpx.HTTPError as exc:
        sms.status = "undelivered"
        return JSONResponse(
            {
                "error": "notify_unreachable",
                "message": f"notify at {url} did not answer: {type(exc).__name__}",
                "sid": sms.sid,
            },
            status_code=502,
        )
    sms.notify_status = answer.status_code
    return JSONResponse(
        {
            "sid": sms.sid,
            "notify_status": answer.status_code,
            "message_id": answer.headers.get("x-message-id"),
            "intent": answer.headers.get("x-intent"),
        },
        status_code=200 if answer.status_code < 300 else 502,
    )


@router.get("/api/stats", tags=["development"])
def stats(
    gateway: GatewayDep,
    to: Annotated[str | None, Query(description="Count only messages to this number")] = None,
) -> dict[str, int]:
    """How many messages the gateway holds (sent to `to`), send calls answered and calls
    of the list of messages."""
    store = gateway.store
    return {"messages": len(store.list(to=to)), "sends": store.sends, "lookups": store.lookups}


@router.get("/api/faults", tags=["development"])
def get_faults(gateway: GatewayDep) -> dict[str, Any]:
    return {**asdict(gateway.store.faults), "sends": gateway.store.sends}


@router.post("/api/faults", tags=["development"])
def set_faults(data: FaultsIn, gateway: GatewayDep) -> dict[str, Any]:
    """Fail the next `fail_next` sends with `status`; wait `delay` seconds on each."""
    store = gateway.store
    with store.lock:
        store.faults = Faults(data.fail_next, data.status, data.delay)
    return asdict(store.faults)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    return {"status": "ok", "service": "sms-gateway"}


def create_app(config: NotifyConfig | None = None) -> FastAPI:
    gateway = Gateway(config or get_config())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if config is None:
            configure_logging("sms-gateway", level=Settings().log_level, fmt="text")
        logging.getLogger("uvicorn.error").addFilter(_QuietCuts())
        async with gateway.running():
            yield

    app = FastAPI(
        title="Development SMS gateway",
        description="Keeps the SMS the platform sends and lets a person reply to them.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.gateway = gateway
    app.add_middleware(SecurityHeadersMiddleware)
    app.include_router(router)
    app.include_router(docs_router(app))
    app.mount("/assets", StaticFiles(directory=ASSETS), name="assets")
    return app
