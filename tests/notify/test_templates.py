"""The template files a centre edits: complete in every language, rendered within the
allowed number of parts, and refused at start when wrong."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from services.notify.config import NotifyConfig
from services.notify.rendering import NAMES, Listed, TemplateError, Templates
from services.notify.text import measure

LONG = "客户称上月话费账单多扣了 30 元，多次致电客服未果，情绪激动，要求当天退款并道歉。" * 6


@pytest.fixture
def templates() -> Templates:
    config = NotifyConfig()
    return Templates.load(config.templates_dir, config.default_language)


def test_both_languages_have_every_template(templates: Templates) -> None:
    assert set(templates.languages) >= {"zh-CN", "en"}
    for language in ("zh-CN", "en"):
        assert set(templates.languages[language].texts) == set(NAMES)


def test_a_long_summary_is_cut_to_fit_the_parts_allowed(templates: Templates) -> None:
    fields = {
        "urgent": "【紧急】",
        "reference": "TS20261122-000001",
        "severity": "特急",
        "category": "账务",
        "customer_phone": "+86138****8000",
        "description": LONG,
    }
    for parts in (1, 2, 3):
        rendered = templates.render("staff_assigned", "zh-CN", fields, max_segments=parts)
        assert rendered.segments <= parts
        assert rendered.encoding == "UCS-2"
        assert "TS20261122-000001" in rendered.text
        assert rendered.text.endswith("回复1确认受理。")  # how to reply is never cut
        assert "…" in rendered.text
        assert measure(rendered.text) == rendered.length


def test_a_short_message_is_left_whole(templates: Templates) -> None:
    rendered = templates.render(
        "customer_received", "en", {"reference": "TS20261122-000001"}, max_segments=1
    )
    assert rendered.text == (
        "Your complaint has been registered, reference TS20261122-000001. "
        "We will text you when it is resolved."
    )
    assert (rendered.encoding, rendered.segments) == ("GSM-7", 1)


def test_a_language_without_a_template_falls_back_to_the_default(
    templates: Templates, tmp_path: Path
) -> None:
    for path in Path(NotifyConfig().templates_dir).glob("*.toml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "fr.toml").write_text(
        '[templates.customer_closed]\ntext = "Votre réclamation {reference} est close."\n',
        encoding="utf-8",
    )
    loaded = Templates.load(tmp_path, "zh-CN")
    closed = loaded.render("customer_closed", "fr", {"reference": "X"}, max_segments=1)
    assert (closed.language, closed.text) == ("fr", "Votre réclamation X est close.")
    received = loaded.render("customer_received", "fr", {"reference": "X"}, max_segments=1)
    assert received.language == "zh-CN"


def test_a_wrong_placeholder_stops_the_start_naming_file_and_template(tmp_path: Path) -> None:
    (tmp_path / "zh-CN.toml").write_text(
        '[templates.customer_closed]\ntext = "投诉 {referense} 已办结"\n', encoding="utf-8"
    )
    with pytest.raises(TemplateError, match=r"zh-CN.toml \[templates.customer_closed\].*referense"):
        Templates.load(tmp_path, "zh-CN")


def test_attribute_access_in_a_template_is_refused(tmp_path: Path) -> None:
    (tmp_path / "en.toml").write_text(
        '[templates.customer_closed]\ntext = "{reference.__class__}"\n', encoding="utf-8"
    )
    with pytest.raises(TemplateError, match="unknown placeholder"):
        Templates.load(tmp_path, "en")


def test_the_default_language_must_have_every_template(tmp_path: Path) -> None:
    (tmp_path / "zh-CN.toml").write_text(
        '[templates.customer_closed]\ntext = "投诉 {reference} 已办结"\n', encoding="utf-8"
    )
    with pytest.raises(TemplateError, match="lacks templates: customer_received"):
        Templates.load(tmp_path, "zh-CN")


def test_every_complaint_category_is_named_in_each_language(templates: Templates) -> None:
    taxonomy = json.loads(Path("shared/taxonomy.json").read_text(encoding="utf-8"))
    for category in taxonomy["categories"]:
        for language, column in (("zh-CN", "zh"), ("en", "en")):
            # The SMS names a category exactly as the agent's category picker does.
            assert templates.label(language, "category", category["id"]) == category[column]


def test_an_optional_part_is_left_out_with_its_punctuation_when_its_value_is_missing(
    templates: Templates,
) -> None:
    fields = {"reference": "TS20261122-000001", "reopen_count": 1, "link": None}
    rendered = templates.render("staff_reopened", "zh-CN", fields, max_segments=3)
    assert rendered.text == "投诉 TS20261122-000001重办（第1次）。"
    fields |= {"severity": "一般", "category": "账单计费", "reason": "客户补充了新情况"}
    rendered = templates.render("staff_reopened", "zh-CN", fields, max_segments=3)
    assert (
        rendered.text == "投诉 TS20261122-000001（一般/账单计费）重办（第1次）：客户补充了新情况。"
    )


def test_a_centre_can_write_brackets_and_is_told_of_an_unbalanced_one(tmp_path: Path) -> None:
    for path in Path(NotifyConfig().templates_dir).glob("*.toml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "en.toml").write_text(
        "[templates.customer_closed]\n"
        'text = "[[Hotline]] {reference} closed[ ({customer_name})]"\n',
        encoding="utf-8",
    )
    loaded = Templates.load(tmp_path, "zh-CN")
    closed = loaded.render("customer_closed", "en", {"reference": "X"}, max_segments=1)
    assert closed.text == "[Hotline] X closed"
    for text, problem in [
        ("{reference} [closed", "never closed"),
        ("{reference} closed]", "without its"),
        ("{reference}[ closed]", "names no placeholder"),
        ("[{reference} [{customer_name}]]", "cannot hold another"),
    ]:
        (tmp_path / "en.toml").write_text(
            f'[templates.customer_closed]\ntext = "{text}"\n', encoding="utf-8"
        )
        with pytest.raises(
            TemplateError, match=rf"en.toml \[templates.customer_closed\].*{problem}"
        ):
            Templates.load(tmp_path, "zh-CN")


def test_a_list_of_references_loses_whole_references_never_half_of_one(
    templates: Templates,
) -> None:
    references = tuple(f"TS20261122-{n:06d}" for n in range(1, 40))
    fields = {"count": 39, "urgent_count": 3, "overdue_count": 1, "references": Listed(references)}
    rendered = templates.render("staff_shift_handover", "zh-CN", fields, max_segments=2)
    assert rendered.segments <= 2
    shown = re.findall(r"TS\d{8}-\d{6}", rendered.text)
    assert shown == list(references[: len(shown)]) and 0 < len(shown) < 39
    assert f"{shown[-1]}, …" in rendered.text


def test_a_text_cut_to_nothing_takes_its_optional_part_with_it(templates: Templates) -> None:
    fields: dict[str, object] = {
        "reference": "TS20261122-000001",
        "severity": "一般",
        "category": "账单计费",
        "customer_phone": "+86138****8000",
        "link": "https://workbench.hotline.example/c/TS20261122-000001",
    }
    bare = templates.render("staff_dispatched", "zh-CN", fields, max_segments=2)
    # A link (never cut) so long that the two parts leave no room for the instructions.
    fields["link"] = str(fields["link"]) + "?" + "x" * (67 * 2 - bare.length.units - 2)
    fields["instructions"] = LONG
    rendered = templates.render("staff_dispatched", "zh-CN", fields, max_segments=2)
    assert rendered.text == bare.text.replace(
        "https://workbench.hotline.example/c/TS20261122-000001", str(fields["link"])
    )
    assert "：…" not in rendered.text and rendered.segments == 2


def test_a_hot_issue_alert_keeps_its_counts_and_first_time_within_the_parts_allowed(
    templates: Templates,
) -> None:
    fields = {
        "label": "阳光花园小区三期东门地下车库：" + LONG,
        "callers": 12,
        "complaints": 15,
        "first_at": "12-05 08:10",
        "references": Listed(tuple(f"TS20261205-{n:06d}" for n in range(1, 40))),
        "workbench": "https://workbench.hotline.example",
    }
    for language, marker, counts in (
        (
            "zh-CN",
            "【热点预警】阳光花园小区",
            "24小时内12位来电人反映（共15件），首次反映 12-05 08:10。",
        ),
        (
            "en",
            "[HOT ISSUE] 阳光花园小区",
            ", 12 callers in 24 h (15 complaints), first at 12-05 08:10.",
        ),
    ):
        for parts in (2, 3):
            rendered = templates.render("staff_hot_issue", language, fields, max_segments=parts)
            assert rendered.segments <= parts, (language, parts)
            assert rendered.text.startswith(marker) and counts in rendered.text
            assert rendered.text.endswith("https://workbench.hotline.example")
            assert "…" in rendered.text  # the label cut, never the counts or the link
