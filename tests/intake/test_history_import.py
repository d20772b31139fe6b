"""Importing an older system's history (real PostgreSQL): each row keeps its own time and
its outcome, so what was closed there lands closed and only what was still open becomes
live work. What is imported is checked against the files themselves, read here with the
csv module, not through the importer."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import datetime
from io import StringIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from services.intake.complaints.service import complaints, notes_t
from services.intake.importer import import_rows, print_summary, read_rows
from services.intake.mapping import MappingError, presets
from tests.conftest import ROOT
from tests.intake.conftest import Intake

pytestmark = pytest.mark.postgres

DATA = Path(ROOT) / "data"
BEIJING = ZoneInfo("Asia/Shanghai")
# Every complaint export in data/ and the preset that reads it (the taxonomy file is the
# category tree those messages are classified under, not complaints).
EXPORTS = {
    "gov_messages_labelled.csv": "gov-messages",
    "ecommerce_dispute_appeals.csv": "ecommerce-disputes",
    "ict_fault_root_causes.csv": "ict-faults",
}
NOT_COMPLAINTS = {"gov_category_taxonomy.csv"}


def file_rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def statuses(intake: Intake) -> Counter[str]:
    with intake.env.db.read() as session:
        rows = session.execute(select(complaints.c.status, func.count()).group_by("status"))
        return Counter({status: n for status, n in rows})


def received_events(intake: Intake) -> list[dict[str, Any]]:
    return [
        json.loads(r.value)["payload"]
        for r in intake.outbox_rows()
        if r.event_type == "complaint.received"
    ]


def test_every_complaint_export_in_data_imports_with_a_preset_shipped_in_the_repository(
    intake: Intake,
) -> None:
    on_disk = {path.name for path in DATA.glob("*.csv")}
    assert on_disk == set(EXPORTS) | NOT_COMPLAINTS
    assert set(EXPORTS.values()) <= set(presets())
    for name, preset_name in EXPORTS.items():
        summary = import_rows(
            intake.env.db,
            read_rows(DATA / name),
            preset=preset_name,
            source=name,
            progress=False,
        )
        expected = len(file_rows(name))
        assert (summary.rows, summary.accepted, summary.rejected) == (expected, expected, []), (
            name,
            summary.rejected[:3],
        )
    assert intake.count("complaints") == sum(len(file_rows(n)) for n in EXPORTS)


def test_history_lands_closed_with_its_own_time_and_only_rows_marked_open_become_live_work(
    intake: Intake,
) -> None:
    name = "ict_fault_root_causes.csv"
    rows = file_rows(name)
    # What the file says, counted here: 否 is "not closed"; 是, 0 or nothing is history.
    still_open = [r for r in rows if r["是否办结"] == "否"]
    summary = import_rows(
        intake.env.db, read_rows(DATA / name), preset="ict-faults", source="ict", progress=False
    )
    assert (summary.closed, summary.open) == (len(rows) - len(still_open), len(still_open))
    assert statuses(intake) == {"closed": len(rows) - len(still_open), "received": len(still_open)}

    events = {e["external_id"]: e for e in received_events(intake)}
    assert len(events) == len(rows)
    closed_row = next(r for r in rows if r["是否办结"] == "是" and r["整改措施"].strip())
    closed = events[closed_row["id"]]
    came_in = datetime.strptime(closed_row["故障开始时间"], "%Y-%m-%d %H:%M:%S")
    ended = datetime.strptime(closed_row["故障结束时间"], "%Y-%m-%d %H:%M:%S")
    assert closed["registered_at"] == came_in.replace(tzinfo=BEIJING).isoformat()
    assert closed["imported_state"] == "closed"
    assert closed["imported_closed_at"] == ended.replace(tzinfo=BEIJING).isoformat()
    assert closed["imported_department"] == closed_row["单位简称"]
    assert closed_row["整改措施"].strip()[:20] in closed["imported_resolution"]
    assert closed["imported"] is True and closed["anonymous"] is True
    assert closed["category"] == "science_it"
    live = events[still_open[0]["id"]]
    assert live["imported_state"] is None and live["imported_resolution"] is None
    with intake.env.db.read() as session:
        reference = session.execute(
            select(complaints.c.reference).where(complaints.c.external_id == closed_row["id"])
        ).scalar_one()
    # The complaint says it was imported, and it is closed from the start.
    seen = intake.client.get(f"/complaints/{reference}", headers=intake.agent).json()
    assert (seen["status"], seen["closure_reason"], seen["imported"]) == (
        "closed",
        "imported",
        True,
    )
    assert seen["registered_at"].startswith(came_in.strftime("%Y-%m-%dT"))


def test_the_default_outcome_of_a_file_that_gives_none_is_history_unless_asked_otherwise(
    intake: Intake,
) -> None:
    rows = list(read_rows(DATA / "gov_messages_labelled.csv"))
    first = import_rows(intake.env.db, rows[:10], preset="gov-messages", source="a", progress=False)
    live = import_rows(
        intake.env.db,
        rows[10:15],
        preset="gov-messages",
        source="a",
        default_outcome="open",
        progress=False,
    )
    assert (first.closed, first.open, live.closed, live.open) == (10, 0, 0, 5)
    assert statuses(intake) == {"closed": 10, "received": 5}


def test_a_file_without_categories_is_refused_as_a_whole_unless_given_a_default_category(
    intake: Intake, tmp_path: Path
) -> None:
    export = tmp_path / "no_categories.csv"
    export.write_text(
        "customer_phone,description,registered_at\n"
        "13800138000,宽带每天晚上断线，修了三次都没好。,2020-03-18 08:00\n"
        "010-6512 3456 转 801,营业厅排队两个小时没人管。,2020-03-19 09:15\n",
        encoding="utf-8",
    )
    with pytest.raises(MappingError, match="--default-category"):
        import_rows(intake.env.db, read_rows(export), preset="generic", source="x", progress=False)
    assert intake.count("complaints") == 0
    summary = import_rows(
        intake.env.db,
        read_rows(export),
        preset="generic",
        source="x",
        default_category="network",
        progress=False,
    )
    assert (summary.accepted, summary.default_category) == (2, 2)
    landline = next(e for e in received_events(intake) if e["customer_extension"])
    assert (landline["customer_phone"], landline["customer_extension"]) == ("+861065123456", "801")
    assert landline["customer_textable"] is False and landline["category"] == "network"


def test_dates_in_the_common_formats_are_read_and_a_bad_date_refuses_only_its_row(
    intake: Intake, tmp_path: Path
) -> None:
    written = {
        "2020-03-18 08:00": "2020-03-18T08:00:00+08:00",
        "2020/3/18": "2020-03-18T00:00:00+08:00",
        "2020年3月18日": "2020-03-18T00:00:00+08:00",
        "2020年3月18日 8:05": "2020-03-18T08:05:00+08:00",
        "2020/3/18 12:09:38": "2020-03-18T12:09:38+08:00",
        "2020-03-18T08:00:00+00:00": "2020-03-18T08:00:00+00:00",
    }
    bad = ["3月18日下午", "2020/13/45", "2099-01-01"]
    lines = ["customer_ref,category,description,registered_at"]
    lines += [f"C{i},billing,账单多扣了三十元。,{when}" for i, when in enumerate([*written, *bad])]
    export = tmp_path / "dates.csv"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = import_rows(
        intake.env.db, read_rows(export), preset="generic", source="d", progress=False
    )
    assert summary.accepted == len(written)
    got = {
        e["customer_ref"]: datetime.fromisoformat(e["registered_at"])
        for e in received_events(intake)
    }
    assert [got[f"C{i}"] for i in range(len(written))] == [
        datetime.fromisoformat(v) for v in written.values()
    ]
    refused = {r.line: (r.field, r.kind) for r in summary.rejected}
    first_bad = len(written) + 2  # the header is line 1
    assert refused == {
        first_bad: ("registered_at", "not a time"),
        first_bad + 1: ("registered_at", "not a real time (month must be in 1..12)"),
        first_bad + 2: ("registered_at", "in the future"),
    }


def test_a_text_longer_than_intake_takes_is_cut_says_so_and_the_rest_is_kept_in_notes(
    intake: Intake, tmp_path: Path
) -> None:
    long_text = "".join(f"第{i}段：小区门口的路灯坏了很久，晚上出行非常不便。" for i in range(400))
    assert len(long_text) > 5000
    export = tmp_path / "long.csv"
    with export.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["customer_ref", "category", "description", "registered_at"])
        out.writerow(["C1", "urban_construction", long_text, "2020-03-18 08:00"])
    summary = import_rows(
        intake.env.db, read_rows(export), preset="generic", source="l", progress=False
    )
    assert (summary.accepted, summary.cut) == (1, 1)
    with intake.env.db.read() as session:
        row = session.execute(select(complaints)).one()
        notes = [n.text for n in session.execute(select(notes_t).order_by(notes_t.c.id))]
    assert len(row.description) <= 5000
    assert "其余见备注" in row.description and f"{len(long_text)} 字" in row.description
    kept = row.description.split("……【")[0]
    rest = "".join(note.split("】\n", 1)[1] for note in notes)
    assert kept + rest == long_text  # nothing lost
    assert all(len(note) <= 5000 for note in notes)
    shown = intake.client.get(f"/complaints/{row.id}/notes", headers=intake.agent).json()
    assert [n["source"] for n in shown] == ["import"] * len(notes)


def test_the_summary_groups_hundreds_of_refusals_by_kind_with_a_few_examples(
    intake: Intake, tmp_path: Path
) -> None:
    lines = ["customer_ref,category,description,registered_at"]
    lines += [f"C{i},billing,账单多扣了三十元。,3月{i % 28 + 1}日上午" for i in range(300)]
    lines += [f"D{i},weather{i},账单多扣了三十元。,2020-03-18" for i in range(40)]
    lines += ["E1,billing,账单多扣了三十元。,2020-03-18"]
    export = tmp_path / "messy.csv"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = import_rows(
        intake.env.db, read_rows(export), preset="generic", source="m", progress=False
    )
    assert (summary.accepted, len(summary.rejected)) == (1, 340)
    printed = StringIO()
    print_summary(summary, printed)
    by_reason = printed.getvalue().split("by reason")[1].strip().splitlines()[1:]
    assert len(by_reason) == 2, printed.getvalue()
    assert by_reason[0].split()[:3] == ["300", "registered_at:", "not"]
    assert "line 2 '3月1日上午', line 3 '3月2日上午', line 4 '3月3日上午', …" in by_reason[0]
    assert by_reason[1].split()[:4] == ["40", "category:", "unknown", "category"]


def test_any_export_is_mapped_without_code_by_a_small_mapping_file(
    intake: Intake, tmp_path: Path
) -> None:
    export = tmp_path / "crm_export.csv"
    export.write_text(
        "Ticket,Opened,Caller,Phone,Topic,Summary,Details,Team,Status,Answer,Closed\n"
        "T-1,18.03.2020 08:00,Ms Li,13800138000,Billing,Double charge,"
        "Charged twice for March.,Billing desk,Resolved,Refunded 30 yuan.,19.03.2020 10:00\n"
        "T-2,19.03.2020 09:30,,,Network,No signal,"
        "No signal at home since Monday.,Network ops,Open,,\n"
        "T-3,20.03.2020 11:00,Mr Wu,010-6512 3456,Parking,Parking fine,"
        "Fined although I had paid.,,Resolved,Fine cancelled.,20.03.2020 16:00\n",
        encoding="utf-8",
    )
    mapping = tmp_path / "crm.toml"
    mapping.write_text(
        """description = "Our old CRM's ticket export"
[columns]
time = "Opened"
time_format = "%d.%m.%Y %H:%M"
subject = "Summary"
text = "Details"
category = "Topic"
phone = "Phone"
caller_name = "Caller"
external_id = "Ticket"
department = "Team"
outcome = "Status"
reply = "Answer"
closed_at = "Closed"
[defaults]
category = "other"
[categories]
Network = "network"
Parking = "transport"
[departments]
"Billing desk" = "billing"
""",
        encoding="utf-8",
    )
    summary = import_rows(
        intake.env.db, read_rows(export), mapping=mapping, source="crm", progress=False
    )
    assert (summary.accepted, summary.closed, summary.open, summary.rejected) == (3, 2, 1, [])
    events = {e["external_id"]: e for e in received_events(intake)}
    assert events["T-1"]["category"] == "billing" and events["T-3"]["category"] == "transport"
    assert events["T-1"]["description"] == "Double charge\n\nCharged twice for March."
    assert events["T-1"]["registered_at"] == "2020-03-18T08:00:00+08:00"
    assert events["T-1"]["imported_department"] == "billing"
    assert events["T-1"]["imported_resolution"] == "Refunded 30 yuan."
    assert events["T-1"]["imported_closed_at"] == "2020-03-19T10:00:00+08:00"
    assert events["T-2"]["imported_state"] is None and events["T-2"]["anonymous"] is True
    assert events["T-3"]["customer_textable"] is False  # a landline
    # The same in JSON, and a typo in a mapping is named before anything is stored.
    as_json = tmp_path / "crm.json"
    as_json.write_text(json.dumps({"columns": {"text": "Detials"}}), encoding="utf-8")
    with pytest.raises(MappingError, match="'Detials'"):
        import_rows(intake.env.db, read_rows(export), mapping=as_json, source="j", progress=False)


def test_a_caller_the_old_system_knew_by_id_has_a_file_agents_can_open(intake: Intake) -> None:
    rows = [r for r in read_rows(DATA / "gov_messages_labelled.csv")]
    import_rows(intake.env.db, rows, preset="gov-messages", source="g", progress=False)
    citizen = Counter(row["留言用户"] for _, row in rows).most_common(1)[0]
    r = intake.client.get(f"/customers/ref:{citizen[0]}", headers=intake.agent)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["customer_ref"] == citizen[0] and body["phone"] is None
    assert body["file"]["total_complaints"] == citizen[1] == len(body["complaints"])
