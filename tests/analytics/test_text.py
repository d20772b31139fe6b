"""Words, spikes and root-cause suggestions, on hand-made and on the real data."""

from __future__ import annotations

from datetime import date, timedelta

from services.analytics.reports.spikes import find_spikes
from services.analytics.text import datasets, suggest
from services.analytics.text.hotspots import Document, find_hotspots
from services.analytics.text.tokens import tokens


def test_chinese_is_segmented_into_words_and_english_tokenised_without_stop_words() -> None:
    assert tokens("您好，我们家里宽带断网三天了，希望尽快解决！") == ["宽带", "断网", "三天"]
    assert tokens("The broadband has been down for 3 days, please fix it") == [
        "broadband",
        "down",
        "days",
        "fix",
    ]
    assert tokens(None) == [] and tokens("123 456") == []


def test_a_day_far_above_its_trailing_baseline_is_a_spike_with_its_statistic() -> None:
    start = date(2026, 3, 1)
    billing = {start - timedelta(days=d): 1 for d in range(1, 29)}  # one a day for 28 days
    billing[start] = 8  # z = (8 − 1) / √max(0, 1, 1) = 7
    billing[start + timedelta(days=1)] = 3  # z = 2: more, not a spike
    network = {start: 8, **{start - timedelta(days=d): 6 + d % 3 for d in range(1, 29)}}
    found = find_spikes(
        {"billing": billing, "network": network},
        start=start,
        end=start + timedelta(days=1),
        baseline_days=28,
        min_count=5,
        threshold=3.0,
    )
    assert found["spikes"] == [
        {
            "category": "billing",
            "day": "2026-03-01",
            "count": 8,
            "baseline_mean": 1.0,
            "baseline_std": 0.0,
            "z": 7.0,
        }
    ]
    assert "sqrt(max(variance, mean, 1))" in found["statistic"]


def test_hot_spots_rise_above_the_baseline_and_come_with_examples() -> None:
    def doc(i: int, text: str) -> Document:
        return Document(str(i), f"R{i}", "network", text)

    baseline = [doc(i, "账单金额不对，多扣了话费") for i in range(10)]
    window = [doc(i, "小区停电，电梯停运，老人被困") for i in range(10, 16)]
    window += [doc(i, "账单金额不对，多扣了话费") for i in range(16, 20)]
    found = find_hotspots(window, baseline, min_count=3)
    assert found[0]["keywords"][0] in {"停电", "电梯", "停运", "小区"}
    assert {"停电", "电梯"} <= set(found[0]["keywords"])
    assert (found[0]["count"], found[0]["baseline_count"], found[0]["new"]) == (6, 0, True)
    assert len(found[0]["examples"]) == 3 and "停电" in found[0]["examples"][0]["text"]
    assert all("账单" not in t["keywords"] for t in found)  # as common as before: no hot spot


def test_root_cause_suggestions_beat_the_majority_class_on_it_incident_reports() -> None:
    data = datasets.ict_root_causes()
    result = suggest.evaluate(data.texts, data.labels, data.categories)
    assert result.classes == 5 and result.test > 200
    assert result.accuracy > result.baseline_accuracy
    assert result.macro_f1 > 2 * result.baseline_macro_f1


def test_category_suggestions_beat_the_majority_class_on_hotline_messages() -> None:
    data = datasets.gov_categories()
    result = suggest.evaluate(data.texts, data.labels)
    assert result.classes == 7
    assert result.accuracy > result.baseline_accuracy + 0.3
    assert result.macro_f1 > 0.6


def test_a_suggestion_names_the_words_that_favour_it() -> None:
    docs = [
        suggest.features("计费系统故障，重复扣费", "billing"),
        suggest.features("系统升级后无法登录", "service"),
        suggest.features("营业员态度恶劣", "service"),
        suggest.features("客服态度差，挂电话", "service"),
    ]
    model = suggest.Suggester().fit(docs, ["system", "system", "service", "service"])
    best = model.suggest(suggest.features("系统故障导致重复扣费", "billing"))[0]
    assert best["label"] == "system" and best["probability"] > 0.5
    assert {"系统故障", "billing"} <= set(best["because_of"])
