"""Reports as CSV and as a printable HTML page (its template is in templates/)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from shared.vocabulary import RootCause

FIGURE_LABELS = {
    "received": ("收到派单", "Complaints received"),
    "complaints": ("本月在办", "Complaints of the month kept"),
    "accepted": ("已签收", "Accepted"),
    "acceptance_median_hours": ("签收时长中位数 (h)", "Time to accept, median (h)"),
    "acceptance_p90_hours": ("签收时长 P90 (h)", "Time to accept, p90 (h)"),
    "acceptance_compliance": ("按时签收率", "Accepted in time"),
    "resolved": ("已答复", "Answered"),
    "resolution_median_hours": ("办理时长中位数 (h)", "Time to answer, median (h)"),
    "resolution_p90_hours": ("办理时长 P90 (h)", "Time to answer, p90 (h)"),
    "resolution_compliance": ("按时办结率", "Answered in time"),
    "returned": ("退单", "Returned"),
    "reopened": ("重办", "Reopened"),
    "open": ("未办结", "Still open"),
    "overdue": ("已超时", "Overdue now"),
    "satisfied": ("满意（最终）", "Satisfied (final verdict)"),
    "unsatisfied": ("不满意（最终）", "Unsatisfied (final verdict)"),
    "unreachable": ("回访未联系上", "Never reached"),
    "satisfaction_rate": ("最终满意率", "Satisfaction, final"),
    "first_satisfaction_rate": ("首次答复满意率", "Satisfaction with the first answer"),
    "ever_unsatisfied": ("曾不满意", "Unsatisfied at least once"),
    "root_causes_revised": ("质检改判根因", "Root causes revised by QA"),
}
_RATES = {
    "acceptance_compliance",
    "resolution_compliance",
    "satisfaction_rate",
    "first_satisfaction_rate",
}


# A spreadsheet reads a cell starting with one of these as a formula; complaint text is
# written by the public, so such a text cell gets a leading apostrophe (read as text).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def table_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def department_csv(report: dict[str, Any]) -> str:
    """One table: section, item, value, previous month, change, reference, detail."""
    rows: list[list[Any]] = []
    previous = report["previous"]
    changes = {c["figure"]: c["change"] for c in report["changes"]}
    for name, value in report["summary"].items():
        rows.append(["summary", name, value, previous.get(name), changes.get(name), "", ""])
    for issue in report.get("hot_issues", []):
        rows.append(
            ["hot_issue", issue["label"], issue["callers"], issue["previous_callers"], "",
             " ".join(e["reference"] for e in issue["examples"]), issue["complaints"]]
        )  # fmt: skip
    for cause in report["root_causes"]["causes"]:
        rows.append(
            ["root_cause", cause["root_cause"], cause["count"], "", "", "", cause["label_zh"]]
        )
        for ex in cause["examples"]:
            rows.append(
                [
                    "root_cause_example",
                    cause["root_cause"],
                    "",
                    "",
                    "",
                    ex["reference"],
                    ex["description"],
                ]
            )
    for reason, n in report["returned"]["by_reason"].items():
        rows.append(["returned", reason, n, "", "", "", ""])
    for ex in report["returned"]["examples"]:
        rows.append(
            ["returned_example", ex["reason_code"], "", "", "", ex["reference"], ex["reason"]]
        )
    for r in report["reopened"]:
        rows.append(
            ["reopened", r["category"], r["reopens"], "", "", r["reference"], r["description"]]
        )
    for r in report["overdue"]:
        rows.append(
            ["overdue", r["stage"], r["escalation_level"], "", "", r["reference"], r["due_at"]]
        )
    header = ["section", "item", "value", "previous_month", "change", "reference", "detail"]
    return table_csv(header, rows)


def _fmt(name: str, value: Any) -> str:
    if value is None:
        return "–"
    if name in _RATES:
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _percent(value: float) -> str:
    return f"{value:.0%}"


def _trend(change: dict[str, Any] | None) -> tuple[str, str]:
    """The change cell of a figure: its class (good, bad or none) and its text."""
    if change is None:
        return "", ""
    delta, better = change["change"], change["better"]
    if delta is None or delta == 0:
        return "", "–"
    good = better is not None and ((delta < 0) == (better == "down"))
    cls = "good" if good else ("bad" if better else "")
    shown = f"{delta:+.0%}" if change["figure"] in _RATES else f"{delta:+.1f}".replace(".0", "")
    arrow = "▲" if delta > 0 else "▼"
    return cls, f"{arrow} {shown}"


def _figures(report: dict[str, Any]) -> list[dict[str, str]]:
    changes = {c["figure"]: c for c in report["changes"]}
    figures = []
    for name, value in report["summary"].items():
        zh, en = FIGURE_LABELS.get(name, (name, name))
        trend, change = _trend(changes.get(name))
        figures.append(
            {
                "zh": zh,
                "en": en,
                "value": _fmt(name, value),
                "previous": _fmt(name, report["previous"].get(name)),
                "trend": trend,
                "change": change,
            }
        )
    return figures


# Complaint text, reasons and names come from the public and from staff: every value a
# page shows is escaped by the engine, and a name the template does not get is an error
# rather than a blank on a report someone acts on.
TEMPLATES = Path(__file__).parent / "templates"
PAGES = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
PAGES.filters["percent"] = _percent


def department_html(report: dict[str, Any], department_name: str | None = None) -> str:
    """The printable page, headed by the department's name (else its id)."""
    return PAGES.get_template("department.html").render(
        report=report,
        department=department_name or report.get("department_name") or report["department"],
        figures=_figures(report),
    )


def root_cause_label(cause: str) -> str:
    label = RootCause.of(cause)
    return f"{label.zh} {label.en}" if label else cause
