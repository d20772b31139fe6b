"""Customer phone numbers: mainland mobiles written any common way, and E.164."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

_SEPARATORS = re.compile(r"[\s\-().\u3000]")
_MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")


# The library's own rule for a mainland mobile, compiled once: the common case (an
# agent typing 138 0013 8000) is settled by one match instead of a full parse, with
# exactly the answer the full parse would give.
_CN_MOBILE = re.compile(
    "(?:"
    + phonenumbers.PhoneMetadata.metadata_for_region("CN").mobile.national_number_pattern
    + ")"
)


class InvalidPhone(ValueError):
    pass


def normalise_phone(raw: str, *, region: str = "CN") -> str:
    """Return the E.164 form (+8613800138000) or raise InvalidPhone saying why.

    Mainland numbers come as 13800138000, 138-0013-8000, +86 138 0013 8000 or
    008613800138000; anything with a leading + (or 00) is read as international.
    """
    text = _SEPARATORS.sub("", raw or "")
    if not text:
        raise InvalidPhone("a phone number is required")
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("86") and _MAINLAND_MOBILE.match(text[2:]):
        text = "+" + text
    mainland = text[3:] if text.startswith("+86") else text
    if _CN_MOBILE.fullmatch(mainland) and (text.startswith("+86") or region == "CN"):
        return "+86" + mainland
    if not re.fullmatch(r"\+?\d{5,17}", text):
        raise InvalidPhone("only digits, spaces, dashes and a leading + are allowed")
    if not text.startswith("+") and region == "CN" and not _MAINLAND_MOBILE.match(text):
        raise InvalidPhone(
            "not a mainland mobile number (11 digits starting 13–19); "
            "give other numbers in E.164 form, e.g. +85291234567"
        )
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid number for its country")
    if number.country_code == 86 and phonenumbers.number_type(number) not in (
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidPhone("a mainland number must be a mobile number, to receive SMS")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)
