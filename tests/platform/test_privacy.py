"""Personal data in free text, masked for the roles that may not read it: on the real
complaint texts in data/, on numbers written every way people write them inside Chinese
and English sentences, and never on what only looks like a number of a person (dates,
amounts, references, order numbers)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shared.privacy import (
    SIGHT,
    looks_like_resident_id,
    luhn_ok,
    mask_text,
    mask_values,
    mask_word,
    sight,
)
from shared.vocabulary import STAFF_ROLES, Role
from tests.support.personal_data import personal_numbers, real_texts


def test_the_real_complaints_keep_no_phone_id_or_email_readable() -> None:
    texts = real_texts()
    with_numbers = [t for t in texts if personal_numbers(t)]
    # The files hold couriers' mobiles, hotlines' landlines and e-mail addresses.
    assert len(with_numbers) >= 45
    for text in with_numbers:
        masked = mask_text(text)
        assert personal_numbers(masked) == [], masked


def test_the_real_complaints_lose_nothing_else() -> None:
    """Masking stars digits and shortens e-mail addresses; every other character of
    every text is as it was."""
    changed = 0
    for text in real_texts():
        masked = mask_text(text)
        if "@" in text:
            continue
        assert len(masked) == len(text)
        for before, after in zip(text, masked, strict=True):
            assert before == after or (before.isdigit() and after == "*"), (text, masked)
        changed += masked != text
    assert changed >= 20


@pytest.mark.parametrize(
    ("said", "masked"),
    [
        # The courier's mobile and an e-mail address in real appeals (data/).
        ("派件员：郭金春 15726122593正在为您派件", "派件员：郭金春 157****2593正在为您派件"),
        ("标错订单信息发邮件给BC部门（bc@jd.com）", "标错订单信息发邮件给BC部门（b***@jd.com）"),
        ("请打 138 0013 8000 找我", "请打 138 **** 8000 找我"),
        ("电话138-0013-8000。", "电话138-****-8000。"),
        ("call +86 138 0013 8000 after 6pm", "call +86 138 **** 8000 after 6pm"),
        ("(+86)13800138000", "(+86)138****8000"),
        ("座机010-65123456转801", "座机010-****3456转801"),
        ("(010)6512 3456", "(010)**** 3456"),
        ("湖南 0731-8412 3456", "湖南 0731-**** 3456"),
        ("from abroad +86 10 6512 3456", "from abroad +86 10 **** 3456"),
        ("身份证号110105194912310021，", "身份证号1101**********0021，"),
        ("ID 11010519491231002X.", "ID 1101**********002X."),
        ("旧身份证 110105491231002 号", "旧身份证 1101*******1002 号"),
        ("退款到卡 6222 0212 3456 7890 128", "退款到卡 **** **** **** ***0 128"),
        ("card 4111-1111-1111-1111", "card ****-****-****-1111"),
        ("卡号 4111 1111 1111 1111 2026年起", "卡号 **** **** **** 1111 2026年起"),
        ("mail Zhang.Wei@example.com.cn", "mail Z***@example.com.cn"),
        ("UK number +44 20 7946 0958", "UK number +44 ** **** 0958"),
    ],
)
def test_numbers_as_people_write_them(said: str, masked: str) -> None:
    assert mask_text(said) == masked


@pytest.mark.parametrize(
    "ordinary",
    [
        "上月话费账单多扣了 1,280.00元，2026-12-04 10:30 才发现。",
        "参考号 TS20261204-12，工单 TS20261204-000012，2026年12月4日",
        "订单号： 84693445473，运单号码 70628033017125，编号 2019-02-21 2019-02-22",
        "waybill KQ00704679250, serial FCN00124900195, refund of 30.00 yuan on 2026/12/04",
        "Bug 5108234 in Oracle 10.2.0.1; GB50500-2013",
    ],
)
def test_ordinary_numbers_stay(ordinary: str) -> None:
    assert mask_text(ordinary) == ordinary


def test_the_customers_name_is_masked_where_it_is_known() -> None:
    text = "王女士说：我是王女士，电话13800138000。Zhang Wei and zhang  wei, not Zhangwei."
    assert mask_text(text, names=["王女士", "Zhang Wei", None, "李"]) == (
        "王**说：我是王**，电话138****8000。Z**** W** and z**** w**, not Zhangwei."
    )
    # One character is no name to look for: 李 is in too many words.
    assert mask_text("李子很好吃", names=["李"]) == "李子很好吃"


def test_a_word_out_of_a_text_is_masked_as_the_text_would_be() -> None:
    names = ["王秀英", None]
    assert mask_word("秀英", names=names) == "秀*"
    assert mask_word("王秀英", names=names) == "王**"
    assert mask_word("13800138000", names=names) == "138****8000"
    assert mask_word("快递", names=names) == "快递"


def test_payloads_keep_their_ids_and_times() -> None:
    payload = {
        "caller_words": "我的电话13800138000",
        "department_id": "b13800138000",
        "next_attempt_counts_from": "2026-12-04T10:00:00+00:00",
        "breach": {"reason": "回拨 010-65123456"},
        "missing": ["loss_verified"],
    }
    assert mask_values(payload) == {
        "caller_words": "我的电话138****8000",
        "department_id": "b13800138000",
        "next_attempt_counts_from": "2026-12-04T10:00:00+00:00",
        "breach": {"reason": "回拨 010-****3456"},
        "missing": ["loss_verified"],
    }


# --- generated: every way to write a number, inside Chinese and English ---------------

_WORDS = st.text(
    alphabet=st.sampled_from(list("投诉宽带断线客服电话请联系我的号码退款账单 the call me at")),
    max_size=12,
)
# What stands between a sentence and a number: never a digit or a letter glued to it.
_BEFORE = st.sampled_from([" ", "：", ":", "，", "(", "（", "【", "电话", "tel "])
_AFTER = st.sampled_from(["", " ", "。", ".", "，", ")", "）", "】", "转801"])
_SEPS = st.sampled_from(["", " ", "-"])


def _in_text(words: st.SearchStrategy[str], number: st.SearchStrategy[str]) -> st.SearchStrategy:
    return st.tuples(words, _BEFORE, number, _AFTER, words)


@st.composite
def mobiles(draw: st.DrawFn) -> tuple[str, str]:
    digits = draw(st.sampled_from("3456789")) + draw(st.text("0123456789", min_size=9, max_size=9))
    number = "1" + digits
    sep = draw(_SEPS)
    prefix = draw(st.sampled_from(["", "+86 ", "+86", "0086 ", "86-", "(+86)"]))
    return prefix + sep.join((number[:3], number[3:7], number[7:])), number


@st.composite
def landlines(draw: st.DrawFn) -> tuple[str, str]:
    area = draw(st.sampled_from(["010", "021", "020", "0731", "0755", "0571", "0851"]))
    local = draw(st.sampled_from("2345678")) + draw(
        st.text("0123456789", min_size=6 if len(area) == 4 else 7, max_size=7)
    )
    sep = draw(_SEPS)
    head = draw(st.sampled_from([area + sep, f"({area})", "+86 " + area[1:] + " "]))
    split = len(local) - 4
    return head + local[:split] + draw(_SEPS) + local[split:], area + local


def _check(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


@st.composite
def resident_ids(draw: st.DrawFn) -> tuple[str, str]:
    province = draw(st.sampled_from([11, 31, 43, 44, 51, 65]))
    region = f"{province}{draw(st.integers(100, 9999)):04d}"
    born = draw(st.dates(date(1930, 1, 1), date(2020, 12, 31)))
    first17 = region + born.strftime("%Y%m%d") + f"{draw(st.integers(0, 999)):03d}"
    number = first17 + _check(first17)
    if draw(st.booleans()):
        return number, number
    sep = draw(st.sampled_from([" ", ""]))
    return sep.join((number[:6], number[6:14], number[14:])), number


@st.composite
def cards(draw: st.DrawFn) -> tuple[str, str]:
    body = draw(st.sampled_from("3456")) + draw(st.text("0123456789", min_size=11, max_size=17))
    for check in "0123456789":
        if luhn_ok(body + check):
            number = body + check
            break
    sep = draw(st.sampled_from(["", " ", "-"]))
    if not sep:
        return number, number
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4)), number


def _digits_of(text: str) -> str:
    return re.sub(r"[^0-9X*]", "", text)


@settings(max_examples=300, deadline=None)
@given(_in_text(_WORDS, mobiles()))
def test_a_mobile_in_a_sentence_is_always_masked(parts: tuple) -> None:
    head, before, (written, number), after, tail = parts
    masked = mask_text(head + before + written + after + tail)
    assert number not in _digits_of(masked)
    assert number[:3] + "****" + number[-4:] in _digits_of(masked)


@settings(max_examples=300, deadline=None)
@given(_in_text(_WORDS, landlines()))
def test_a_landline_in_a_sentence_is_always_masked(parts: tuple) -> None:
    head, before, (written, number), after, tail = parts
    masked = mask_text(head + before + written + after + tail)
    assert number[-8:] not in _digits_of(masked)
    assert "****" in masked or "***" + number[-4:] in _digits_of(masked)


@settings(max_examples=300, deadline=None)
@given(_in_text(_WORDS, resident_ids()))
def test_an_id_number_in_a_sentence_is_always_masked(parts: tuple) -> None:
    head, before, (written, number), after, tail = parts
    masked = mask_text(head + before + written + after + tail)
    assert number not in _digits_of(masked)
    assert number[:4] + "*" * 10 + number[-4:] in _digits_of(masked)


@settings(max_examples=300, deadline=None)
@given(_in_text(_WORDS, cards()))
def test_a_bank_card_in_a_sentence_is_always_masked(parts: tuple) -> None:
    head, before, (written, number), after, tail = parts
    masked = mask_text(head + before + written + after + tail)
    assert number not in _digits_of(masked)
    as_card = "*" * (len(number) - 4) + number[-4:]
    # Some 18-digit card numbers are also well-formed ID numbers: masked as one.
    as_id = number[:4] + "*" * 10 + number[-4:]
    assert as_card in _digits_of(masked) or as_id in _digits_of(masked)


@settings(max_examples=200, deadline=None)
@given(
    _in_text(
        _WORDS,
        st.tuples(
            st.from_regex(r"[a-z][a-z0-9._]{0,12}", fullmatch=True),
            st.sampled_from(["example.com", "qq.com", "mail.example.com.cn"]),
        ).map(lambda p: (f"{p[0]}@{p[1]}", p[0])),
    )
)
def test_an_email_in_a_sentence_is_always_masked(parts: tuple) -> None:
    head, before, (written, local), after, tail = parts
    masked = mask_text(head + before + written + after + tail)
    assert f"{local[0]}***@" in masked
    assert written not in masked


@st.composite
def ordinary(draw: st.DrawFn) -> str:
    """Dates, times, amounts, references and order numbers that are no card or ID."""
    day = draw(st.dates(date(2000, 1, 1), date(2099, 12, 31)))
    amount = draw(st.integers(0, 9_999_999))
    order = draw(st.sampled_from("123456789")) + draw(
        st.text("0123456789", min_size=12, max_size=18)
    )
    assume(not luhn_ok(order) and not looks_like_resident_id(order))
    pieces = [
        day.isoformat(),
        day.strftime("%Y/%m/%d"),
        f"{day.year}年{day.month}月{day.day}日",
        f"{day:%Y-%m-%d} {draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}",
        f"{amount:,}.{draw(st.integers(0, 99)):02d}元",
        f"TS{day:%Y%m%d}-{draw(st.integers(1, 999999))}",
        f"订单号 {order}",
        f"order {order}",
    ]
    return draw(st.sampled_from(pieces))


@settings(max_examples=400, deadline=None)
@given(_WORDS, st.lists(ordinary(), min_size=1, max_size=4), _WORDS)
def test_dates_amounts_references_and_order_numbers_stay_as_written(
    head: str, pieces: list[str], tail: str
) -> None:
    text = head + "，".join(pieces) + tail
    assert mask_text(text) == text


# --- who sees what -----------------------------------------------------------------------


def test_every_staff_role_has_its_sight() -> None:
    assert set(SIGHT) == set(STAFF_ROLES)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.QA, "someone", None, Role.SYSTEM])
def test_roles_without_a_need_see_no_name_phone_or_raw_text(role: Role | str | None) -> None:
    seen = sight(role).complaint(
        {
            "customer_name": "王女士",
            "customer_phone": "+8613800138000",
            "description": "王女士的身份证110105194912310021，电话138 0013 8000",
            "resolution": "已回拨 13800138000",
        },
        text=("description", "resolution"),
    )
    assert seen == {
        "customer_name": None,
        "customer_phone": "+86138****8000",
        "description": "王**的身份证1101**********0021，电话138 **** 8000",
        "resolution": "已回拨 138****8000",
    }


@pytest.mark.parametrize(
    "role", [Role.AGENT, Role.DUTY_MANAGER, Role.SUPERVISOR, Role.DEPARTMENT, Role.ADMIN]
)
def test_those_who_handle_the_case_see_it_as_the_customer_gave_it(role: Role) -> None:
    values = {
        "customer_name": "王女士",
        "customer_phone": "+8613800138000",
        "description": "电话138 0013 8000",
    }
    assert sight(role).complaint(values) == values


def test_only_the_centre_reads_a_customers_file() -> None:
    readers = {role for role in STAFF_ROLES if sight(role).customer_file}
    assert readers == {Role.AGENT, Role.DUTY_MANAGER, Role.SUPERVISOR, Role.ADMIN}
