"""What the README's walkthrough and `make demo` send to intake works: the curl commands
to intake in README.md, run in order against the API, and the requests of the demo's
landline and anonymous callers (real PostgreSQL)."""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import shlex
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import ROOT
from tests.intake.conftest import Intake
from tests.intake.test_feedback_and_notes import _lifecycle
from tests.support.files import jpeg

pytestmark = pytest.mark.postgres

INTAKE = "127.0.0.1:8001"
AS = "x-walkthrough-role"  # which token a README call carries; not sent


def load_demo() -> ModuleType:
    if "demo" not in sys.modules:
        spec = importlib.util.spec_from_file_location("demo", Path(ROOT) / "scripts" / "demo.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["demo"] = module
        spec.loader.exec_module(module)
    return sys.modules["demo"]


# The README's section on a centre of several clients: its curls run against a centre
# with the clients it lists (test_the_readme_on_several_clients_works_as_written).
CLIENTS_SECTION = "## Several clients: one outsourcing centre"


def readme_sections() -> tuple[str, str]:
    """The README without its section on several clients, and that section."""
    text = (Path(ROOT) / "README.md").read_text(encoding="utf-8")
    start = text.index(CLIENTS_SECTION)
    end = text.index("\n## ", start + len(CLIENTS_SECTION))
    return text[:start] + text[end:], text[start:end]


def readme_calls(
    text: str | None = None,
) -> list[tuple[str, str, dict[str, str], str | None, list[str]]]:
    """(method, path, headers, body, form fields) of every curl to intake in README.md
    (but its section on several clients), or in `text`, in order."""
    text = text if text is not None else readme_sections()[0]
    calls = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        joined = block.replace("\\\n", " ")
        for command in re.findall(r"(?m)^curl (.*?)(?=^curl |\Z)", joined, re.DOTALL):
            words = shlex.split(command, comments=True)
            url = next((w for w in words if INTAKE in w), None)
            if url is None:
                continue
            method, headers, body, form = "GET", {}, None, []
            # curl -G --data-urlencode 'q=…': the values, encoded, as the query string.
            query = [v for f, v in itertools.pairwise(words) if f == "--data-urlencode"]
            if query and "-G" in words:
                url += "?" + urlencode([tuple(v.split("=", 1)) for v in query])
            for flag, value in itertools.pairwise(words):
                if flag == "-X":
                    method = value
                elif flag == "-H" and value.startswith("Authorization"):
                    # The token's variable names the role: $AGENT, or $ADMIN for the log.
                    headers[AS] = value.rsplit("$", 1)[-1].lower()
                elif flag == "-H":
                    name, _, given = value.partition(":")
                    headers[name] = given.strip()
                elif flag == "-d":
                    body = value
                elif flag == "-F":
                    form.append(value)
            calls.append((method, url.split(INTAKE, 1)[1], headers, body, form))
    return calls


def test_the_readme_walkthrough_against_intake_works_as_written(intake: Intake) -> None:
    calls = readme_calls()
    paths = [path for _, path, _, _, _ in calls]
    # The walkthrough shows a landline registration and a feedback by the reference.
    assert any(body and "转 801" in body for _, _, _, body, _ in calls)
    assert "/complaints/<reference>/feedback" in paths
    # … and a photo attached, listed, and opened by the department's clerk.
    assert "/complaints/<reference>/attachments/<attachment_id>" in paths
    last: dict[str, Any] = {}
    attached: dict[str, Any] = {}
    for method, path, headers, body, form in calls:
        if path.endswith("/feedback") and method == "POST":
            # The follow-up call comes once the department has replied.
            _lifecycle(intake, last["id"], last["reference"], 9, "replied")
        path = (
            path.replace("<id>", last.get("id", ""))
            .replace("<reference>", last.get("reference", ""))
            .replace("<attachment_id>", attached.get("id", ""))
        )
        role = headers.pop(AS, "agent")
        if role == "agent":
            token = intake.agent
        elif role == "clerk":
            # The billing clerk, once the complaint is billing's.
            _lifecycle(
                intake, last["id"], last["reference"], 10, "replied", department_id="billing"
            )
            token = intake.env.token("department", "B07", "billing")
        else:
            token = intake.env.token(role, "AD01")
        fields = dict(f.split("=", 1) for f in form)
        sent = {
            name: (value[1:], jpeg(), "image/jpeg")
            for name, value in fields.items()
            if value.startswith("@")
        }
        answer = intake.client.request(
            method,
            path,
            content=body.encode() if body else None,
            files=sent or None,
            data={k: v for k, v in fields.items() if k not in sent} or None,
            headers={**token, **headers},
        )
        assert answer.status_code in (200, 201), f"{method} {path}: {answer.text}"
        if method == "POST" and path == "/complaints":
            last = answer.json()
        if method == "POST" and path.endswith("/attachments"):
            attached = answer.json()
    landline = intake.client.get(f"/complaints/{last['id']}", headers=intake.agent).json()
    assert (landline["customer_phone"], landline["customer_extension"]) == (
        "+861065123456",
        "801",
    )
    assert landline["customer_textable"] is False
    assert intake.count("urges") == 1 and intake.count("feedback") == 1


def test_the_demos_landline_and_anonymous_callers_register_urge_and_answer_by_reference(
    intake: Intake,
) -> None:
    demo = load_demo()
    landline_case, anonymous_case = demo.SCENARIOS["E"], demo.SCENARIOS["F"]
    landline = intake.client.post(
        "/complaints",
        json=demo.complaint_body(landline_case, demo.texts_for(landline_case)[0]),
        headers=intake.agent,
    )
    assert landline.status_code == 201, landline.text
    made = landline.json()
    assert made["customer_extension"] == "801" and made["customer_textable"] is False
    assert demo.caller(made) == "landline 座机 +861065123456 ext 801: no SMS, answered by a call"
    ref = made["reference"]
    urge = intake.client.post(
        f"/complaints/{ref}/urges", json={"text": demo.URGE_WORDS}, headers=intake.agent
    )
    assert urge.status_code == 201, urge.text
    _lifecycle(intake, made["id"], ref, 6, "replied", department_id="transport")
    verdict = intake.client.post(
        f"/complaints/{ref}/feedback",
        json={"result": "satisfied", "comment": "电话回访：客户表示满意", "source": "phone"},
        headers=intake.agent,
    )
    assert verdict.status_code == 201, verdict.text

    anonymous = intake.client.post(
        "/complaints",
        json=demo.complaint_body(anonymous_case, demo.texts_for(anonymous_case)[0]),
        headers=intake.agent,
    )
    assert anonymous.status_code == 201, anonymous.text
    assert anonymous.json()["anonymous"] is True and anonymous.json()["customer_phone"] is None
    assert demo.caller(anonymous.json()) == "anonymous 匿名: no file, no SMS"
    assert intake.count("customers") == 1  # the landline caller's file only


def test_each_demo_run_calls_from_mobiles_of_its_own_so_the_daily_sms_cap_never_stops_it() -> None:
    demo = load_demo()
    saved = dict(demo.SCENARIOS)
    try:
        demo.callers_of_this_run(minute=1234)
        first = {k: s.customer_phone for k, s in demo.SCENARIOS.items()}
        demo.SCENARIOS.update(saved)
        demo.callers_of_this_run(minute=1235)
        second = {k: s.customer_phone for k, s in demo.SCENARIOS.items()}
    finally:
        demo.SCENARIOS.update(saved)
    assert first["A"] == "13812348101" and second["A"] == "13812358101"
    assert len({first[k] for k in "ABCD"}) == 4  # four callers, four numbers
    # the landline caller keeps their number (no SMS), the anonymous one has none
    assert first["E"] == second["E"] == saved["E"].customer_phone and first["F"] == ""


def test_the_readme_on_several_clients_works_as_written(
    intake: Intake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The section's clients file (without the files of their own it names, not in the
    README) configures the centre; its registration by the dialled number lands with
    the gas company."""
    section = readme_sections()[1]
    found = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert found is not None
    clients = json.loads(found.group(1))
    for client in clients["tenants"]:
        client.pop("taxonomy_file", None)
        client.pop("templates_dir", None)
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps(clients, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("TENANTS_FILE", str(path))
    calls = [c for c in readme_calls(section) if c[1] == "/complaints" and c[0] == "POST"]
    assert calls
    for method, path_, headers, body, _ in calls:
        headers.pop(AS, None)
        answer = intake.client.request(
            method, path_, content=body.encode() if body else None,
            headers={**intake.agent, **headers},
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        assert answer.json()["tenant"] == "gas"
