"""SMS go only where a centre allows, and only so many to one number a day.

A customer number abroad gets nothing (the message is stored refused, with the reason,
in GET /messages and the log) while the duty manager's prompt still goes; the message
over a number's daily cap is refused and never sent nor retried; an urgent prompt to a
busy duty manager still goes past the staff cap; the day is the centre's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.notify.config import NotifyConfig
from services.notify.handlers import make_context
from services.notify.messages import planning
from services.notify.messages.limits import COUNTRY_NOT_ALLOWED, DAILY_CAP, day_start
from services.notify.providers import provider_for
from services.notify.sender import Sender
from shared.contracts import ComplaintReceived
from shared.phones import country_of
from tests.notify.conftest import (
    CUSTOMER,
    DM01,
    Live,
    Notify,
    lifecycle_event,
    received_event,
    recipient,
)

US_CUSTOMER = "+14155552671"
UK_CUSTOMER = "+447400123456"


def send_all(live: Live, *, ctx: Any = None) -> int:
    """Every due message through a sender to the development gateway; how many went."""
    notify = live.notify
    sender = Sender(notify.env.db, ctx or notify.ctx, provider_for(notify.config))
    taken = 0
    try:
        while n := sender.send_due():
            taken += n
    finally:
        sender.close()
    return taken


def message_log(live: Live, **params: str) -> list[dict[str, Any]]:
    """GET /messages on notify's API, as an agent."""
    answer = httpx.get(
        f"{live.api_url}/messages",
        params=params,
        headers=live.notify.env.token("agent", "A001"),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]  # type: ignore[no-any-return]


@contextmanager
def warnings_of_limits(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """What limits.py logs, caught even after a service's start set up its own logging."""
    logger = logging.getLogger("services.notify.messages.limits")
    logger.addHandler(caplog.handler)
    try:
        yield
    finally:
        logger.removeHandler(caplog.handler)


def assigned(received: Any, phone: str = DM01, *, urgent: bool = False) -> Any:
    return lifecycle_event(
        "complaint.assigned",
        received,
        [recipient("duty_manager", phone, "DM01")],
        holder_staff_id="DM01",
        to_state="with_duty_manager",
        severity="urgent" if urgent else "normal",
    )


# -- countries ----------------------------------------------------------------------------


def test_a_numbers_country_is_read_off_its_calling_code() -> None:
    assert country_of(CUSTOMER) == "CN"
    assert country_of("+85291234567") == "HK"
    assert country_of(UK_CUSTOMER) == "GB"
    assert country_of(US_CUSTOMER) == "US"
    assert country_of("+14165550143") == "CA"  # +1 is shared: the number says whose
    assert country_of("13800138000") is None  # not E.164
    assert country_of("+12") is None


def test_the_allowed_countries_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert NotifyConfig().sms_allowed_countries == ["CN"]
    monkeypatch.setenv("NOTIFY_SMS_ALLOWED_COUNTRIES", "cn, hk,MO")
    assert NotifyConfig().sms_allowed_countries == ["CN", "HK", "MO"]
    monkeypatch.setenv("NOTIFY_SMS_ALLOWED_COUNTRIES", '["CN", "GB"]')
    assert NotifyConfig().sms_allowed_countries == ["CN", "GB"]
    monkeypatch.setenv("NOTIFY_SMS_ALLOWED_COUNTRIES", "CN,XX")
    with pytest.raises(ValueError, match="not ISO 3166 country codes: XX"):
        NotifyConfig()
    monkeypatch.setenv("NOTIFY_SMS_ALLOWED_COUNTRIES", "")
    with pytest.raises(ValueError, match="at least 1"):
        NotifyConfig()
    monkeypatch.delenv("NOTIFY_SMS_ALLOWED_COUNTRIES")
    monkeypatch.setenv("NOTIFY_CUSTOMER_SMS_DAILY_CAP", "5")
    monkeypatch.setenv("NOTIFY_STAFF_SMS_DAILY_CAP", "0")
    config = NotifyConfig()
    assert (config.customer_sms_daily_cap, config.staff_sms_daily_cap) == (5, 0)


@pytest.mark.postgres
def test_a_customer_abroad_is_never_texted_while_the_duty_manager_is(
    live: Callable[..., Live], caplog: pytest.LogCaptureFixture
) -> None:
    service = live()
    received = received_event(customer_phone=US_CUSTOMER)
    with warnings_of_limits(caplog):
        assert service.notify.deliver(received)
    assert service.notify.deliver(assigned(received))
    assert send_all(service) == 1

    # Nothing reached the provider for the customer; the duty manager's prompt did.
    assert service.phones.received(US_CUSTOMER) == []
    (prompt,) = service.phones.received(DM01)
    assert received.payload["reference"] in prompt["body"]
    # The refusal is in the message log, with its reason, final: never tried.
    (refused,) = message_log(service, phone=US_CUSTOMER)
    assert (refused["status"], refused["refused_reason"]) == ("refused", COUNTRY_NOT_ALLOWED)
    assert (refused["attempts"], refused["due_at"]) == (0, None)
    assert refused["template"] == "customer_received"
    assert [m["id"] for m in message_log(service, status="refused")] == [refused["id"]]
    # And in the log, the number masked.
    (record,) = [r for r in caplog.records if r.getMessage().endswith(COUNTRY_NOT_ALLOWED)]
    assert "+141****2671" in record.getMessage() and US_CUSTOMER not in record.getMessage()


@pytest.mark.postgres
def test_a_country_the_centre_allows_is_texted(live: Callable[..., Live]) -> None:
    service = live(sms_allowed_countries=["CN", "GB"])
    received = received_event(customer_phone=UK_CUSTOMER)
    assert service.notify.deliver(received)
    assert send_all(service) == 1
    (sms,) = service.phones.received(UK_CUSTOMER)
    assert sms["body"].startswith("Your complaint has been registered")


@pytest.mark.postgres
def test_a_staff_number_abroad_is_refused_like_a_customers(notify: Notify) -> None:
    received = received_event()
    notify.deliver(assigned(received, UK_CUSTOMER, urgent=True))
    (message,) = notify.messages(phone=UK_CUSTOMER)
    assert (message.status, message.refused_reason) == ("refused", COUNTRY_NOT_ALLOWED)


@pytest.mark.postgres
def test_a_message_stored_before_its_country_was_disallowed_never_reaches_the_provider(
    live: Callable[..., Live],
) -> None:
    service = live(sms_allowed_countries=["CN", "GB"])
    assert service.notify.deliver(received_event(customer_phone=UK_CUSTOMER))
    (waiting,) = service.notify.messages()
    assert waiting.status == "pending"
    # The centre stops texting the UK before the sender takes it.
    config = service.notify.config.model_copy(update={"sms_allowed_countries": ["CN"]})
    assert send_all(service, ctx=make_context(config, service.notify.env.settings)) == 0
    assert service.phones.sends() == 0
    (refused,) = service.notify.messages()
    assert (refused.status, refused.refused_reason) == ("refused", COUNTRY_NOT_ALLOWED)


# -- daily caps ----------------------------------------------------------------------------


@pytest.mark.postgres
def test_the_sms_over_a_customers_daily_cap_is_refused_and_never_sent(
    live: Callable[..., Live],
) -> None:
    service = live(customer_sms_daily_cap=3)
    for _ in range(4):
        assert service.notify.deliver(received_event())
    assert send_all(service) == 3
    assert send_all(service) == 0  # nothing left to try again
    assert len(service.phones.received(CUSTOMER)) == 3
    messages = service.notify.messages(phone=CUSTOMER)
    assert [m.refused_reason for m in messages] == [None, None, None, DAILY_CAP]
    assert all(m.submitted_at is not None for m in messages[:3])
    assert (messages[3].status, messages[3].submitted_at) == ("refused", None)
    (refused,) = message_log(service, status="refused")
    assert (refused["phone"], refused["refused_reason"], refused["attempts"]) == (
        CUSTOMER,
        DAILY_CAP,
        0,
    )


@pytest.mark.postgres
def test_the_cap_counts_the_centres_day_not_utcs(make_notify: Callable[..., Notify]) -> None:
    notify = make_notify(customer_sms_daily_cap=1, timezone="Asia/Shanghai")

    def received_at(local: str) -> str:
        when = datetime.fromisoformat(f"{local}+08:00").astimezone(UTC)
        payload = ComplaintReceived.model_validate(received_event().payload)
        with notify.env.db.transaction() as session:
            planning.on_complaint_received(
                session, notify.ctx, payload, event_id=str(when.timestamp()), now=when
            )
        return str(notify.messages(phone=CUSTOMER)[-1].status)

    # 23:50 and 00:10 in Beijing are one UTC day (15:50, 16:10) and two of the centre's.
    assert received_at("2026-12-03T23:50:00") == "pending"
    assert received_at("2026-12-04T00:10:00") == "pending"
    assert received_at("2026-12-04T23:59:00") == "refused"
    # 00:10 in Beijing on the 4th: the day began at 16:00 UTC on the 3rd.
    start = day_start(datetime(2026, 12, 3, 16, 10, tzinfo=UTC), notify.config)
    assert start == datetime(2026, 12, 3, 16, 0, tzinfo=UTC)


@pytest.mark.postgres
def test_an_urgent_prompt_still_reaches_a_duty_manager_past_the_staff_cap(
    make_notify: Callable[..., Notify], caplog: pytest.LogCaptureFixture
) -> None:
    notify = make_notify(staff_sms_daily_cap=2, staff_rate_limit=0)
    for _ in range(3):
        notify.deliver(assigned(received_event()))
    with warnings_of_limits(caplog):
        notify.deliver(assigned(received_event(severity="urgent"), urgent=True))
    sent = [(m.urgent, m.status, m.refused_reason) for m in notify.messages(phone=DM01)]
    assert sent == [
        (False, "pending", None),
        (False, "pending", None),
        (False, "refused", DAILY_CAP),
        (True, "pending", None),
    ]
    assert any("passes the daily cap of 2 SMS" in r.getMessage() for r in caplog.records)


@pytest.mark.postgres
def test_caps_of_zero_limit_nothing(make_notify: Callable[..., Notify]) -> None:
    notify = make_notify(customer_sms_daily_cap=0)
    for _ in range(25):
        notify.deliver(received_event())
    assert {m.status for m in notify.messages(phone=CUSTOMER)} == {"pending"}
