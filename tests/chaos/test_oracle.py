"""The SMS oracle's counting, with no system: a complaint's life as its driver recorded it,
and the SMS its phones received (written by the product's own templates, so the oracle
reads what notify writes). Each fault the fault-injection run must catch is counted."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from services.notify.config import NotifyConfig
from services.notify.rendering import Templates
from shared.vocabulary import Action
from tests.chaos.oracle import (
    ACKNOWLEDGEMENT,
    ASSIGNMENT,
    CLOSURE,
    DISPATCH,
    OPT_OUT_CONFIRMATION,
    OPTED_OUT,
    REGISTERED,
    REPLY_NOTICE,
    SURVEY,
    UNEXPECTED,
    Life,
    QuietHours,
    Received,
    SmsCount,
    count_sms,
    expected_sms,
    history_differences,
)

DM = "+8613900139001"
BILLING = "+8613700137001"
T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 11:00 at the centre
TEMPLATES = Templates.load(NotifyConfig().templates_dir, "zh-CN")


def body(template: str, **fields: Any) -> str:
    return TEMPLATES.render(template, "zh-CN", fields, max_segments=3).text


def closed_life(reference: str = "TS20261123-000001", customer: str = "+8613500000001") -> Life:
    """Registered, dispatched, accepted, replied and answered satisfied."""
    life = Life(customer=customer, department_phone=BILLING, reference=reference)
    for n, what in enumerate(
        (REGISTERED, Action.DISPATCH, Action.ACCEPT, Action.REPLY, Action.FEEDBACK)
    ):
        life.confirm(what, T0 + timedelta(seconds=n))
    return life


def phones_of(life: Life, *, at: datetime = T0 + timedelta(minutes=1)) -> list[Received]:
    """Every SMS the product sends for a closed life, as the phones receive them."""
    ref = life.reference
    said = [
        (life.customer, body("customer_received", reference=ref)),
        (DM, body("staff_assigned", reference=ref, severity="一般", category="交通运输")),
        (BILLING, body("staff_dispatched", reference=ref, instructions="请核实")),
        (life.customer, body("customer_replied", reference=ref, resolution="已退费")),
        (DM, body("staff_replied", reference=ref, resolution="已退费")),
        (life.customer, body("customer_closed", reference=ref)),
    ]
    return [Received(phone, text, at) for phone, text in said]


def count(
    lives: Iterable[Life], received: list[Received], quiet: QuietHours | None = None
) -> SmsCount:
    lives = list(lives)
    now = T0 + timedelta(hours=1)
    expected = expected_sms(lives, duty_manager=DM, now=now, quiet=quiet)
    return count_sms(expected, received, duty_manager=DM, departments=[BILLING], quiet=quiet)


def figures(counted: SmsCount) -> tuple[int, int]:
    return counted.missing, counted.extra


def test_a_complaint_whose_phones_got_each_sms_once_counts_nothing_missing_or_extra() -> None:
    life = closed_life()
    counted = count([life], phones_of(life))
    assert figures(counted) == (0, 0)
    assert {k: t.expected for k, t in counted.by_kind.items() if t.expected} == {
        ACKNOWLEDGEMENT: 1,
        ASSIGNMENT: 1,
        DISPATCH: 1,
        SURVEY: 1,
        REPLY_NOTICE: 1,
        CLOSURE: 1,
    }


def test_a_missing_assignment_notice_is_counted_though_a_later_notice_names_the_reference() -> None:
    first, second = closed_life(), closed_life("TS20261123-000002", "+8613500000002")
    received = phones_of(first) + phones_of(second)
    lost = next(r for r in received if r.phone == DM and first.reference in r.body)
    assert "新投诉" in lost.body
    received.remove(lost)
    # The duty manager still received SMS naming the first complaint (its reply notice),
    # and another complaint's assignment: neither is the first one's own notice.
    assert any(r.phone == DM and first.reference in r.body for r in received)
    counted = count([first, second], received)
    assert counted.by_kind[ASSIGNMENT].missing == 1
    assert figures(counted) == (1, 0)


def test_a_closure_notice_sent_twice_is_an_extra() -> None:
    life = closed_life()
    received = phones_of(life)
    received.append(next(r for r in received if "已办结" in r.body))
    counted = count([life], received)
    assert counted.by_kind[CLOSURE].extra == 1
    assert figures(counted) == (0, 1)


def test_an_sms_the_record_does_not_imply_is_an_extra() -> None:
    life = closed_life()
    other = "TS20261123-000099"  # no driver confirmed anything about it
    received = [
        *phones_of(life),
        Received(DM, body("staff_assigned", reference=other), T0),
        Received(DM, body("staff_ack_none"), T0),
    ]
    counted = count([life], received)
    assert counted.by_kind[ASSIGNMENT].extra == 1
    assert counted.by_kind[UNEXPECTED].extra == 1


def test_a_customer_who_opted_out_gets_the_confirmation_and_nothing_else() -> None:
    life = Life(customer="+8613500000003", department_phone=BILLING)
    life.confirm(OPTED_OUT, T0 - timedelta(seconds=5))
    done = closed_life(customer=life.customer)
    life.reference, life.record = done.reference, life.record + done.record
    staff_only = [r for r in phones_of(life) if r.phone != life.customer]
    confirmation = Received(life.customer, body("customer_opted_out"), T0)
    assert figures(count([life], [*staff_only, confirmation])) == (0, 0)

    counted = count([life], phones_of(life))  # the customer was written to all the same
    assert counted.by_kind[OPT_OUT_CONFIRMATION].missing == 1
    assert counted.extra == 3


def test_customer_sms_wait_for_the_end_of_quiet_hours() -> None:
    # 02:00 to 12:00 at the centre: the record's events (11:00 there) fall in them, and
    # the reckoning (12:00 there) comes as they end.
    quiet = QuietHours(time(2, 0), time(12, 0))
    life = closed_life()
    in_the_night = [Received(r.phone, r.body, T0 + timedelta(minutes=1)) for r in phones_of(life)]
    counted = count([life], in_the_night, quiet)
    # Sent in the quiet hours: each customer SMS is both early (extra) and not there
    # when due (missing); the staff's are not held.
    assert {k: (t.missing, t.extra) for k, t in counted.by_kind.items() if t.missing} == {
        ACKNOWLEDGEMENT: (1, 1),
        SURVEY: (1, 1),
        CLOSURE: (1, 1),
    }
    morning = [
        Received(r.phone, r.body, T0 + timedelta(hours=1, minutes=1)) for r in phones_of(life)
    ]
    assert figures(count([life], morning, quiet)) == (0, 0)


def test_a_history_missing_or_doubling_a_confirmed_action_differs() -> None:
    life = closed_life()
    whole = [
        Action.ASSIGN.api_name,
        Action.DISPATCH.api_name,
        Action.ACCEPT.api_name,
        Action.REPLY.api_name,
        Action.FEEDBACK.api_name,
    ]
    assert history_differences(life, whole) == []
    without_accept = [a for a in whole if a != Action.ACCEPT.api_name]
    assert history_differences(life, without_accept) == [
        f"{Action.ACCEPT.api_name} missing (0 of 1)"
    ]
    dispatched_twice = [*whole, Action.DISPATCH.api_name]
    assert history_differences(life, dispatched_twice) == [
        f"{Action.DISPATCH.api_name} 2x, 1 confirmed"
    ]
    urged_by_nobody = [*whole, Action.URGE.api_name]
    assert history_differences(life, urged_by_nobody) == [f"{Action.URGE.api_name} 1x, 0 confirmed"]
