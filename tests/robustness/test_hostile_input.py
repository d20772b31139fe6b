"""What each text-taking endpoint does with hostile input: a body too large (413, with the
limit), a body that is not JSON (415, naming the Content-Type), bytes that are not UTF-8
(422), SQL and HTML in every text field (stored as given, never executed, escaped in the
HTML report), and invalid fields (422 naming the field). Whatever is refused leaves no
row behind: the tables are counted before and after.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from shared.outbox import TABLE as OUTBOX
from tests.robustness.conftest import Running, build_app

pytestmark = pytest.mark.postgres

# Both at once, short enough for a 64-character name: quotes that would end an SQL string
# and a statement after them, and markup that would run in a page that did not escape.
HOSTILE = '王\'); DROP TABLE complaints;-- <script>alert("x")</script>'
SQL_PARAMETER = "' OR '1'='1' --"


@dataclass(frozen=True)
class Writer:
    """An endpoint that takes text: a valid body, where its text goes, and what it adds."""

    service: str
    method: str
    path: str
    body: Callable[[], dict[str, Any]]
    tables: tuple[str, ...]
    # Fields that hold free text, and how to read each back as stored.
    texts: dict[str, Callable[[Running, Any], Any]] = field(default_factory=dict)
    # Invalid bodies (changes to the valid one) and the field each must be refused for.
    invalid: tuple[tuple[dict[str, Any], str], ...] = ()
    role: str = "admin"

    @property
    def name(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def _complaint() -> dict[str, Any]:
    return {
        "tenant": "default",  # the seeded client (conftest.CLIENTS_FILE)
        "customer_phone": "13800138000",
        "customer_name": "王女士",
        "channel": "phone",
        "category": "billing",
        "description": "宽带每天晚上断线，修了三次都没好。",
    }


def _intake_complaint(field_name: str) -> Callable[[Running, Any], Any]:
    def read(service: Running, answer: Any) -> Any:
        assert service.client is not None
        got = service.client.get(
            f"/complaints/{answer['id']}", headers=service.tokens["agent"]
        ).json()
        return got[field_name]

    return read


def _listed(path: str, field_name: str) -> Callable[[Running, Any], Any]:
    def read(service: Running, answer: Any) -> Any:
        assert service.client is not None
        items = service.client.get(
            path.format(**service.ids), headers=service.tokens["agent"]
        ).json()
        return next(item[field_name] for item in items if item["id"] == answer["id"])

    return read


def _column(query: str) -> Callable[[Running, Any], Any]:
    def read(service: Running, answer: Any) -> Any:
        with service.env.db.read() as session:
            return session.execute(text(query), {"id": answer.get("id")}).scalar_one()

    return read


def _history_reason(service: Running, answer: Any) -> Any:
    assert service.client is not None
    entries = service.client.get(
        f"/complaints/{answer['complaint']['id']}/history", headers=service.tokens["admin"]
    ).json()
    return entries[-1]["payload"]["reason"]


def _shift() -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(days=400 + uuid.uuid4().int % 10_000)
    return {
        "staff_id": "DM02",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=8)).isoformat(),
    }


WRITERS = [
    Writer(
        "intake",
        "POST",
        "/complaints",
        _complaint,
        ("complaints", OUTBOX),
        texts={
            "description": _intake_complaint("description"),
            "customer_name": _intake_complaint("customer_name"),
            "location": _intake_complaint("location"),
        },
        invalid=(
            ({"customer_phone": "12345"}, "customer_phone"),
            ({"category": "billing' OR '1'='1"}, "category"),
            ({"description": "太短"}, "description"),
            ({"description": "长" * 5001}, "description"),
            ({"customer_name": "名" * 65}, "customer_name"),
            ({"location": "地" * 201}, "location"),
            ({"channel": "<script>"}, "channel"),
            ({"occurred_at": "1700000000"}, "occurred_at"),
            ({"priority": "high"}, "priority"),
        ),
        role="agent",
    ),
    Writer(
        "intake",
        "POST",
        "/complaints/{complaint_id}/notes",
        lambda: {"text": "客户补充：扣费发生在 11 月 3 日。"},
        ("notes", OUTBOX),
        texts={"text": _listed("/complaints/{complaint_id}/notes", "text")},
        invalid=(({"text": "   "}, "text"), ({"text": "注" * 5001}, "text")),
        role="agent",
    ),
    Writer(
        "intake",
        "POST",
        "/complaints/{complaint_id}/feedback",
        lambda: {"result": "satisfied", "comment": "已退款，谢谢"},
        ("feedback", OUTBOX),
        texts={"comment": _listed("/complaints/{complaint_id}/feedback", "comment")},
        invalid=(({"result": "happy"}, "result"), ({"comment": "评" * 2001}, "comment")),
        role="agent",
    ),
    Writer(
        "escalation",
        "POST",
        "/departments",
        lambda: {"id": f"d{uuid.uuid4().hex[:12]}", "name": "法务部", "contact_phones": []},
        ("departments",),
        texts={"name": _column("SELECT name FROM departments WHERE id = :id")},
        invalid=(
            ({"id": "billing'; DROP TABLE departments;--"}, "id"),
            ({"name": ""}, "name"),
            ({"contact_phones": ["<b>13700137001</b>"]}, "contact_phones"),
        ),
    ),
    Writer(
        "escalation",
        "POST",
        "/staff",
        lambda: {
            "id": f"S{uuid.uuid4().hex[:12]}",
            "name": "新同事",
            "phone": "13900139099",
            "role": "agent",
        },
        ("staff",),
        texts={"name": _column("SELECT name FROM staff WHERE id = :id")},
        invalid=(
            ({"id": "S1' OR '1'='1"}, "id"),
            ({"role": "root"}, "role"),
            ({"phone": "not a phone"}, "phone"),
            ({"role": "department"}, "department_id"),
        ),
    ),
    Writer(
        "escalation",
        "POST",
        "/roster/shifts",
        _shift,
        ("shifts",),
        invalid=(
            ({"staff_id": "DM02'; --"}, "staff_id"),
            ({"starts_at": "1700000000"}, "starts_at"),
            ({"staff_id": "B07"}, "staff_id"),
        ),
    ),
    Writer(
        "escalation",
        "POST",
        "/complaints/{desk_complaint_id}/actions/urge",
        lambda: {"reason": "客户第三次来电"},
        ("complaint_history", OUTBOX),
        texts={"reason": _history_reason},
        invalid=(({"reason": ""}, "reason"), ({"level": "<script>"}, "level")),
        role="duty_manager",
    ),
    Writer(
        "analytics",
        "PUT",
        "/analytics/complaints/{complaint_id}/root-cause",
        lambda: {"root_cause": "system", "note": "复核：系统计费错误"},
        ("root_cause_revisions", OUTBOX),
        texts={
            "note": _column(
                "SELECT note FROM root_cause_revisions ORDER BY revised_at DESC, id LIMIT 1"
            )
        },
        invalid=(
            ({"root_cause": "'; DROP TABLE x;--"}, "root_cause"),
            ({"note": "注" * 2001}, "note"),
        ),
        role="qa",
    ),
]


@pytest.fixture(scope="module")
def using(services: Callable[[str], Running]) -> Iterator[Callable[[Writer], Running]]:
    yield lambda writer: services(writer.service)


def counts(service: Running, writer: Writer) -> dict[str, int]:
    return {table: service.rows(table) for table in writer.tables}


def send(service: Running, writer: Writer, **kwargs: Any) -> Any:
    assert service.client is not None
    headers = {**service.tokens[writer.role], **kwargs.pop("headers", {})}
    return service.client.request(
        writer.method, writer.path.format(**service.ids), headers=headers, **kwargs
    )


IDS = [writer.name for writer in WRITERS]


@pytest.mark.parametrize("writer", WRITERS, ids=IDS)
def test_a_body_over_the_limit_is_refused_with_413_naming_the_limit(
    using: Callable[[Writer], Running], writer: Writer
) -> None:
    service = using(writer)
    before = counts(service, writer)
    padded = writer.body() | {"padding": "x" * 1_100_000}
    raw = json.dumps(padded).encode()
    json_type = {"Content-Type": "application/json"}
    answers = [
        send(service, writer, content=raw, headers=json_type),
        # Without a Content-Length, in chunks: counted as it arrives.
        send(
            service,
            writer,
            content=iter([raw[i : i + 65536] for i in range(0, len(raw), 65536)]),
            headers=json_type,
        ),
    ]
    for answer in answers:
        assert answer.status_code == 413, answer.text
        body = answer.json()
        assert body["error"] == "payload_too_large"
        assert "1048576 bytes" in body["message"]
    assert counts(service, writer) == before


def test_the_body_limit_is_configurable(services: Callable[[str], Running]) -> None:
    intake = services("intake")
    settings = intake.env.settings.model_copy(update={"max_body_bytes": 4096})
    path = f"/complaints/{intake.ids['complaint_id']}/notes"
    with TestClient(build_app("intake", settings)) as client:
        big = client.post(path, json={"text": "注" * 1500}, headers=intake.tokens["agent"])
        assert big.status_code == 413 and "4096 bytes" in big.json()["message"], big.text
        fits = client.post(path, json={"text": "注" * 1000}, headers=intake.tokens["agent"])
        assert fits.status_code == 201, fits.text


@pytest.mark.parametrize("writer", WRITERS, ids=IDS)
def test_a_body_that_is_not_json_is_refused_with_415_naming_the_content_type(
    using: Callable[[Writer], Running], writer: Writer
) -> None:
    service = using(writer)
    before = counts(service, writer)
    raw = json.dumps(writer.body()).encode()
    for content_type, content in (
        ("text/plain", raw),
        ("application/x-www-form-urlencoded", b"text=hello"),
        ("application/xml", b"<complaint/>"),
        (None, raw),
    ):
        headers = {"Content-Type": content_type} if content_type else {}
        answer = send(service, writer, content=content, headers=headers)
        assert answer.status_code == 415, (content_type, answer.text)
        body = answer.json()
        assert body["error"] == "unsupported_media_type"
        assert (content_type or "(none)") in body["message"]
        assert "application/json" in body["message"]
    assert counts(service, writer) == before


@pytest.mark.parametrize("writer", WRITERS, ids=IDS)
def test_bytes_that_are_not_utf8_are_refused_with_422(
    using: Callable[[Writer], Running], writer: Writer
) -> None:
    service = using(writer)
    before = counts(service, writer)
    raw = json.dumps(writer.body(), ensure_ascii=False).encode()
    for spoiled in (b"\xff\xfe" + raw, raw.replace(b'"', b'"\xc3\x28', 2), raw[:-1] + b"\x80}"):
        answer = send(
            service, writer, content=spoiled, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["fields"][0]["field"] == "(body)"
    assert counts(service, writer) == before


@pytest.mark.parametrize(
    "writer", [w for w in WRITERS if w.texts], ids=[w.name for w in WRITERS if w.texts]
)
def test_sql_and_html_in_text_are_stored_exactly_as_given(
    using: Callable[[Writer], Running], writer: Writer
) -> None:
    service = using(writer)
    for name, read in writer.texts.items():
        before = counts(service, writer)
        answer = send(service, writer, json=writer.body() | {name: HOSTILE})
        assert answer.status_code in (200, 201), answer.text
        assert read(service, answer.json()) == HOSTILE
        # One more row each, and every table still there: nothing was executed.
        assert counts(service, writer) == {t: n + 1 for t, n in before.items()}


@pytest.mark.parametrize(
    "case",
    [(w, change, name) for w in WRITERS for change, name in w.invalid],
    ids=[f"{w.name} {name}" for w in WRITERS for _, name in w.invalid],
)
def test_an_invalid_field_is_named_and_nothing_is_stored(
    using: Callable[[Writer], Running], case: tuple[Writer, dict[str, Any], str]
) -> None:
    writer, change, name = case
    service = using(writer)
    before = counts(service, writer)
    answer = send(service, writer, json=writer.body() | change)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "validation_error"
    assert name in [f["field"] for f in body["fields"]], body
    assert name in body["message"]
    assert counts(service, writer) == before


READS = [
    ("intake", "/complaints", {"category": SQL_PARAMETER}, 422),
    ("intake", "/complaints", {"status": SQL_PARAMETER}, 422),
    ("intake", "/complaints", {"phone": SQL_PARAMETER}, 422),
    ("intake", "/complaints", {"department": SQL_PARAMETER}, 200),
    ("intake", "/complaints/1' OR '1'='1", {}, 404),
    ("intake", "/customers/1' OR '1'='1", {}, 422),
    ("escalation", "/complaints/1' OR '1'='1", {}, 404),
    ("escalation", "/complaints/1' OR '1'='1/history", {}, 404),
    ("escalation", "/staff", {"role": SQL_PARAMETER}, 200),
    ("escalation", "/roster/shifts", {"staff_id": SQL_PARAMETER}, 200),
    ("escalation", "/departments/' OR '1'='1/queue", {}, 404),
    ("notify", "/messages", {"complaint_id": SQL_PARAMETER}, 200),
    ("notify", "/messages", {"status": SQL_PARAMETER}, 422),
    ("analytics", "/analytics/overview", {"department": SQL_PARAMETER}, 422),
    ("analytics", "/analytics/complaints/' OR '1'='1/root-cause", {}, 404),
]


@pytest.mark.parametrize(("name", "path", "params", "status"), READS)
def test_sql_in_parameters_finds_nothing(
    services: Callable[[str], Running], name: str, path: str, params: dict[str, str], status: int
) -> None:
    service = services(name)
    assert service.client is not None
    answer = service.client.get(path, params=params, headers=service.tokens["admin"])
    if name == "notify":
        answer = service.client.get(path, params=params, headers=service.tokens["supervisor"])
    assert answer.status_code == status, answer.text
    if status == 200:
        body = answer.json()
        assert (body["items"] if isinstance(body, dict) else body) == []


def test_a_webhook_body_that_is_not_utf8_is_refused_with_422(
    services: Callable[[str], Running],
) -> None:
    notify = services("notify")
    assert notify.client is not None
    answer = notify.client.post(
        "/webhooks/sms/inbound",
        content=b"From=%2B8613800138000&Body=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["fields"][0]["field"] == "body"


def test_the_department_report_page_shows_hostile_text_escaped(
    services: Callable[[str], Running],
) -> None:
    from tests.analytics.conftest import load
    from tests.analytics.story import Story, bj

    analytics = services("analytics")
    assert analytics.client is not None
    story = Story()
    story.received(
        "X1", bj(3, 12, 9), category="billing", phone="+8613600000009", description=HOSTILE
    )
    story.act(
        "X1",
        "dispatched",
        "dispatch",
        bj(3, 12, 10),
        to="dispatched",
        department="billing",
        stage="acceptance",
    )
    story.act(
        "X1",
        "returned",
        "return",
        bj(3, 12, 11),
        to="with_duty_manager",
        bounce_count=1,
        department_id="billing",
        reason=HOSTILE,
        details={"reason_code": "other"},
    )
    story.act(
        "X1",
        "dispatched",
        "dispatch",
        bj(3, 12, 12),
        to="dispatched",
        department="billing",
        stage="acceptance",
    )
    story.act("X1", "accepted", "accept", bj(3, 12, 13), to="in_progress", stage="resolution")
    story.act(
        "X1",
        "replied",
        "reply",
        bj(3, 13, 9),
        to="replied",
        stage="follow_up",
        root_cause="system",
        resolution=HOSTILE,
    )
    load(analytics.env.db, story.events)
    page = analytics.client.get(
        "/analytics/departments/billing/report",
        params={"month": "2026-03", "format": "html"},
        headers=analytics.tokens["supervisor"],
    )
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "王&#39;); DROP TABLE complaints;--" in html
    # The JSON of the same report carries the text as it was written.
    report = analytics.client.get(
        "/analytics/departments/billing/report",
        params={"month": "2026-03"},
        headers=analytics.tokens["supervisor"],
    ).json()
    assert json.dumps(HOSTILE, ensure_ascii=False) in json.dumps(report, ensure_ascii=False)


@pytest.mark.parametrize(
    "case",
    [(w, name) for w in WRITERS for name in w.texts],
    ids=[f"{w.name} {name}" for w in WRITERS for name in w.texts],
)
def test_text_with_a_nul_character_is_named_and_nothing_is_stored(
    using: Callable[[Writer], Running], case: tuple[Writer, str]
) -> None:
    """PostgreSQL cannot store U+0000: left to the database, it was a 500."""
    writer, name = case
    service = using(writer)
    before = counts(service, writer)
    answer = send(service, writer, json=writer.body() | {name: "客户\x00来电"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["fields"][0]["field"] == name
    assert "NUL" in answer.json()["message"]
    assert counts(service, writer) == before


@pytest.mark.parametrize(
    ("name", "path", "query", "parameter"),
    [
        ("intake", "/complaints", "status=received&status=closed", "status"),
        (
            "escalation",
            "/roster/shifts",
            "from=2026-11-01T00:00:00Z&from=2026-12-01T00:00:00Z",
            "from",
        ),
        ("analytics", "/analytics/overview", "department=billing&department=network", "department"),
        ("notify", "/messages", "limit=5&limit=500", "limit"),
    ],
)
def test_a_parameter_given_twice_is_refused_naming_it(
    services: Callable[[str], Running], name: str, path: str, query: str, parameter: str
) -> None:
    """Silently keeping the last of two values answers a question nobody asked."""
    service = services(name)
    assert service.client is not None
    answer = service.client.get(f"{path}?{query}", headers=service.tokens["supervisor"])
    assert answer.status_code == 422, answer.text
    assert answer.json()["fields"][0]["field"] == parameter
    assert "given 2 times" in answer.json()["message"]


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/analytics/false-closures", {"to": "0001-01-01"}, "to"),
        ("/analytics/spikes", {"from": "9999-12-01"}, "from"),
        ("/analytics/repeat-complainants", {"to": "0001-01-01"}, "to"),
        ("/analytics/root-causes", {"month": "0000-01"}, "month"),
    ],
)
def test_a_day_out_of_the_calendar_is_named_not_a_server_error(
    services: Callable[[str], Running], path: str, params: dict[str, str], parameter: str
) -> None:
    """Reports reach back from the day asked for: from the year 1 that was a 500."""
    analytics = services("analytics")
    assert analytics.client is not None
    answer = analytics.client.get(path, params=params, headers=analytics.tokens["qa"])
    assert answer.status_code == 422, answer.text
    assert answer.json()["fields"][0]["field"] == parameter
