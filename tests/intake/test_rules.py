"""The rules intake applies before anything is stored: phones, categories, text, references."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.intake.complaints.models import ComplaintCreate
from services.intake.complaints.registration import reference_for, request_hash
from services.intake.config import IntakeConfig
from shared.phones import InvalidPhone, normalise_phone, parse_phone
from shared.taxonomy import taxonomy
from tests.intake.conftest import complaint


@pytest.mark.parametrize(
    "typed",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+86 138 0013 8000",
        "008613800138000",
        "+8613800138000",
    ],
)
def test_an_agent_can_type_a_mainland_mobile_any_usual_way(typed: str) -> None:
    assert normalise_phone(typed, region="CN") == "+8613800138000"


def test_a_foreign_number_in_e164_is_kept() -> None:
    assert parse_phone("+44 20 7946 0958", region="CN").e164 == "+442079460958"


@pytest.mark.parametrize("typed", ["12345", "1380013800", "abc", "", "+86 138 0013 80001"])
def test_a_number_that_cannot_be_dialled_is_refused(typed: str) -> None:
    with pytest.raises(InvalidPhone):
        normalise_phone(typed, region="CN")


def test_the_reference_carries_the_local_date_and_a_six_digit_number() -> None:
    late_evening_utc = datetime(2026, 11, 21, 17, 30, tzinfo=UTC)  # 01:30 on the 22nd in Beijing
    assert reference_for(123, late_evening_utc, IntakeConfig()) == "TS20261122-000123"
    assert reference_for(1234567, late_evening_utc, IntakeConfig()).endswith("-1234567")


def test_categories_are_found_by_id_or_by_either_label() -> None:
    tax = taxonomy()
    assert {"billing", "network", "service", "product", "delivery", "other"} <= set(tax.ids)
    assert tax.find("城乡建设") is not None
    assert tax.find("Billing") is tax.get("billing")


def test_an_unknown_category_lists_the_allowed_ones() -> None:
    with pytest.raises(ValidationError) as err:
        ComplaintCreate(**complaint(category="weather"))
    message = str(err.value)
    assert "unknown category 'weather'" in message and "billing" in message


def test_a_description_is_cleaned_but_chinese_and_english_are_kept_intact() -> None:
    data = ComplaintCreate(
        **complaint(description="  宽带断网三天\x00了。\r\n\r\n\r\nThe router light is red.  ")
    )
    assert data.description == "宽带断网三天了。\n\nThe router light is red."


def test_a_blank_or_huge_description_is_refused() -> None:
    with pytest.raises(ValidationError, match="too short"):
        ComplaintCreate(**complaint(description="   啊  "))
    with pytest.raises(ValidationError, match="too long"):
        ComplaintCreate(**complaint(description="投诉" * 3000))


def test_the_same_complaint_typed_differently_hashes_the_same() -> None:
    a = ComplaintCreate(**complaint(customer_phone="13800138000"))
    b = ComplaintCreate(**complaint(customer_phone="+86 138-0013-8000"))
    c = ComplaintCreate(**complaint(severity="urgent"))
    assert request_hash(a) == request_hash(b) != request_hash(c)


@settings(max_examples=500, deadline=None)
@given(
    prefix=st.sampled_from(["", "+86", "86", "0086", "+86 "]),
    digits=st.from_regex(r"1[0-9]{10}", fullmatch=True),
)
def test_the_quick_mainland_check_agrees_with_the_full_phone_number_parse(
    prefix: str, digits: str
) -> None:
    number = None
    with contextlib.suppress(phonenumbers.NumberParseException):
        number = phonenumbers.parse(prefix + digits, "CN")
    expected = None
    mobile = (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
    if (
        number is not None
        and phonenumbers.is_valid_number(number)
        and phonenumbers.number_type(number) in mobile
    ):
        expected = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    try:
        got: str | None = normalise_phone(prefix + digits, region="CN")
    except InvalidPhone:
        got = None
    assert got == expected
