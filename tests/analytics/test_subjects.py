"""What a complaint is about — the place or organisation it names, and its problem — and
hot issues grouped from that, without a database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.analytics.text import subjects
from services.analytics.text.issues import Entry, group, label, merge_places, rank
from services.analytics.text.subjects import parse_gazetteer, subject_of

START = datetime(2026, 3, 1, tzinfo=UTC)


def entry(n: int, text: str, caller: str | None = None, location: str | None = None) -> Entry:
    s = subject_of(text, location)
    return Entry(f"c{n}", f"TS-{n}", caller or f"+86139{n:08d}", START + timedelta(hours=n),
                 s.lang, s.place, s.place_key, s.area, s.words)  # fmt: skip


def test_an_estate_named_in_a_real_message_is_the_place_and_its_district_the_area() -> None:
    s = subject_of("A3区杜鹃文苑小区外的非法汽车检测站要开业了！\n\n我们是杜鹃文苑小区的业主")
    assert (s.place, s.area) == ("杜鹃文苑", "A3区")
    assert s.place_key == "杜鹃文苑"
    assert "检测站" in "".join(s.words) or "非法" in s.words


def test_a_province_or_a_city_is_an_area_never_the_place() -> None:
    for text, area in (("西地省的养老金什么时候涨", "西地省"), ("A市可以实现集中供暖吗？", "A市")):
        s = subject_of(text)
        assert s.place is None and s.area == area, (text, s)


def test_names_with_digits_and_latin_codes_survive() -> None:
    assert subject_of("K9栋电梯坏了，物业不修").place == "K9栋"
    assert subject_of("地铁5号线施工导致停电").place == "地铁5号线"
    english = subject_of(
        "I rented an apartment through 58 Home and the deposit was never returned."
    )
    assert english.place == "58 Home" and "deposit" in english.words


def test_the_centres_gazetteer_names_what_the_segmenter_cuts_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = tmp_path / "places.txt"
    names.write_text(
        "# our city's names\n58同城 = 五八同城\n锦楚国际星城 = 锦楚国际新城, 锦楚星城\n"
    )
    monkeypatch.setenv("ANALYTICS_GAZETTEER", str(names))
    subjects.gazetteer.cache_clear()
    try:
        assert subject_of("在58同城上租房，押金一直不退").place == "58同城"
        assert subject_of("五八同城的中介乱收费").place == "58同城"
        assert subject_of("锦楚星城三期一个月停电十次").place == "锦楚国际星城"
        assert subjects.version() != f"{subjects.ALGORITHM}:none"
    finally:
        subjects.gazetteer.cache_clear()
    assert parse_gazetteer(["  ", "# nothing"]).names == {}


def test_redaction_marks_and_generic_words_never_make_a_word_or_a_label() -> None:
    s = subject_of(
        "On XX/XX/XXXX Wells Fargo Bank charged me an overdraft fee of {$35.00}. XXXX XXXX "
        "at Wells Fargo refused to refund the overdraft fee."
    )
    assert s.lang == "en" and s.place == "Wells Fargo Bank" and s.place_key == "wells fargo"
    assert not {w for w in s.words if "x" * 2 in w or "$" in w}
    assert "overdraft" in s.words
    issue = {"lang": "en", "place": "Wells Fargo", "words": ["overdraft", "fee", "refund"]}
    written = label(issue, ["XXXX XXXX charged an overdraft fee again", "***"])
    assert written.startswith("Wells Fargo: ") and "XXXX" not in written and "*" not in written


def test_each_language_is_grouped_on_its_own() -> None:
    zh = [entry(n, f"翠湖花园电梯又坏了，第{n}次反映") for n in range(5)]
    en = [
        entry(10 + n, f"Wells Fargo charged me an overdraft fee again, case {n}.") for n in range(4)
    ]
    issues, _ = group([*zh, *en])
    for issue in issues:
        assert len({e.lang for e in issue.members}) == 1
    found = rank([*zh, *en], [], start=START, end=START + timedelta(days=1), min_callers=3)
    by_lang = {i["lang"]: i for i in found}
    assert by_lang["zh"]["callers"] == 5 and by_lang["zh"]["place"] == "翠湖花园"
    assert by_lang["en"]["callers"] == 4 and by_lang["en"]["place"] == "Wells Fargo"


def test_a_caller_who_writes_three_times_is_one_caller() -> None:
    same = [entry(n, "翠湖花园电梯又坏了，老人上不了楼", caller="+8613900000001") for n in range(3)]
    others = [entry(5 + n, "翠湖花园电梯故障困人") for n in range(2)]
    [issue] = rank([*same, *others], [], start=START, end=START + timedelta(days=1),
                   min_callers=2)  # fmt: skip
    assert (issue["complaints"], issue["callers"]) == (5, 3)


def test_two_spellings_of_one_estate_are_one_place_but_numbered_neighbours_are_not() -> None:
    merged = merge_places(["锦楚国际星城", "锦楚国际新城", "幸福一村小区", "幸福二村小区"])
    assert merged["锦楚国际星城"] == merged["锦楚国际新城"]
    assert merged["幸福一村小区"] != merged["幸福二村小区"]


@pytest.fixture(autouse=True)
def no_gazetteer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("ANALYTICS_GAZETTEER", raising=False)
    subjects.gazetteer.cache_clear()
    yield
    subjects.gazetteer.cache_clear()
