"""The audit history on real PostgreSQL: the database refuses to change it, and whatever a
superuser changes behind its back, verify names the first entry that is no longer true."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from services.escalation.complaints.history import entry_hash
from tests.escalation.conftest import Centre

pytestmark = pytest.mark.postgres


def a_lived_complaint(centre: Centre) -> str:
    """Received, assigned, dispatched, returned, re-dispatched, accepted, replied: 7 entries."""
    cid = centre.receive()
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("acknowledge", "DM01", {}),
        ("dispatch", "DM01", {"department_id": "network", "instructions": "查基站"}),
        ("return", "N03", {"reason_code": "not_ours", "reason": "账单问题，不是网络"}),
        ("dispatch", "DM01", {"department_id": "billing", "instructions": "核对账单并退款"}),
        ("accept", "B07", {}),
        ("reply", "B07", {"resolution": "已退还多扣的 30 元", "root_cause": "system"}),
    ]
    for action, who, body in steps:
        answer = centre.act(cid, action, who, **body)
        assert answer.status_code == 200, answer.text
    assert centre.verify(cid)["entries"] == 7
    return cid


@pytest.fixture
def as_superuser(
    pg_super_url: str, centre: Centre
) -> Iterator[Callable[[str, dict[str, Any] | None], None]]:
    """Run one statement as the PostgreSQL superuser with every trigger switched off, the
    way someone with full access to the server could."""
    engine = create_engine(pg_super_url)

    def run(sql: str, params: dict[str, Any] | None = None) -> None:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(
                text("SELECT set_config('search_path', :schema, true)"),
                {"schema": centre.env.settings.schema_for("escalation")},
            )
            conn.execute(text(sql), params or {})

    yield run
    engine.dispose()


def test_the_database_refuses_to_update_delete_or_truncate_history(centre: Centre) -> None:
    cid = a_lived_complaint(centre)
    for sql in (
        "UPDATE complaint_history SET actor_id = 'DM02' WHERE complaint_id = :cid AND seq = 2",
        "DELETE FROM complaint_history WHERE complaint_id = :cid AND seq = 7",
        "TRUNCATE complaint_history CASCADE",
    ):
        with (
            pytest.raises(Exception, match="complaint_history is append-only"),
            centre.env.db.transaction() as session,
        ):
            session.execute(text(sql), {"cid": cid})
    assert centre.verify(cid) == {
        "valid": True,
        "first_bad_seq": None,
        "entries": 7,
        "problem": None,
    }
    assert len(centre.history(cid)) == 7


@pytest.mark.parametrize(
    ("tampering", "seq", "first_bad"),
    [
        # A field changed in place: the entry's own hash gives it away.
        ("payload", 4, 4),
        ("actor", 2, 2),
        ("time", 1, 1),
        ("to_state", 7, 7),
        # Changed and re-hashed by someone who knows the encoding: the next entry no
        # longer follows it, or, for the last one, the complaint recorded another head.
        ("actor_rehashed", 3, 3),
        ("payload_rehashed", 7, 7),
        # Removed: a gap in the sequence, or the end cut off.
        ("delete", 5, 5),
        ("delete", 7, 7),
        ("delete", 1, 1),
    ],
)
def test_tampering_with_any_entry_is_reported_at_the_first_bad_sequence_number(
    centre: Centre,
    as_superuser: Callable[[str, dict[str, Any] | None], None],
    tampering: str,
    seq: int,
    first_bad: int,
) -> None:
    cid = a_lived_complaint(centre)
    key = {"cid": cid, "seq": seq}
    if tampering == "payload":
        as_superuser(
            "UPDATE complaint_history SET payload = CAST(:p AS json)"
            " WHERE complaint_id = :cid AND seq = :seq",
            {**key, "p": '{"reason": "客户自己的问题"}'},
        )
    elif tampering == "actor":
        as_superuser(
            "UPDATE complaint_history SET actor_id = 'DM02'"
            " WHERE complaint_id = :cid AND seq = :seq",
            key,
        )
    elif tampering == "time":
        as_superuser(
            "UPDATE complaint_history SET at = at - interval '1 hour'"
            " WHERE complaint_id = :cid AND seq = :seq",
            key,
        )
    elif tampering == "to_state":
        as_superuser(
            "UPDATE complaint_history SET to_state = 'closed'"
            " WHERE complaint_id = :cid AND seq = :seq",
            key,
        )
    elif tampering.endswith("_rehashed"):
        entry = dict(next(e for e in centre.history(cid) if e["seq"] == seq))
        entry["complaint_id"] = cid
        entry["at"] = datetime.fromisoformat(entry["at"])
        if tampering == "actor_rehashed":
            entry["actor_id"] = "DM02"
        else:
            entry["payload"] = {**entry["payload"], "resolution": "客户已撤诉"}
        forged = entry_hash(entry)
        as_superuser(
            "UPDATE complaint_history SET actor_id = :a, payload = CAST(:p AS json), hash = :h"
            " WHERE complaint_id = :cid AND seq = :seq",
            {
                **key,
                "a": entry["actor_id"],
                "p": json.dumps(entry["payload"], ensure_ascii=False),
                "h": forged,
            },
        )
    elif tampering == "delete":
        as_superuser("DELETE FROM complaint_history WHERE complaint_id = :cid AND seq = :seq", key)
    else:  # pragma: no cover
        raise AssertionError(tampering)

    report = centre.verify(cid)
    assert report["valid"] is False
    assert report["first_bad_seq"] == first_bad, report
    assert report["problem"]
    # Every other complaint's history is untouched and still verifies.
    other = a_lived_complaint(centre)
    assert centre.verify(other)["valid"] is True


def test_people_acting_at_once_each_get_their_own_entry_and_the_chain_holds(
    centre: Centre,
) -> None:
    """Eight urges sent together by the duty manager and the supervisor: the complaint
    is locked for each, so every one is an entry of its own, numbered without gaps, each
    following the one before."""
    cid = centre.receive()
    urgers = ["DM01", "SV01", "SV01", "DM01", "DM01", "SV01", "DM01", "SV01"]
    for who in set(urgers):
        centre.as_(who)  # tokens issued before the race, not during it
    with ThreadPoolExecutor(max_workers=len(urgers)) as pool:
        answers = list(
            pool.map(lambda who: centre.act(cid, "urge", who, reason="客户第三次来电催办"), urgers)
        )
    assert [a.status_code for a in answers] == [200] * len(urgers), [a.text for a in answers]
    assert sorted(a.json()["history_seq"] for a in answers) == list(range(2, 2 + len(urgers)))
    assert centre.get(cid).json()["urge_count"] == len(urgers)
    report = centre.verify(cid)
    assert report["valid"] is True and report["entries"] == 1 + len(urgers)
