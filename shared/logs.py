"""JSON logs that carry the correlation id of the request or event being handled."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from pythonjsonlogger.json import JsonFormatter

correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
event_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)

_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_PHONE = re.compile(r"(?<!\d)(\+?\d{1,3})?(\d{3})\d{4}(\d{4})(?!\d)")


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def valid_correlation_id(value: str | None) -> str | None:
    """A caller's correlation id if it is safe to log and pass on, else None."""
    if value and _CORRELATION_ID.match(value):
        return value
    return None


def current_correlation_id() -> str | None:
    return correlation_id_var.get()


@contextmanager
def correlation(correlation_id: str | None, event_id: str | None = None) -> Iterator[str]:
    """Bind a correlation id (a new one if None) to everything logged inside the block."""
    cid = correlation_id or new_correlation_id()
    token = correlation_id_var.set(cid)
    etoken = event_id_var.set(event_id)
    try:
        yield cid
    finally:
        correlation_id_var.reset(token)
        event_id_var.reset(etoken)


def mask_phone(phone: str | None) -> str:
    """138****5678 — enough to recognise a number, not enough to call it."""
    if not phone:
        return ""
    digits = phone.strip()
    if len(digits) <= 7:
        return "*" * len(digits)
    return (
        digits[:-8]
        + digits[-8:-4].translate(str.maketrans("0123456789", "**********"))
        + digits[-4:]
    )


def mask_phones_in(text: str) -> str:
    """Mask every 11-digit mobile number inside free text (log messages)."""
    return _PHONE.sub(lambda m: (m.group(1) or "") + m.group(2) + "****" + m.group(3), text)


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.correlation_id = correlation_id_var.get()
        event_id = event_id_var.get()
        if event_id:
            record.event_id = event_id
        if isinstance(record.msg, str) and not getattr(record, "phones_masked", False):
            record.msg = mask_phones_in(record.msg)
        return True


def configure_logging(service: str, *, level: str = "INFO", fmt: str = "json") -> None:
    """Route every logger (uvicorn's too) to stdout, one JSON object per line."""
    handler = logging.StreamHandler(sys.stdout)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",
                json_ensure_ascii=False,
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(service)s %(name)s [%(correlation_id)s] %(message)s"
            )
        )
    handler.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # uvicorn's own access log is plain text; the API middleware logs requests as JSON.
    logging.getLogger("uvicorn.access").disabled = True
    # kafka-python is chatty at INFO about every connection, alembic about every check.
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
