"""Resolution deadlines in working time: weekends, the May Day holidays and a make-up
Saturday (调休), within working hours or by whole working days."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.escalation.config import EscalationConfig
from shared.calendar import WorkingCalendar
from shared.vocabulary import Action
from tests.escalation.test_sla import CLERK, DM, do

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAY_DAY = {
    "timezone": "Asia/Shanghai",
    "weekdays": [1, 2, 3, 4, 5],
    "hours": ["09:00", "18:00"],
    "holidays": ["2027-05-03", "2027-05-04", "2027-05-05"],  # Monday to Wednesday
    "workdays": ["2027-05-08"],  # the Saturday worked in exchange
}


def calendar(tmp_path: Path, **changes: Any) -> WorkingCalendar:
    path = tmp_path / "calendar.json"
    data = {**MAY_DAY, **changes}
    path.write_text(json.dumps({k: v for k, v in data.items() if v is not None}))
    return WorkingCalendar.from_file(path)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_working_hours_skip_nights_weekends_and_holidays(tmp_path: Path) -> None:
    cal = calendar(tmp_path)
    friday_late = at("2027-04-30T17:00")
    # 1 h on Friday, then Thursday 6 May (Mon–Wed are holidays): 9 h, Friday 7 May: 9 h.
    assert cal.add(friday_late, timedelta(hours=1)) == at("2027-04-30T18:00")
    assert cal.add(friday_late, timedelta(hours=2)) == at("2027-05-06T10:00")
    assert cal.add(friday_late, timedelta(hours=19)) == at("2027-05-07T18:00")
    # The make-up Saturday counts; the Sunday after it does not.
    assert cal.add(friday_late, timedelta(hours=24)) == at("2027-05-08T14:00")
    assert cal.add(friday_late, timedelta(hours=29)) == at("2027-05-10T10:00")
    # Started at night or on a holiday: the clock starts when work does.
    assert cal.add(at("2027-05-04T11:00"), timedelta(minutes=30)) == at("2027-05-06T09:30")


def test_without_hours_a_working_day_counts_whole(tmp_path: Path) -> None:
    cal = calendar(tmp_path, hours=None)
    friday_noon = at("2027-04-30T12:00")
    # Half of Friday ends at its midnight; then Thursday 6 May and Friday 7 May count whole,
    # and 72 h end on Saturday 8 May at noon, a make-up workday.
    assert cal.add(friday_noon, timedelta(hours=12)) == at("2027-05-01T00:00")
    assert cal.add(friday_noon, timedelta(hours=13)) == at("2027-05-06T01:00")
    assert cal.add(friday_noon, timedelta(hours=72)) == at("2027-05-08T12:00")


def test_a_bad_calendar_stops_the_start_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps({**MAY_DAY, "weekdays": [0, 1]}))
    with pytest.raises(ValueError, match="ISO day numbers"):
        EscalationConfig(calendar_file=path)
    path.write_text(json.dumps({**MAY_DAY, "hours": ["18:00", "09:00"]}))
    with pytest.raises(ValueError, match="end after they start"):
        EscalationConfig(calendar_file=path)


@pytest.mark.postgres
def test_a_departments_resolution_deadline_runs_in_working_time(
    make_centre: Any, tmp_path: Path
) -> None:
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps(MAY_DAY))
    centre = make_centre(calendar_file=path, default_duty_manager="DM01")
    friday_late = at("2027-04-30T17:00")
    cid = centre.arrive(friday_late - timedelta(minutes=5), severity="high")
    do(centre, cid, Action.DISPATCH, DM, friday_late, department_id="billing", instructions="退款")
    # Acceptance runs on the wall clock: 2 h.
    assert centre.row(cid).due_at == friday_late + timedelta(hours=2)
    do(centre, cid, Action.ACCEPT, CLERK, friday_late)
    # Resolution (24 h for high) in working hours: Saturday 8 May, 14:00 Shanghai.
    row = centre.row(cid)
    assert (row.stage, row.due_at) == ("resolution", at("2027-05-08T14:00"))
