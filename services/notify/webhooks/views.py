"""POST /webhooks/sms/inbound and /webhooks/sms/status: calls from the SMS provider,
refused with 401 unless signed by it (Twilio-style X-Twilio-Signature, or the secret in
the address for a Jasmin-style gateway)."""

from __future__ import annotations

import logging
from functools import partial
from typing import Annotated
from urllib.parse import parse_qsl

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from services.notify.config import NotifyConfig
from services.notify.messages.context import Context
from services.notify.messages.inbound import Received, receive
from services.notify.providers.base import Provider, WebhookRequest
from services.notify.webhooks.receipts import ReceiptLine
from shared.clock import utcnow
from shared.deps import Db, from_state
from shared.errors import Unauthorized, Unprocessable

log = logging.getLogger(__name__)

router = APIRouter(prefix="/webhooks/sms", tags=["webhooks"])

# What the app was started with (services/notify/main.py): the templates, rules and
# configuration, and the SMS provider whose signature a call must carry.
ContextDep = Annotated[Context, from_state("notify")]
ProviderDep = Annotated[Provider, from_state("provider")]
ReceiptsDep = Annotated[ReceiptLine, from_state("receipts")]


async def read_form(request: Request) -> list[tuple[str, str]]:
    """A form POST's fields, in order (providers post application/x-www-form-urlencoded)."""
    raw = await request.body()
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise Unprocessable("body", "a form in UTF-8 (application/x-www-form-urlencoded)") from None


async def _read(request: Request, config: NotifyConfig) -> WebhookRequest:
    fields = await read_form(request)
    # The provider signed the address it called: ours as the world sees it.
    url = str(request.url)
    if config.public_url:
        query = f"?{request.url.query}" if request.url.query else ""
        url = config.public_url.rstrip("/") + request.url.path + query
    headers = {k.lower(): v for k, v in request.headers.items()}
    return WebhookRequest(url=url, form=fields, headers=headers)


def _verified(request: Request, call: WebhookRequest, provider: Provider) -> None:
    if not provider.verify(call):
        log.warning("unsigned or badly signed call to %s refused", request.url.path)
        raise Unauthorized("the request is not signed by the SMS provider")


@router.post(
    "/status",
    summary="Delivery receipt from the provider",
    responses={401: {"description": "not signed by the provider"}},
)
async def status_callback(
    request: Request, ctx: ContextDep, provider: ProviderDep, line: ReceiptsDep
) -> Response:
    call = await _read(request, ctx.config)
    _verified(request, call, provider)
    receipts = provider.receipts(call)
    if receipts:
        # Answered once committed, in one transaction with the calls arriving meanwhile.
        await line.record(receipts)
    body, media_type = provider.acknowledge("status")
    return Response(body, media_type=media_type)


@router.post(
    "/inbound",
    summary="An SMS a person sent to our number",
    responses={401: {"description": "not signed by the provider"}},
)
async def inbound(request: Request, db: Db, ctx: ContextDep, provider: ProviderDep) -> Response:
    call = await _read(request, ctx.config)
    _verified(request, call, provider)
    message = provider.inbound(call)
    if not message.phone:
        body, media_type = provider.acknowledge("inbound")
        return Response(body, media_type=media_type)

    def apply() -> Received:
        with db.transaction() as session:
            return receive(session, ctx, provider.name, message, now=utcnow())

    received = await anyio.to_thread.run_sync(partial(apply))
    body, media_type = provider.acknowledge("inbound")
    return Response(
        body,
        media_type=media_type,
        headers={"X-Message-Id": received.message_id, "X-Intent": received.intent},
    )
