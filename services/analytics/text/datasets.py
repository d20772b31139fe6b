"""The real labelled data shipped in data/ (see data/SOURCES.md), read for evaluating
root-cause suggestions and for the benchmark's generated facts."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parents[3] / "data"
ICT = DATA / "ict_fault_root_causes.csv"
GOV = DATA / "gov_messages_labelled.csv"
APPEALS = DATA / "ecommerce_dispute_appeals.csv"

csv.field_size_limit(10_000_000)

# The incident reports spell some causes two ways; these are one cause each.
ICT_SAME_CAUSE = {
    "运行维护类原因": "运行维护不当",
    "软件设计缺陷原因": "软件设计缺陷",
    "用户操作不当原因": "操作不当等问题",
}
ICT_NO_CAUSE = {"", "0", "无报告"}


@dataclass(frozen=True)
class Labelled:
    texts: list[str]
    labels: list[str]
    categories: list[str | None]
    # What the department wrote once it knew: on the incident reports the cause analysis
    # (原因分析), the nearest thing they hold to a department's reply.
    resolutions: list[str | None] | None = None


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _flat(text: str | None) -> str:
    return " ".join((text or "").split())


def ict_root_causes(min_per_class: int = 5, *, with_analysis: bool = False) -> Labelled:
    """State-grid IT incidents: symptom (问题现象) → root cause (形成原因); the anomaly
    type (异常类型) plays the complaint category, and with `with_analysis` the written
    cause analysis (原因分析) the resolution. Reports without a stated cause, and causes
    seen fewer than `min_per_class` times, are left out."""
    rows = []
    for row in _rows(ICT):
        cause = (row.get("形成原因") or "").strip()
        cause = ICT_SAME_CAUSE.get(cause, cause)
        text = _flat(row.get("问题现象"))
        if cause in ICT_NO_CAUSE or not text:
            continue
        kind = (row.get("异常类型") or "").strip()
        analysis = _flat(row.get("原因分析")) or None
        rows.append((text, cause, kind if kind not in ICT_NO_CAUSE else None, analysis))
    kept = Counter(r[1] for r in rows)
    rows = [r for r in rows if kept[r[1]] >= min_per_class]
    return Labelled(
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows] if with_analysis else None,
    )


def ict_root_causes_with_analysis() -> Labelled:
    """The incident reports with their written cause analysis as the resolution."""
    return ict_root_causes(with_analysis=True)


def gov_categories() -> Labelled:
    """Government hotline messages: subject and text → first-level class (一级分类)."""
    texts, labels = [], []
    for row in _rows(GOV):
        label = (row.get("一级分类") or "").strip()
        text = _flat(f"{row.get('留言主题') or ''} {row.get('留言详情') or ''}")
        if label and text:
            texts.append(text)
            labels.append(label)
    return Labelled(texts, labels, [None] * len(texts))


def appeal_texts() -> list[tuple[str, str]]:
    """E-commerce dispute appeals: (text, first-level class) with some text."""
    found = []
    for row in _rows(APPEALS):
        text = _flat(row.get("content"))
        label = (row.get("outline") or "").split("-")[0].strip()
        if len(text) >= 5 and label:
            found.append((text, label))
    return found
