"""Finding complaints by their words: what the caller said, where, the notes and the
departments' replies, Chinese segmented and English stemmed, most relevant first, with
the filters an agent narrows by, and no more than each reader may see. The same stories
on PostgreSQL (tsvector, GIN, ts_rank_cd) and on SQLite (the words themselves)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from services.intake.complaints.flows import apply_lifecycle
from services.intake.main import create_app
from services.intake.search import words
from shared.auth.store import grant_outside_directory, issue_token
from shared.contracts import LifecycleChanged
from shared.db import Database, database_for
from shared.migrations import upgrade
from shared.settings import AUTH_STORE, Settings
from tests.intake.conftest import complaint


@dataclass
class Desk:
    """An intake API with its database, and a token for anyone."""

    client: TestClient
    db: Database
    token: Callable[..., dict[str, str]]

    @property
    def agent(self) -> dict[str, str]:
        return self.token("agent", "A001")

    def register(self, **fields: Any) -> dict[str, Any]:
        answer = self.client.post("/complaints", json=complaint(**fields), headers=self.agent)
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def move(self, registered: dict[str, Any], seq: int, **change: Any) -> None:
        """The lifecycle as escalation announces it (what the worker applies)."""
        fields: dict[str, Any] = {
            "action": "dispatch",
            "from_state": "with_duty_manager",
            "to_state": "dispatched",
            **change,
        }
        with self.db.transaction() as session:
            apply_lifecycle(
                session,
                LifecycleChanged(
                    complaint_id=registered["id"],
                    reference=registered["reference"],
                    history_seq=seq,
                    holder_role="department",
                    **fields,
                ),
                datetime.now(UTC),
            )

    def reply(self, registered: dict[str, Any], department: str, resolution: str) -> None:
        self.move(registered, 2, department_id=department)
        self.move(
            registered,
            4,
            action="reply",
            from_state="in_progress",
            to_state="replied",
            department_id=department,
            resolution=resolution,
        )

    def search(self, who: dict[str, str] | None = None, **params: Any) -> Any:
        answer = self.client.get("/complaints", params=params, headers=who or self.agent)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def found(self, q: str, who: dict[str, str] | None = None, **params: Any) -> list[str]:
        return [c["id"] for c in self.search(who, q=q, **params)["items"]]


def _sqlite(tmp_path: Path) -> Iterator[Desk]:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1", access_log=False)
    for store in ("intake", AUTH_STORE):
        upgrade(store, url=settings.database_url_for(store))
    auth = database_for(AUTH_STORE, settings)
    db = database_for("intake", settings)

    def token(role: str, staff: str, department: str | None = None) -> dict[str, str]:
        with auth.transaction() as session:
            grant_outside_directory(session, staff, role, department)
            issued, _ = issue_token(session, staff_id=staff, role=role, department_id=department)
        return {"Authorization": f"Bearer {issued}"}

    try:
        with TestClient(create_app(settings)) as client:
            yield Desk(client, db, token)
    finally:
        db.dispose()
        auth.dispose()


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Desk]:
    if request.param == "sqlite":
        yield from _sqlite(tmp_path)
        return
    intake = request.getfixturevalue("intake")
    yield Desk(intake.client, intake.env.db, intake.env.token)


# --- what it finds ------------------------------------------------------------------------

RESOLUTION = "已派维修人员更换破裂的阀门，供水恢复正常。"


def test_an_agent_finds_a_complaint_by_a_word_of_its_departments_reply(desk: Desk) -> None:
    pipe = desk.register(description="楼下水管破裂，一直在漏水，物业不管。")
    desk.register(description="小区门口路灯坏了一个月。")
    assert desk.found("阀门") == []
    desk.reply(pipe, "water", RESOLUTION)
    [hit] = desk.search(q="阀门")["items"]
    assert hit["id"] == pipe["id"]
    snippet = hit["snippet"]
    assert snippet["field"] == "resolution"
    assert [snippet["text"][a:b] for a, b in snippet["marks"]] == ["阀门"]
    # Every later event carries the same resolution: it is kept once.
    desk.move(pipe, 6, action="close", from_state="replied", to_state="closed",
              department_id="water", resolution=RESOLUTION)  # fmt: skip
    with desk.db.read() as session:
        kept = session.execute(text("SELECT count(*) FROM replies")).scalar_one()
    assert kept == 1


def test_a_note_is_searched_as_soon_as_it_is_added(desk: Desk) -> None:
    registered = desk.register(description="宽带每天晚上断线，修了三次都没好。")
    assert desk.found("光猫") == []
    note = desk.client.post(
        f"/complaints/{registered['id']}/notes",
        json={"text": "客户补充：光猫指示灯一直闪红灯。"},
        headers=desk.agent,
    )
    assert note.status_code == 201, note.text
    [hit] = desk.search(q="光猫")["items"]
    assert hit["id"] == registered["id"] and hit["snippet"]["field"] == "note"


def test_a_chinese_word_is_found_inside_a_sentence_and_a_piece_of_two_words_is_not(
    desk: Desk,
) -> None:
    site = desk.register(description="西湖建筑集团占道施工，人行道被围墙圈住。")
    assert desk.found("建筑") == [site["id"]]
    assert desk.found("人行道") == [site["id"]]
    # 湖建 is the end of 西湖 and the start of 建筑, no word: no hit, however it is typed.
    assert desk.found("湖建") == []
    assert desk.found("筑集") == []
    # Several words, with or without a space, must all be there.
    assert desk.found("施工 围墙") == [site["id"]] == desk.found("施工围墙")
    assert desk.found("施工 停水") == []


def test_an_english_word_is_found_in_any_of_its_forms(desk: Desk) -> None:
    leak = desk.register(description="The pipe under the sink leaks and the kitchen floods.")
    desk.register(description="My broadband keeps dropping every evening.")
    assert desk.found("leaking") == [leak["id"]]
    assert desk.found("Flooded Pipes") == [leak["id"]]
    assert desk.found("leak broadband") == []
    [hit] = desk.search(q="leaking")["items"]
    assert [hit["snippet"]["text"][a:b] for a, b in hit["snippet"]["marks"]] == ["leaks"]


def test_the_most_relevant_comes_first_and_pages_follow_without_gaps_or_repeats(
    desk: Desk,
) -> None:
    once = desk.register(description="电梯坏了，老人上不了楼，已经好几天了，请物业尽快处理。")
    thrice = desk.register(description="电梯又坏了！电梯停了三天，电梯里还困过人。")
    other = desk.register(description="楼道的电梯按钮失灵。")
    ids = desk.found("电梯")
    assert ids[0] == thrice["id"] and set(ids) == {once["id"], thrice["id"], other["id"]}
    ranks = [c["rank"] for c in desk.search(q="电梯")["items"]]
    assert ranks == sorted(ranks, reverse=True)
    paged, cursor = [], None
    while True:
        page = desk.search(q="电梯", limit=1, **({"cursor": cursor} if cursor else {}))
        paged += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == ids
    bad = desk.client.get("/complaints", params={"q": "电梯", "cursor": "bm9wZQ"},
                          headers=desk.agent)  # fmt: skip
    assert bad.status_code == 422


def test_filters_narrow_what_the_words_find(desk: Desk) -> None:
    billing = desk.register(description="账单多扣了话费，客服说会退。", category="billing")
    network = desk.register(
        description="话费充值后宽带还是停机。", category="network", customer_phone="13912345678"
    )
    desk.move(network, 2, department_id="network")
    assert set(desk.found("话费")) == {billing["id"], network["id"]}
    assert desk.found("话费", category="billing") == [billing["id"]]
    assert desk.found("话费", department="network") == [network["id"]]
    assert desk.found("话费", status="dispatched") == [network["id"]]
    assert desk.found("话费", phone="139 1234 5678") == [network["id"]]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert desk.found("话费", **{"from": later}) == []
    assert set(desk.found("话费", to=later)) == {billing["id"], network["id"]}


def test_a_clerk_finds_only_their_departments_complaints(desk: Desk) -> None:
    ours = desk.register(description="营业厅工作人员态度恶劣。")
    theirs = desk.register(description="营业厅排队两个小时。")
    desk.move(ours, 2, department_id="billing")
    desk.move(theirs, 2, department_id="network")
    clerk = desk.token("department", "B07", "billing")
    assert desk.found("营业厅", clerk) == [ours["id"]]
    refused = desk.client.get(
        "/complaints", params={"q": "营业厅", "department": "network"}, headers=clerk
    )
    assert refused.status_code == 404


def test_qa_reads_snippets_masked_as_the_text_is(desk: Desk) -> None:
    said = "我是王秀英，快递员把包裹放在门口丢了，他的电话 13712345678 打不通。"
    desk.register(customer_name="王秀英", description=said)
    qa = desk.token("qa", "Q01")
    [hit] = desk.search(qa, q="快递员")["items"]
    snippet = hit["snippet"]
    assert "13712345678" not in snippet["text"] and "137****5678" in snippet["text"]
    assert "王秀英" not in snippet["text"] and "王**" in snippet["text"]
    assert [snippet["text"][a:b] for a, b in snippet["marks"]] == ["快递员"]
    assert hit["customer_name"] is None and "王秀英" not in hit["description"]
    # Nor are her complaints found by her name, or by the digits of a number.
    assert desk.found("王秀英", qa) == []
    digits = desk.client.get("/complaints", params={"q": "1371234"}, headers=qa)
    assert digits.status_code == 403
    # The agent finds her complaint by her name as registered.
    assert len(desk.found("王秀英")) == 1


def test_a_reference_finds_its_complaint_and_nothing_else(desk: Desk) -> None:
    first = desk.register(description="停车费涨价没有公示。")
    desk.register(description=f"和 {first['reference']} 是同一件事，停车费。")
    assert desk.found(first["reference"].lower()) == [first["id"]]


# --- on PostgreSQL -------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_word_in_more_complaints_than_are_ranked_is_ranked_among_its_newest(
    migrated: Callable[[str], Database],
) -> None:
    """Ranking every match of a word in half the complaints would cost as much as reading
    them: the newest `ranked` are ranked, and the rest follow no page."""
    from services.intake.search import flows
    from services.intake.search.service import Filters
    from shared.privacy import sight

    db = migrated("intake")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with db.transaction() as session:
        for n in range(5):
            _insert(session, n, start + timedelta(days=n), "电梯" * (5 - n) + "坏了")
    q = words.query("电梯")
    with db.read() as session:
        all_ranked = flows.find(session, q, Filters(), sees=sight("agent"))
        newest = flows.find(session, q, Filters(), sees=sight("agent"), ranked=2)
    # Most relevant first when all are ranked (the oldest says it most often) …
    assert [f.row.id for f in all_ranked] == [f"c{n}" for n in range(5)]
    # … and among the two newest only, when two are.
    assert [f.row.id for f in newest] == ["c3", "c4"]


@pytest.mark.postgres
def test_the_newest_are_the_same_whichever_way_the_statistics_suggest_finding_them(
    migrated: Callable[[str], Database],
) -> None:
    """A word in 8% of 400 complaints, 5 ranked: the statistics expect 34 matches, so
    the newest 5 are looked for among the last months first, and are the newest 5 of
    all time; a word said mostly long ago is looked for in all of time once the last
    months hold too few; a word in nearly all is found by walking back in time. Each
    way, the page is what reading every match would give."""
    from services.intake.search import flows, service
    from services.intake.search.service import Filters
    from shared.privacy import sight

    db = migrated("intake")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with db.transaction() as session:
        for n in range(400):
            if n % 12 == 0:  # said once to five times: the more, the more relevant
                _insert(session, n, start + timedelta(days=n), "电梯" * (1 + n // 12 % 5))
            elif (n % 12 == 6 and n < 200) or n in (394, 395):
                # Most long ago, two lately: the last months hold fewer than are ranked.
                _insert(session, n, start + timedelta(days=n), "水管破了")
            else:
                _insert(session, n, start + timedelta(days=n), "路灯坏了")
        session.execute(text("ANALYZE search_documents"))
    lifts, pipes, lights = words.query("电梯"), words.query("水管"), words.query("路灯")
    agent = sight("agent")
    with db.read() as session:
        way = service._way(session, lifts, Filters(), 5)
        assert way.since is not None and not way.walk
        assert service._way(session, pipes, Filters(), 4).since is not None
        assert service._way(session, lights, Filters(), 5).walk
        found = flows.find(session, lifts, Filters(), sees=agent, ranked=5)
        old = flows.find(session, pipes, Filters(), sees=agent, ranked=4)
        many = flows.find(session, lights, Filters(), sees=agent, ranked=5, limit=3)
    assert [f.row.id for f in found] == ["c348", "c396", "c384", "c372", "c360"]
    # The last months held two: the four newest are looked for in all of time.
    assert [f.row.id for f in old] == ["c395", "c394", "c198", "c186"]
    assert [f.row.id for f in many] == ["c399", "c398", "c397"]


def _insert(session: Any, n: int, at: datetime, description: str) -> None:
    session.execute(
        text(
            "INSERT INTO complaints (id, number, reference, customer_key, channel, category, "
            "severity, nature, strong_emotion, description, registered_at, registered_by) "
            "VALUES (:id, :n, :ref, NULL, 'phone', 'other', 'normal', 'genuine', false, "
            ":d, :at, 'A001')"
        ),
        {"id": f"c{n}", "n": n + 1, "ref": f"TS-{n}", "d": description, "at": at},
    )
    session.execute(
        text(
            "INSERT INTO search_documents (complaint_id, registered_at, words) "
            "VALUES (:id, :at, :w)"
        ),
        {"id": f"c{n}", "at": at, "w": words.document(description)},
    )


@pytest.mark.postgres
def test_a_search_reads_the_gin_index(migrated: Callable[[str], Database]) -> None:
    from services.intake.search.service import documents

    db = migrated("intake")
    with db.engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        plan = conn.execute(
            text(
                "EXPLAIN SELECT complaint_id FROM search_documents "
                "WHERE document @@ to_tsquery('simple', '电梯')"
            )
        ).scalars()
        assert "ix_search_documents_document" in "\n".join(plan)
    assert str(documents.c.document.type) == "TSVECTOR"


# --- what was there before ------------------------------------------------------------------


def _migrated_with_a_complaint_before_search(db: Database, store_url: str, **kw: Any) -> None:
    upgrade("intake", url=store_url, revision="intake_0007", **kw)
    with db.transaction() as session:
        _insert_plain(session)
    upgrade("intake", url=store_url, **kw)


def _insert_plain(session: Any) -> None:
    session.execute(
        text(
            "INSERT INTO complaints (id, number, reference, customer_key, channel, category, "
            "severity, nature, strong_emotion, description, location, registered_at, "
            "registered_by) VALUES ('old', 1, 'TS20261201-000001', NULL, 'phone', 'other', "
            "'normal', 'genuine', false, '小区垃圾一周没人清运。', '幸福里小区', :at, 'A001')"
        ),
        {"at": datetime(2026, 12, 1, tzinfo=UTC)},
    )
    session.execute(
        text(
            "INSERT INTO notes (complaint_id, text, source, added_by, added_at) "
            "VALUES ('old', '客户补充：垃圾桶也坏了。', 'agent', 'A001', :at)"
        ),
        {"at": datetime(2026, 12, 1, tzinfo=UTC)},
    )


def _finds_the_old_one(db: Database) -> None:
    from services.intake.search import flows
    from services.intake.search.service import Filters
    from shared.privacy import sight

    for said in ("清运", "幸福", "垃圾桶"):
        with db.read() as session:
            found = flows.find(session, words.query(said), Filters(), sees=sight("agent"))
        assert [f.row.id for f in found] == ["old"], said


def test_complaints_registered_before_search_are_indexed_by_the_migration_on_sqlite(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path)
    url = settings.database_url_for("intake")
    db = database_for("intake", settings)
    try:
        _migrated_with_a_complaint_before_search(db, url)
        _finds_the_old_one(db)
    finally:
        db.dispose()


@pytest.mark.postgres
def test_complaints_registered_before_search_are_indexed_by_the_migration_on_postgres(
    pg_url: str, schema_name: Callable[[str], str]
) -> None:
    from shared.db import create_database

    schema = schema_name("t_intake")
    db = create_database(pg_url, schema=schema)
    try:
        _migrated_with_a_complaint_before_search(db, pg_url, schema=schema)
        _finds_the_old_one(db)
    finally:
        db.dispose()
