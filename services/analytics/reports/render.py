"""Reports as CSV and as a printable HTML page."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

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
    "satisfied": ("满意", "Satisfied"),
    "unsatisfied": ("不满意", "Unsatisfied"),
    "satisfaction_rate": ("满意率", "Satisfaction"),
    "root_causes_revised": ("质检改判根因", "Root causes revised by QA"),
}
_RATES = {"acceptance_compliance", "resolution_compliance", "satisfaction_rate"}


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


def _change_cell(change: dict[str, Any]) -> str:
    delta, better = change["change"], change["better"]
    if delta is None or delta == 0:
        return '<td class="num">–</td>'
    good = better is not None and ((delta < 0) == (better == "down"))
    cls = "good" if good else ("bad" if better else "")
    shown = f"{delta:+.0%}" if change["figure"] in _RATES else f"{delta:+.1f}".replace(".0", "")
    arrow = "▲" if delta > 0 else "▼"
    return f'<td class="num {cls}">{arrow} {escape(shown)}</td>'


_STYLE = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",Arial,sans-serif;margin:2em;color:#222}
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.15em;border-bottom:2px solid #345;
padding-bottom:.2em;margin-top:1.6em}.meta{color:#666;margin-top:.3em}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #ccc;
padding:.3em .5em;text-align:left;vertical-align:top;font-size:.92em}th{background:#eef2f6}
td.num{text-align:right;white-space:nowrap}.good{color:#176f2c}.bad{color:#b3261e}
ul.actions li{margin:.3em 0}.muted{color:#777}
@media print{body{margin:1cm}h2{page-break-after:avoid}table{page-break-inside:auto}
tr{page-break-inside:avoid}}
"""


def department_html(report: dict[str, Any], department_name: str | None = None) -> str:
    dept = escape(department_name or report["department"])
    month, before = escape(report["month"]), escape(report["previous_month"])
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>{dept} {month} 投诉月报 / monthly complaint report</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{dept} · {month} 投诉月报 <span class='muted'>Monthly complaint report</span></h1>",
        f"<p class='meta'>Generated {escape(report['generated_at'])} · compared with {before}</p>",
    ]
    if report["actions"]:
        parts.append("<h2>要点 · What to act on</h2><ul class='actions'>")
        parts += [f"<li>{escape(point)}</li>" for point in report["actions"]]
        parts.append("</ul>")

    parts.append("<h2>关键指标 · Key figures</h2><table><tr><th>指标 Figure</th>")
    parts.append(f"<th>{month}</th><th>{before}</th><th>变化 Change</th></tr>")
    changes = {c["figure"]: c for c in report["changes"]}
    for name, value in report["summary"].items():
        zh, en = FIGURE_LABELS.get(name, (name, name))
        change = changes.get(name)
        cell = _change_cell(change) if change else "<td class='num'></td>"
        parts.append(
            f"<tr><td>{escape(zh)} · {escape(en)}</td><td class='num'>{_fmt(name, value)}</td>"
            f"<td class='num'>{_fmt(name, report['previous'].get(name))}</td>{cell}</tr>"
        )
    parts.append("</table>")

    causes = report["root_causes"]
    parts.append("<h2>主要根因 · Top root causes</h2>")
    parts.append(
        f"<p class='meta'>{causes['total']} classified · {causes['revised']} revised by QA</p>"
    )
    if causes["causes"]:
        parts.append(
            "<table><tr><th>根因 Root cause</th><th>数量 Count</th><th>占比 Share</th>"
            "<th>累计 Cumulative</th><th>例子 Examples</th></tr>"
        )
        for cause in causes["causes"]:
            examples = "<br>".join(
                f"<b>{escape(ex['reference'])}</b> {escape(ex['description'])}"
                + (" <i>(QA)</i>" if ex["revised"] else "")
                for ex in cause["examples"]
            )
            parts.append(
                f"<tr><td>{escape(cause['label_zh'])} · {escape(cause['label_en'])}</td>"
                f"<td class='num'>{cause['count']}</td><td class='num'>{cause['share']:.0%}</td>"
                f"<td class='num'>{cause['cumulative']:.0%}</td><td>{examples}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p class='muted'>No classified complaints this month.</p>")

    returned = report["returned"]
    parts.append(f"<h2>退单 · Returned ({returned['total']})</h2>")
    if returned["examples"]:
        parts.append(
            "<table><tr><th>单号 Reference</th><th>原因 Reason</th><th>说明 Detail</th>"
            "<th>时间 At</th></tr>"
        )
        for ex in returned["examples"]:
            parts.append(
                f"<tr><td>{escape(ex['reference'])}</td><td>{escape(ex['reason_code'] or '')}</td>"
                f"<td>{escape(ex['reason'])}</td><td>{escape(ex['at'])}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p class='muted'>Nothing returned.</p>")

    parts.append(f"<h2>重办 · Reopened ({len(report['reopened'])})</h2>")
    parts.append(
        _rows(report["reopened"], ("reference", "category", "reopens", "feedback", "description"))
    )
    parts.append(f"<h2>超时未办结 · Overdue now ({len(report['overdue'])})</h2>")
    parts.append(
        _rows(report["overdue"], ("reference", "category", "stage", "due_at", "escalation_level"))
    )
    parts.append("</body></html>")
    return "".join(parts)


def _rows(items: list[dict[str, Any]], columns: Sequence[str]) -> str:
    if not items:
        return "<p class='muted'>None.</p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{escape(str(item.get(c, '') or ''))}</td>" for c in columns)
        + "</tr>"
        for item in items
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def root_cause_label(cause: str) -> str:
    label = RootCause.of(cause)
    return f"{label.zh} {label.en}" if label else cause
