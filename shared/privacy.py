"""Personal data by role: what each role may see of a complaint, and free text with the
personal data in it masked for those who may not read it as written.

Customers type their numbers into what they say: "请打 138 0013 8000 找我", an ID
number for a claim, a bank card for a refund. `mask_text` finds them in Chinese and
English text and keeps enough to recognise them (138****8000, 1101**********1234,
a***@example.com, **** **** **** 1234), and masks the customer's name wherever the
system knows it. What it leaves: dates, times, amounts (1,280.00元), references
(TS20261204-000012) and order or waybill numbers that are no card and no ID.

`sight(role)` is the one rule of who sees what; every service applies it to its answers
(`Sight.complaint` for a complaint's fields, `Sight.text` for any other text about one).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any

from shared.logs import mask_phone
from shared.vocabulary import Role

# What people type between the digits of a number.
_SEP = r"[ \-\u00a0\u3000]"

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])([A-Za-z0-9][A-Za-z0-9._%+\-]*)@"
    r"([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})"
)
# 18 digits (the last may be X), maybe grouped 6-8-4 as printed on the card.
_ID18 = re.compile(rf"(?<![0-9A-Za-z])\d{{6}}{_SEP}?\d{{8}}{_SEP}?\d{{3}}[0-9Xx](?!\d)")
# The first-generation card: 15 digits, the birth year in two.
_ID15 = re.compile(r"(?<![0-9A-Za-z])\d{15}(?!\d)")
# A mainland mobile, maybe with +86 / 0086 / 86 before it and spaces or dashes inside:
# 13800138000, 138 0013 8000, 138-0013-8000, +86 138 0013 8000, (+86)13800138000.
_MOBILE = re.compile(
    rf"(?<!\d)((?:\(?(?:\+|00)86\)?|86){_SEP}?)?1[3-9]\d(?:{_SEP}?\d{{4}}){{2}}(?!\d)"
)
# A landline with its area code: 010-65123456, (010)6512 3456, 0731-8412 3456, and
# +86 10 6512 3456 written from abroad. Not after a letter: KQ00704679250 is a waybill.
_LANDLINE = re.compile(
    rf"(?<![0-9A-Za-z])(?:(?:\+|00)86{_SEP}?\(?0?[1-9]\d{{1,2}}\)?|\(0\d{{2,3}}\)|0\d{{2,3}})"
    rf"{_SEP}?\d{{3,4}}{_SEP}?\d{{4}}(?!\d)"
)
# A number from outside the mainland in its international form: +44 20 7946 0958.
_INTERNATIONAL = re.compile(rf"(?<![0-9A-Za-z+])\+(?!86)[1-9]\d{{0,2}}(?:{_SEP}?\d){{6,13}}(?!\d)")
# A bank card: 13 to 19 digits, together or in groups (6222 0212 3456 7890 123, 3000 0000
# 0000 7); groups of two never, which is how dates are written. A number glued to letters
# before it is a code (SN0030008397771800), not a card.
_CARD = re.compile(
    rf"(?<![0-9A-Za-z])(?:\d{{13,19}}|\d{{4}}(?:{_SEP}\d{{3,6}}){{1,4}}(?:{_SEP}\d{{1,2}})?)(?!\d)"
)

# The provinces' codes that open an ID number (GB/T 2260), and Taiwan's, Hong Kong's
# and Macau's (residence permits). A company's tax number (91…) is no one's ID.
_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit() or ch in "Xx").upper()


def id_checksum_ok(number: str) -> bool:
    """The 18th character of a resident ID is a checksum of the first 17 (GB 11643)."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def _real_day(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def looks_like_resident_id(number: str) -> bool:
    """An 18-digit resident ID: a province's code, and a checksum that adds up or a birth
    day that is a real day (a mistyped ID is still somebody's ID). A 15-digit one of the
    first generation: a province's code and a real birth day."""
    if len(number) == 18:
        if not number[:17].isdigit() or int(number[:2]) not in _PROVINCES:
            return False
        born = _real_day(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        return id_checksum_ok(number) or (born and 1900 <= int(number[6:10]) <= 2100)
    if len(number) == 15 and number.isdigit():
        return int(number[:2]) in _PROVINCES and _real_day(
            1900 + int(number[6:8]), int(number[8:10]), int(number[10:12])
        )
    return False


def luhn_ok(number: str) -> bool:
    """The check digit of a payment card number (ISO/IEC 7812)."""
    if not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _star(text: str, keep: Callable[[int, int], bool]) -> str:
    """The digits of `text` starred but those `keep(i, n)` (i-th of n digits) keeps; the
    separators stay, so the number keeps the shape it was written in."""
    n = sum(ch.isdigit() or ch in "Xx" for ch in text)
    out, i = [], 0
    for ch in text:
        if ch.isdigit() or ch in "Xx":
            out.append(ch if keep(i, n) else "*")
            i += 1
        else:
            out.append(ch)
    return "".join(out)


def _mask_mobile(found: re.Match[str]) -> str:
    prefix = found.group(1) or ""
    number = found.group(0)[len(prefix) :]
    return prefix + _star(number, lambda i, n: i < 3 or i >= n - 4)


def _mask_landline(found: re.Match[str]) -> str:
    text = found.group(0)
    digits = _digits(text)
    # Beijing (010) and the 02x cities have three-digit area codes, the rest four; the
    # country code and the area code stay, the local number is starred but its last four.
    prefix = 4 if digits.startswith("0086") else 2 if text.lstrip("(").startswith("+") else 0
    national = digits[prefix:]
    if not national.startswith("0"):
        national, prefix = "0" + national, prefix - 1
    area = 3 if national[1] in "12" else 4
    keep = prefix + area
    return _star(text, lambda i, n: i < keep or i >= n - 4)


def _mask_email(found: re.Match[str]) -> str:
    return f"{found.group(1)[0]}***@{found.group(2)}"


@dataclass(frozen=True)
class _Find:
    start: int
    end: int
    replacement: str


def _numbers(text: str) -> list[_Find]:
    """Every personal number in `text`, the first finder's claim winning where two
    overlap: an e-mail, an ID, a mobile, a card, a landline, any international number."""
    found: list[_Find] = []
    taken: list[tuple[int, int]] = []

    def claim(start: int, end: int, replacement: str) -> None:
        if any(start < e and s < end for s, e in taken):
            return
        taken.append((start, end))
        found.append(_Find(start, end, replacement))

    for m in _EMAIL.finditer(text):
        claim(m.start(), m.end(), _mask_email(m))
    for m in _ID18.finditer(text):
        number = _digits(m.group(0))
        if looks_like_resident_id(number):
            claim(m.start(), m.end(), _star(m.group(0), lambda i, n: i < 4 or i >= n - 4))
    for m in _MOBILE.finditer(text):
        claim(m.start(), m.end(), _mask_mobile(m))
    for m in _CARD.finditer(text):
        card = _card_in(m.group(0))
        if card:
            claim(m.start(), m.start() + len(card), _star(card, lambda i, n: i >= n - 4))
    for m in _ID15.finditer(text):
        if looks_like_resident_id(m.group(0)):
            claim(m.start(), m.end(), _star(m.group(0), lambda i, n: i < 4 or i >= n - 4))
    for m in _LANDLINE.finditer(text):
        claim(m.start(), m.end(), _mask_landline(m))
    for m in _INTERNATIONAL.finditer(text):
        claim(m.start(), m.end(), _mask_international(m.group(0)))
    return found


def _card_in(written: str) -> str | None:
    """The card number `written` starts with: all of it, or (for groups, where the next
    number may follow after a space) its first groups, if they make a valid card."""
    groups = re.split(f"({_SEP})", written)
    for end in range(len(groups), 0, -2):
        candidate = "".join(groups[:end])
        number = _digits(candidate)
        if 13 <= len(number) <= 19 and luhn_ok(number):
            return candidate
    return None


def _mask_international(text: str) -> str:
    # +44 20 7946 0958 → +44 ** **** 0958: the country code and the last four stay.
    head = re.match(r"\+\d{1,3}", text)
    code = len(head.group(0)) - 1 if head else 0
    return _star(text, lambda i, n: i < code or i >= n - 4)


def _mask_name(name: str) -> str:
    """王女士 → 王**, Zhang Wei → Z**** W**: the first letter of each part stays."""
    if name.isascii():
        return " ".join(part[:1] + "*" * (len(part) - 1) for part in name.split(" "))
    return name[:1] + "*" * (len(name) - 1)


def _name_pattern(names: Iterable[str | None]) -> re.Pattern[str] | None:
    usable = sorted(
        {" ".join(n.split()) for n in names if n and len(" ".join(n.split())) >= 2},
        key=len,
        reverse=True,
    )
    if not usable:
        return None
    parts = []
    for name in usable:
        words = r"\s+".join(re.escape(word) for word in name.split(" "))
        # A Latin name only as whole words: "Li" is not in "Lily".
        parts.append(rf"(?<![A-Za-z]){words}(?![A-Za-z])" if name.isascii() else words)
    return re.compile("|".join(parts), re.IGNORECASE)


def mask_text(text: str, *, names: Iterable[str | None] = ()) -> str:
    """`text` with the phone numbers, ID numbers, e-mail addresses and bank cards in it
    masked, and each of `names` (the customer's, as registered) wherever it occurs."""
    if not text:
        return text
    pattern = _name_pattern(names)
    finds = _numbers(text) if any(ch.isdigit() or ch == "@" for ch in text) else []
    if pattern is not None:
        taken = [(f.start, f.end) for f in finds]
        for m in pattern.finditer(text):
            if not any(m.start() < e and s < m.end() for s, e in taken):
                finds.append(_Find(m.start(), m.end(), _mask_name(" ".join(m.group(0).split()))))
    if not finds:
        return text
    out, at = [], 0
    for f in sorted(finds, key=lambda f: f.start):
        out.append(text[at : f.start])
        out.append(f.replacement)
        at = f.end
    out.append(text[at:])
    return "".join(out)


def mask_word(word: str, *, names: Iterable[str | None] = ()) -> str:
    """A single word out of a text (a keyword, a feature): masked if it is a number
    `mask_text` masks, or the customer's name or a part of it (王秀英 → 秀英)."""
    for name in names:
        if name and len(word) >= 2 and word.casefold() in name.casefold():
            return _mask_name(word)
    return mask_text(word)


def mask_values(value: Any, *, names: Iterable[str | None] = ()) -> Any:
    """Every string inside `value` (a history entry's payload, a report) masked, but
    ids and times, which are never personal and which clients follow."""
    names = tuple(names)

    def walk(item: Any, key: str = "") -> Any:
        if isinstance(item, str):
            if key == "id" or key.endswith(("_id", "_ids", "_at")):
                return item
            return mask_text(item, names=names)
        if isinstance(item, Mapping):
            return {k: walk(v, str(k)) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v, key) for v in item]
        return item

    return walk(value)


# --- who sees what ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sight:
    """What a role may see of a complaint's personal data."""

    name: bool  # the customer's name
    phone: bool  # the customer's phone in full; else 138****8000
    text: bool  # what the customer said (and staff wrote about it) as written
    customer_file: bool  # a customer's file: every complaint of one caller
    staff_phone: bool  # staff members' phones in full (the directory, the SMS log)

    def phone_of(self, phone: str | None) -> str | None:
        if not phone or self.phone:
            return phone
        return mask_phone(phone) or None

    def text_of(self, text: str | None, *, names: Iterable[str | None] = ()) -> str | None:
        if not text or self.text:
            return text
        return mask_text(text, names=names)

    def values_of(self, value: Any, *, names: Iterable[str | None] = ()) -> Any:
        return value if self.text else mask_values(value, names=names)

    def complaint(
        self, values: Mapping[str, Any], *, text: Iterable[str] = ("description",)
    ) -> dict[str, Any]:
        """A complaint's fields as this role may see them: `customer_name` kept or left
        out, `customer_phone` in full or masked, and the free-text fields named in
        `text` as written or with their personal data masked."""
        seen = dict(values)
        name = values.get("customer_name")
        if "customer_name" in seen and not self.name:
            seen["customer_name"] = None
        if "customer_phone" in seen:
            seen["customer_phone"] = self.phone_of(seen["customer_phone"])
        if not self.text:
            for key in text:
                if isinstance(seen.get(key), str):
                    seen[key] = mask_text(seen[key], names=(name,))
        return seen


_ALL = Sight(name=True, phone=True, text=True, customer_file=True, staff_phone=True)
_NONE = Sight(name=False, phone=False, text=False, customer_file=False, staff_phone=False)

# Who needs what (DESIGN.md, "Who uses it"): the agent calls the customer back and reads
# their file on the line; the duty desk and the supervisors handle, follow up and close;
# a department clerk handles their department's case and may call the customer, but has
# no business with everything else a caller ever said; the administrator answers for
# the data and reads the access log. QA work on figures, causes and texts, and the
# outsourcing client on indicators: neither needs to know who the customer is.
SIGHT: Mapping[Role, Sight] = MappingProxyType(
    {
        Role.AGENT: _ALL,
        Role.DUTY_MANAGER: _ALL,
        Role.SUPERVISOR: _ALL,
        Role.ADMIN: _ALL,
        Role.DEPARTMENT: Sight(
            name=True, phone=True, text=True, customer_file=False, staff_phone=False
        ),
        Role.QA: _NONE,
        Role.VIEWER: _NONE,
    }
)


def sight(role: Role | str | None) -> Sight:
    """What `role` may see; a role the table does not name sees nothing personal."""
    word = Role.of(role) if role is not None else None
    return SIGHT.get(word, _NONE) if word is not None else _NONE
