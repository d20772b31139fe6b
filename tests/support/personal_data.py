"""A customer's personal data as tests plant it, and how to tell whether an answer still
shows it: the real complaint texts in data/ that hold phone numbers and e-mail addresses,
a customer with a name, a mobile, an ID number, a landline, a bank card and an e-mail
address, and `leaks`, which finds any of them in an answer however it is spaced."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from shared.privacy import id_checksum_ok, looks_like_resident_id

DATA = Path(__file__).resolve().parents[2] / "data"
# The columns of each file that hold what a customer (or a clerk) wrote.
TEXTS = {
    "gov_messages_labelled.csv": ("留言主题", "留言详情"),
    "ecommerce_dispute_appeals.csv": ("content",),
    "ict_fault_root_causes.csv": ("问题现象", "原因分析", "故障处理过程", "整改措施"),
}


def real_texts() -> list[str]:
    found = []
    for name, columns in TEXTS.items():
        with (DATA / name).open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                found.extend(row[c] for c in columns if row.get(c))
    return found


# --- what a person's number looks like, said independently of the masker ----------------

_RUN = re.compile(r"[0-9Xx](?:[ \-\u00a0\u3000]?[0-9Xx])*")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
MOBILE = re.compile(r"(?<!\d)(?:86)?(1[3-9]\d{9})(?!\d)")


def personal_numbers(text: str) -> list[str]:
    """Mobiles, checksummed IDs, landlines with their area code and e-mail addresses
    still readable in `text`: every run of digits (spaces and dashes inside allowed),
    and the 11-digit mobiles inside it; a run glued to letters is a code, not a phone."""
    left = []
    for run in _RUN.finditer(text):
        digits = re.sub(r"[^0-9Xx]", "", run.group(0))
        left.extend(m.group(1) for m in MOBILE.finditer(digits))
        if len(digits) == 18 and id_checksum_ok(digits.upper()) and looks_like_resident_id(digits):
            left.append(digits)
        before = text[run.start() - 1] if run.start() else ""
        if re.fullmatch(r"0\d{9,11}", digits) and not (before.isascii() and before.isalpha()):
            left.append(digits)
    left.extend(_EMAIL.findall(text))
    return left


def texts_with_mobiles(count: int, *, longest: int = 400) -> list[str]:
    """Real complaint texts (the e-commerce appeals: couriers' and sellers' mobiles) that
    hold a mobile number, short enough to register."""
    with (DATA / "ecommerce_dispute_appeals.csv").open(encoding="utf-8") as handle:
        rows = [row["content"].strip() for row in csv.DictReader(handle)]
    found = [t for t in rows if MOBILE.search(t) and 20 <= len(t) <= longest]
    assert len(found) >= count, f"only {len(found)} texts with a mobile in data/"
    return found[:count]


# --- a customer who told us everything ---------------------------------------------------


@dataclass(frozen=True)
class Customer:
    name: str = "王秀英"
    phone: str = "139 1234 5678"  # as the agent types it
    e164: str = "+8613912345678"
    id_number: str = "11010519491231002X"
    landline: str = "0731-8412 3456"
    card: str = "6222 0212 3456 7890 128"
    email: str = "wang.xiuying@example.com"

    def says(self, text: str) -> str:
        """A real complaint's text, with what this customer added to it on the line."""
        return (
            f"{text}\n我是{self.name}，手机 {self.phone}，家里座机 {self.landline}，"
            f"身份证 {self.id_number}，退款请打到卡 {self.card}，邮箱 {self.email}。"
        )

    def secrets(self, *texts: str) -> list[str]:
        """What must never show in full: this customer's numbers and address, and the
        mobiles in the real texts they were planted in."""
        numbers = [self.phone, self.id_number, self.landline, self.card]
        for text in texts:
            numbers += [m.group(1) for m in MOBILE.finditer(re.sub(r"[ \-]", "", text))]
        return sorted(set(numbers))


def _spelled_any_way(number: str) -> re.Pattern[str]:
    """The number's digits with anything a person or a format puts between them."""
    digits = [d for d in number if d.isdigit() or d in "Xx"]
    # The local part of a landline is what identifies it; the area code is shared.
    if number.startswith("0") and "-" in number:
        digits = [d for d in number.split("-", 1)[1] if d.isdigit()]
    return re.compile(r"[ \-\u00a0\u3000]?".join(re.escape(d) for d in digits), re.IGNORECASE)


def leaks(body: str, customer: Customer, secrets: list[str]) -> list[str]:
    """Which of the customer's data `body` shows: their name, their e-mail address, or
    any of `secrets` (however spaced)."""
    found = [customer.name] if customer.name in body else []
    if customer.email.split("@")[0] in body:
        found.append(customer.email)
    found += [s for s in secrets if _spelled_any_way(s).search(body)]
    return found
