"""Where SMS may go and how many: a centre texts only the countries it allows (an SMS
abroad costs more, and a number typed in by anyone must not turn the hotline into a
sender to anywhere), and one number receives at most so many SMS in one of the centre's
days. A message over either limit is stored `refused`, with the reason, and never sent
nor tried again; the log says so.

The same rules hold for staff numbers as for customers' (they come from the directory,
but a wrong one is as costly), with one exception: an urgent prompt to staff is never
refused for the daily cap. It goes, and the log warns that the cap was passed, so a busy
day can never silently keep an urgent complaint from the duty manager.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from services.notify.config import NotifyConfig
from services.notify.messages import service
from shared.logs import mask_phone
from shared.phones import country_of
from shared.vocabulary import Audience

log = logging.getLogger(__name__)

COUNTRY_NOT_ALLOWED = "country_not_allowed"
DAILY_CAP = "daily_cap"


def country_allowed(phone: str, config: NotifyConfig) -> bool:
    return country_of(phone) in config.sms_allowed_countries


def day_start(now: datetime, config: NotifyConfig) -> datetime:
    """The start of the centre's day that `now` falls in."""
    local = now.astimezone(ZoneInfo(config.timezone))
    return datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)


def log_refused(template: str | None, phone: str, reason: str) -> None:
    """Say in the log that a message was refused, and why."""
    log.warning(
        "%s to %s refused, not sent: %s",
        template,
        mask_phone(phone),
        reason,
        extra={"phones_masked": True, "refused_reason": reason},
    )


def refuse(row: dict[str, Any], reason: str, *, now: datetime) -> None:
    """Make a message row about to be stored a refused one."""
    row.update(
        status="refused",
        refused_reason=reason,
        due_at=None,
        held_reason=None,
        digest_line=None,
        finished_at=now,
    )


class Limits:
    """The limits for the messages one transaction stores: those stored before count
    against a number's cap, and so do those stored earlier in this transaction."""

    def __init__(self, session: Session, config: NotifyConfig, *, now: datetime) -> None:
        self.session = session
        self.config = config
        self.now = now
        self.since = day_start(now, config)
        self.planned: Counter[str] = Counter()
        self._sent: dict[str, int] = {}

    def refusal(self, row: dict[str, Any]) -> str | None:
        """Why this message must not be sent, or None."""
        phone = row["phone"]
        if not country_allowed(phone, self.config):
            return COUNTRY_NOT_ALLOWED
        customer = row["audience"] == Audience.CUSTOMER
        cap = self.config.customer_sms_daily_cap if customer else self.config.staff_sms_daily_cap
        if not cap:
            return None
        if phone not in self._sent:
            self._sent[phone] = service.sent_since(self.session, phone=phone, since=self.since)
        if self._sent[phone] + self.planned[phone] < cap:
            return None
        if row["urgent"] and not customer:
            log.warning(
                "%s to %s passes the daily cap of %d SMS: sent, being urgent",
                row["template"],
                mask_phone(phone),
                cap,
                extra={"phones_masked": True},
            )
            return None
        return DAILY_CAP

    def apply(self, row: dict[str, Any]) -> bool:
        """Refuse the message if a limit says so; True if it was refused."""
        reason = self.refusal(row)
        if reason is None:
            return False
        refuse(row, reason, now=self.now)
        return True

    def count(self, row: dict[str, Any]) -> None:
        """A message stored in this transaction that will go to its number."""
        if row["status"] == "pending":
            self.planned[row["phone"]] += 1
