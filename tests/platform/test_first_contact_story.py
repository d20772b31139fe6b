"""当场解答, through the whole system as its workers run it: the housing department writes
down the answer to a question many citizens ask, a supervisor approves it; a citizen rings
about central heating (in the words of a message to the city's hotline), the agent sees
the article come up as they type, reads it out, registers the complaint as answered from
it and, the caller content, closes it there and then. Escalation keeps the closure on the
complaint's history, intake's copy closes, notify texts the caller that it is closed and
asks nothing, and analytics counts a first-contact resolution."""

from __future__ import annotations

import pytest

from tests.intake.test_knowledge import HEATING, message
from tests.support.infra import wait_until
from tests.support.system import whole_system

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

FIRST_CONTACT = "resolve-at-first-contact"


def test_a_caller_answered_from_the_knowledge_base_is_closed_at_first_contact(
    pg_url: str, kafka_bootstrap: str
) -> None:
    with whole_system(pg_url, kafka_bootstrap) as system:
        intake, escalation = system.intake, system.escalation
        clerk = system.envs["intake"].token("department", "H01", "housing")
        supervisor = system.envs["intake"].token("supervisor", "SV01")
        article = intake.post("/knowledge/articles", json=HEATING, headers=clerk).json()
        intake.post(f"/knowledge/articles/{article['id']}/submit", headers=clerk)
        approved = intake.post(f"/knowledge/articles/{article['id']}/approve", headers=supervisor)
        assert approved.status_code == 200, approved.text

        said = message("4055")  # 「A市能不能像北方一样给居民小区统一建设供暖设备啊？」
        found = intake.get(
            "/knowledge/suggest",
            params={"description": said, "category": "urban_construction"},
            headers=system.agent,
        ).json()["items"]
        assert [s["article"]["id"] for s in found] == [article["id"]]
        registered = intake.post(
            "/complaints",
            json={
                "customer_phone": "138 0013 8000",
                "channel": "phone",
                "category": "urban_construction",
                "description": said,
                "answered_from_article": article["id"],
            },
            headers=system.agent,
        )
        assert registered.status_code == 201, registered.text
        cid = registered.json()["id"]

        agent = system.envs["escalation"].token("agent", "A001")
        wait_until(lambda: system.state(cid) == "with_duty_manager", timeout=60, what="the desk")
        done = escalation.post(
            f"/complaints/{cid}/actions/{FIRST_CONTACT}",
            json={"resolution": found[0]["article"]["answer"], "customer_confirmed": True},
            headers=agent,
        )
        assert done.status_code == 200, done.text
        assert done.json()["complaint"]["closure_reason"] == "first_contact"

        history = escalation.get(f"/complaints/{cid}/history", headers=system.manager).json()
        assert [(e["action"], e["to_state"]) for e in history] == [
            ("assign", "with_duty_manager"),
            (FIRST_CONTACT, "closed"),
        ]
        closing = history[-1]
        assert (closing["actor_id"], closing["actor_role"]) == ("A001", "agent")
        assert closing["payload"]["answered_from_article"] == article["id"]
        assert closing["payload"]["customer_confirmed"] is True
        chain = escalation.get(f"/complaints/{cid}/history/verify", headers=system.manager)
        assert chain.json()["valid"] is True

        system.settled()
        seen = intake.get(f"/complaints/{cid}", headers=system.agent).json()
        assert (seen["status"], seen["closure_reason"]) == ("closed", "first_contact")
        assert seen["answered_from_article"] == article["id"]
        texts = [
            r.template
            for r in system.rows(
                "notify",
                "SELECT template FROM messages WHERE complaint_id = :c AND audience = 'customer' "
                "ORDER BY created_at, id",
                c=cid,
            )
        ]
        assert texts == ["customer_received", "customer_closed"]
        [fact] = system.rows(
            "analytics",
            "SELECT first_contact_resolved, answered_from_article, closure_reason "
            "FROM complaint_facts WHERE complaint_id = :c",
            c=cid,
        )
        assert tuple(fact) == (True, article["id"], "first_contact")
