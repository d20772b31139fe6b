"""The workbench shows each person what the services let them see: QA and the outsourcing
client open every page they may (the matrix's list, tests/robustness/matrix.py) while a
customer's complaint with her name, numbers and e-mail address is in the system, and no
page shows them. The agent's look at the caller's file as she calls is in the access log,
which the administrator reads on the workbench's own page.

Named to run after the story (test_story_in_chromium.py): her complaint is one more SMS
to the duty manager on duty, and within the rate limit's window it would hold the
story's urge for a digest."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.robustness.matrix import PUBLIC, SIGNED_IN, WORKBENCH
from tests.support.personal_data import Customer, leaks, texts_with_mobiles
from tests.workbench.conftest import Centre
from tests.workbench.test_access_matrix import PEOPLE, concrete, sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.slow]

CUSTOMER = Customer()
TEXT = texts_with_mobiles(1)[0]
SECRETS = CUSTOMER.secrets(TEXT)


def bearer(centre: Centre, role: str, staff: str, department: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {centre.token(role, staff, department)}"}


def her_complaint_at_billing(centre: Centre) -> dict[str, Any]:
    created = httpx.post(
        centre.api("intake") + "/complaints",
        json={
            "customer_phone": CUSTOMER.phone,
            "customer_name": CUSTOMER.name,
            "channel": "phone",
            "category": "delivery",
            "description": CUSTOMER.says(TEXT),
            # Her home, as callers give it: with her name and her number.
            "location": f"{CUSTOMER.name}家，幸福里小区 3 号楼 502，座机 {CUSTOMER.landline}",
        },
        headers=bearer(centre, "agent", "A001"),
        timeout=10,
    )
    assert created.status_code == 201, created.text
    complaint: dict[str, Any] = created.json()
    deadline = time.monotonic() + 30
    path = f"/complaints/{complaint['id']}"
    while time.monotonic() < deadline:
        answer = httpx.get(
            centre.api("escalation") + path, headers=bearer(centre, "admin", "AD01"), timeout=10
        )
        if answer.status_code == 200:
            break
        time.sleep(0.2)
    dispatched = httpx.post(
        centre.api("escalation") + f"{path}/actions/dispatch",
        json={
            "department_id": "billing",
            "instructions": f"回拨{CUSTOMER.name} {CUSTOMER.phone}，身份证 {CUSTOMER.id_number}",
        },
        headers=bearer(centre, "duty_manager", "DM01"),
        timeout=10,
    )
    assert dispatched.status_code == 200, dispatched.text
    note = httpx.post(
        centre.api("intake") + f"{path}/notes",
        json={"text": f"{CUSTOMER.name}说也可以发邮件 {CUSTOMER.email}"},
        headers=bearer(centre, "agent", "A001"),
        timeout=10,
    )
    assert note.status_code == 201, note.text
    return complaint


@pytest.fixture(scope="module")
def complaint(centre: Centre) -> dict[str, Any]:
    return her_complaint_at_billing(centre)


def test_qa_and_the_client_see_no_name_phone_or_id_number_on_any_page(
    centre: Centre, complaint: dict[str, Any]
) -> None:
    ids = {
        "complaint_id": complaint["id"],
        "reference": complaint["reference"],
        "department_id": "billing",
        "action": "not-an-action",
        "shift_id": "00000000-0000-0000-0000-000000000000",
        "staff_id": "A002",
    }
    month = datetime.now(UTC).strftime("%Y-%m")
    params = {"q": "快递", "month": month, "customer_phone": CUSTOMER.phone}
    wrong: list[str] = []
    opened: dict[str, list[str]] = {}
    for role in ("viewer", "qa"):
        client = sign_in(centre, PEOPLE[role])
        try:
            for (method, path), allowed in sorted(WORKBENCH.items()):
                may = allowed is SIGNED_IN or (allowed is not PUBLIC and role in allowed)
                if method != "GET" or not may:
                    continue
                answer = client.get(concrete(path, ids), params=params, follow_redirects=True)
                if answer.status_code != 200:
                    wrong.append(f"{role} {path}: {answer.status_code}")
                    continue
                opened.setdefault(role, []).append(path)
                found = leaks(answer.text, CUSTOMER, SECRETS)
                if found:
                    wrong.append(f"{role} {path} shows {found}")
            if role == "qa":
                page = client.get(f"/complaints/{complaint['id']}").text
                # Her complaint is there, masked: not missing.
                assert "+86139****5678" in page
                assert "139 **** 5678" in page and "w***@example.com" in page
                assert "1101**********002X" in page
                assert "王**家，幸福里小区 3 号楼 502，座机 0731-**** 3456" in page
        finally:
            client.close()
    assert wrong == [], "\n".join(wrong)
    assert "/complaints/{complaint_id}" in opened["qa"] and "/qa" in opened["viewer"]


def test_the_agents_look_at_the_callers_file_is_in_the_access_log(
    centre: Centre, complaint: dict[str, Any]
) -> None:
    agent = sign_in(centre, PEOPLE["agent"])
    admin = sign_in(centre, PEOPLE["admin"])
    try:
        caller = agent.get("/register/caller", params={"customer_phone": CUSTOMER.phone})
        assert caller.status_code == 200 and CUSTOMER.name in caller.text
        log = admin.get("/admin/access-log", params={"customer": CUSTOMER.phone})
        assert log.status_code == 200, log.text
        rows = re.findall(r"<tr>(.*?)</tr>", log.text, re.S)
        mine = [r for r in rows if "A001" in r and "/customers/{phone}" in r]
        assert mine and CUSTOMER.e164 in mine[0]
        today = datetime.now(UTC).date().isoformat()
        only_qa = admin.get("/admin/access-log", params={"staff": "Q01", "since": today})
        assert 'data-test="no-reads"' in only_qa.text
        bad = admin.get("/admin/access-log", params={"since": "yesterday"})
        assert 'data-test="error"' in bad.text
    finally:
        agent.close()
        admin.close()
    for role in ("viewer", "qa"):
        client = sign_in(centre, PEOPLE[role])
        try:
            assert client.get("/admin/access-log").status_code == 403
        finally:
            client.close()
