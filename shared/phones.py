"""Phone numbers as people type them, read one way by every service.

An agent types what a caller says: a mainland mobile (138 0013 8000), a landline with its
area code and maybe an extension (010-6512 3456 转 801), or an international number
(+44 20 7946 0958, 0044…). `parse_phone` turns any of them into E.164 with the
extension apart and says whether the number can receive SMS; `normalise_phone` is the
short form for a field that needs one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

_SEPARATORS = re.compile(r"[\s\-().\u3000/]")
# 转 / 分机 (Chinese for "extension"), ext, x or # before the extension's digits.
_EXTENSION = re.compile(r"(?:转|分机|ext\.?|x|#)\s*(\d{1,6})\s*$", re.IGNORECASE)
_MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")


# The library's own rule for a mainland mobile, compiled once: the common case (an agent
# typing 138 0013 8000) is settled by one match instead of a full parse, with exactly
# the answer the full parse would give.
def _mainland_mobile_pattern() -> re.Pattern[str]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    pattern = metadata.mobile.national_number_pattern if metadata and metadata.mobile else None
    if not pattern:  # pragma: no cover - the library always carries China's metadata
        raise RuntimeError("phonenumbers has no pattern for mainland mobiles")
    return re.compile(f"(?:{pattern})")


_CN_MOBILE = _mainland_mobile_pattern()
_TEXTABLE = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


class InvalidPhone(ValueError):
    """Not a number that can be dialled; the message says why, for the caller's form."""


@dataclass(frozen=True)
class Phone:
    e164: str  # +8613800138000, +861065123456
    extension: str | None = None  # dialled after the number connects: 801
    textable: bool = True  # a mobile: SMS can reach it

    def __str__(self) -> str:
        return self.e164


def parse_phone(raw: str, *, region: str = "CN") -> Phone:
    """The number in E.164 with its extension, or InvalidPhone saying why.

    Numbers without a country code are read in `region`; a leading + or 00 means
    international. Landlines need their area code (010 6512 3456).
    """
    text = unicodedata.normalize("NFKC", raw or "").strip()
    extension = None
    found = _EXTENSION.search(text)
    if found:
        extension, text = found.group(1), text[: found.start()]
    text = _SEPARATORS.sub("", text)
    if not text:
        raise InvalidPhone("a phone number is required")
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("86") and _MAINLAND_MOBILE.match(text[2:]):
        text = "+" + text
    mainland = text[3:] if text.startswith("+86") else text
    national = text.startswith("+86") or (region == "CN" and not text.startswith("+"))
    if extension is None and national and _CN_MOBILE.fullmatch(mainland):
        return Phone("+86" + mainland)
    if not re.fullmatch(r"\+?\d{5,17}", text):
        raise InvalidPhone("only digits, spaces, dashes, a leading + and an extension are allowed")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        if not text.startswith("+") and region == "CN" and len(text) in (7, 8):
            raise InvalidPhone("a landline needs its area code, e.g. 010 6512 3456")
        raise InvalidPhone("not a valid number for its country")
    textable = phonenumbers.number_type(number) in _TEXTABLE
    return Phone(phonenumbers.format_number(number, PhoneNumberFormat.E164), extension, textable)


def normalise_phone(raw: str, *, region: str = "CN", textable: bool = True) -> str:
    """The E.164 form (+8613800138000), or InvalidPhone. With `textable` (for anyone we
    send SMS to: staff, department desks) a number that cannot receive SMS is refused."""
    phone = parse_phone(raw, region=region)
    if textable and not phone.textable:
        raise InvalidPhone("not a mobile number: it cannot receive SMS")
    if textable and phone.extension:
        raise InvalidPhone("an extension cannot receive SMS; give a mobile number")
    return phone.e164


def _single_country_codes() -> dict[str, str]:
    """Calling codes that belong to one country only (86 → CN, 44 is GB's and three
    others'): a number's country is then read off its first digits."""
    return {
        str(code): regions[0]
        for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
        if len(regions) == 1 and regions[0] != phonenumbers.UNKNOWN_REGION
    }


_ONE_COUNTRY = _single_country_codes()


def country_of(e164: str) -> str | None:
    """The ISO 3166 country of a number in E.164 form (+8613800138000 → CN,
    +14165550143 → CA), or None for what is not a number. A calling code several
    countries share names the one the number is valid in, or else its main country (a
    +44 number outside the crown dependencies' ranges is GB)."""
    digits = e164[1:] if e164.startswith("+") else ""
    # Calling codes are prefix-free: one to three digits name at most one of them.
    for length in (1, 2, 3):
        code = _ONE_COUNTRY.get(digits[:length])
        if code is not None:
            return code
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    if region in (None, phonenumbers.UNKNOWN_REGION) and number.country_code:
        region = phonenumbers.region_code_for_country_code(number.country_code)
    return None if region in (None, phonenumbers.UNKNOWN_REGION) else str(region)
