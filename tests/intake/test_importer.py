"""Importing complaints from an older system's CSV export (real PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.intake.complaints.service import complaints
from services.intake.importer import import_rows, read_rows
from tests.conftest import ROOT
from tests.intake.conftest import Intake

pytestmark = pytest.mark.postgres

GOV = Path(ROOT) / "data" / "gov_messages_labelled.csv"


def test_all_495_government_hotline_messages_land_with_their_chinese_text_intact(
    intake: Intake,
) -> None:
    summary = import_rows(
        intake.env.db, read_rows(GOV), preset="gov-messages", source="gov", progress=False
    )
    assert (summary.rows, summary.accepted, summary.rejected) == (495, 495, [])
    assert intake.count("complaints") == 495
    with intake.env.db.read() as session:
        row = session.execute(select(complaints).where(complaints.c.external_id == "24")).one()
        twice = session.execute(
            select(func.count()).where(complaints.c.external_id == "37042")
        ).scalar_one()
    # Message 37042 appears twice in the export with different text: both are kept.
    assert twice == 2
    assert row.description.startswith("A市西湖建筑集团占道施工有安全隐患\n\nA3区大道西行便道")
    assert row.category == "urban_construction"
    assert row.customer_key == "ref:A00074011" and row.customer_phone is None
    assert row.registered_at.isoformat() == "2020-01-06T04:09:38+00:00"  # 12:09:38 in Beijing
    assert row.reference == f"TS20200106-{row.number:06d}"
    events = [json.loads(r.value) for r in intake.outbox_rows()]
    assert len(events) == 495
    assert all(e["type"] == "complaint.received" and e["payload"]["imported"] for e in events)


def test_importing_the_same_file_again_adds_nothing(intake: Intake) -> None:
    rows = list(read_rows(GOV))[:20]
    first = import_rows(intake.env.db, rows, preset="gov-messages", source="gov", progress=False)
    again = import_rows(intake.env.db, rows, preset="gov-messages", source="gov", progress=False)
    assert (first.accepted, again.accepted, again.already_imported) == (20, 0, 20)
    assert intake.count("complaints") == 20 and len(intake.outbox_rows()) == 20


def test_bad_rows_are_reported_by_line_field_and_reason_and_the_rest_still_land(
    intake: Intake, tmp_path: Path
) -> None:
    csv_file = tmp_path / "old_system.csv"
    csv_file.write_text(
        "customer_phone,customer_ref,channel,category,severity,description,registered_at\n"
        "13800138000,,phone,billing,high,账单多扣了 30 元,2026-10-01 09:30:00\n"
        "12345,,phone,billing,normal,号码不对的一行,2026-10-01 09:31:00\n"
        ",C-778,email,network,normal,"
        '"Broadband down for three days,\nstill nothing",2026-10-02 10:00\n'
        "13900000000,,fax,billing,normal,渠道不对,2026-10-03 10:00\n"
        "13900000001,,phone,weather,normal,类别不对,2026-10-03 10:00\n"
        "13900000002,,phone,billing,normal,时间不对,yesterday\n",
        encoding="utf-8",
    )
    summary = import_rows(
        intake.env.db, read_rows(csv_file), preset="generic", source="old", progress=False
    )
    assert summary.accepted == 2
    rejected = {(r.line, r.field) for r in summary.rejected}
    # Lines as a spreadsheet numbers them: the text on two lines of the file is one row.
    assert rejected == {
        (3, "customer_phone"),
        (5, "channel"),
        (6, "category"),
        (7, "registered_at"),
    }
    reasons = {r.field: r.reason for r in summary.rejected}
    assert "billing" in reasons["category"]
    with intake.env.db.read() as session:
        stored = session.execute(select(complaints.c.description, complaints.c.customer_key)).all()
    assert ("Broadband down for three days,\nstill nothing", "ref:C-778") in stored


def test_the_import_command_prints_a_summary(intake: Intake) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": intake.env.settings.database_url or "",
        "SCHEMA_PREFIX": intake.env.settings.schema_prefix,
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.intake.importer",
            str(GOV),
            "--preset",
            "gov-messages",
            "--json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["rows"], summary["accepted"], summary["rejected"]) == (495, 495, 0)
    assert (summary["closed"], summary["open"]) == (495, 0)  # the file gives no outcome


def test_the_import_command_refuses_a_mapping_that_does_not_fit_the_file(intake: Intake) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": intake.env.settings.database_url or "",
        "SCHEMA_PREFIX": intake.env.settings.schema_prefix,
    }
    ecommerce = Path(ROOT) / "data" / "ecommerce_dispute_appeals.csv"
    done = subprocess.run(
        [sys.executable, "-m", "services.intake.importer", str(ecommerce), "--preset", "generic"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "nothing imported" in done.stderr and "'description'" in done.stderr
    assert "'content'" in done.stderr  # the columns the file has
    assert intake.count("complaints") == 0
