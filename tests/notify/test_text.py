"""How long an SMS is: GSM-7 160/153, UCS-2 70/67, and cutting text without breaking a
character."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.text import capacity, clip, measure


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # each € costs two septets
        ("[" * 81, "GSM-7", 162, 2),
        ("您" * 70, "UCS-2", 70, 1),
        ("您" * 71, "UCS-2", 71, 2),
        ("您" * 134, "UCS-2", 134, 2),
        ("您" * 135, "UCS-2", 135, 3),
        ("a" * 69 + "😀", "UCS-2", 71, 2),  # an emoji is two UTF-16 units
        ("Reply 1 if satisfied, 2 if not.", "GSM-7", 31, 1),
        ("满意请回复1", "UCS-2", 6, 1),
    ],
)
def test_a_text_costs_the_parts_its_alphabet_allows(
    text: str, encoding: str, units: int, segments: int
) -> None:
    length = measure(text)
    assert (length.encoding, length.units, length.segments) == (encoding, units, segments)


def test_one_chinese_character_turns_a_whole_message_into_ucs2() -> None:
    assert measure("a" * 100).segments == 1
    assert measure("a" * 99 + "元").segments == 2


def test_a_cut_summary_ends_in_an_ellipsis_and_keeps_within_its_budget() -> None:
    text = "上月话费账单多扣了 30 元，客服一直没有回复。" * 5
    cut = clip(text, 20, "UCS-2")
    assert cut.endswith("…")
    assert measure(cut).units <= 20
    assert text.startswith(cut[:-1])
    assert clip("short", 20, "UCS-2") == "short"
    assert clip("a long english summary of the complaint", 12, "GSM-7") == "a long..."


def test_a_cut_never_splits_an_emoji_a_flag_or_a_letter_from_its_accent() -> None:
    family = "👨\u200d👩\u200d👧"
    assert clip("ab" + family + "cd", 6, "UCS-2") == "ab…"
    accented = "e\u0301" * 10  # é written as e + a combining accent
    cut = clip(accented, 6, "UCS-2")
    assert cut.endswith("…")
    assert cut[:-1] == "e\u0301" * 2
    for width in range(1, 12):
        piece = clip("中文😀🇨🇳" * 3, width, "UCS-2")
        piece.encode("utf-8")  # no lone surrogate
        assert measure(piece).units <= width


@given(st.text(max_size=300), st.integers(min_value=0, max_value=400))
def test_any_cut_fits_its_budget_and_is_a_start_of_the_text(text: str, budget: int) -> None:
    encoding = measure(text).encoding
    cut = clip(text, budget, encoding)
    flat = " ".join(text.split())
    if cut == flat:
        return
    assert cut == "" or measure(cut).units <= budget or cut.endswith(("…", "..."))
    body = cut.removesuffix("…").removesuffix("...")
    assert flat.startswith(body)


def test_capacity_of_parts() -> None:
    assert capacity("GSM-7", 1) == 160
    assert capacity("GSM-7", 3) == 459
    assert capacity("UCS-2", 1) == 70
    assert capacity("UCS-2", 2) == 134
