"""The hot issues no article of the knowledge base answers: what QA should write down
next. Analytics keeps the articles agents read from intake's events, and an issue is
answered once an approved article of its client names its problem."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.analytics.handlers import handlers_for
from shared.consumer import Refused
from shared.contracts import ARTICLE_APPROVED, ARTICLE_WITHDRAWN, ArticleApproved, ArticleWithdrawn
from shared.events import SYSTEM, Envelope, Event, encode, registry
from shared.vocabulary import ArticleStep
from tests.analytics.conftest import Analytics, load
from tests.analytics.story import BEIJING, NOW, Story
from tests.analytics.test_hot_issues import lifts_today

pytestmark = pytest.mark.postgres

DAY = {"from": "2026-03-31", "to": "2026-03-31"}


def approved(article_id: int, at: datetime, *, tenant: str = "default", **fields: Any) -> Envelope:
    payload = {
        "article_id": article_id,
        "version": 1,
        "category": "service",
        "question": "小区电梯坏了找谁修？",
        "keywords": ["电梯", "维修"],
        "changed_at": at,
        **fields,
    }
    return registry.new(
        ARTICLE_APPROVED.name,
        ArticleApproved.model_validate(payload),
        source="intake",
        tenant=tenant,
        actor=SYSTEM,
        complaint_id=None,
        event_id=uuid.uuid4(),
    )


def withdrawn(article_id: int, at: datetime) -> Envelope:
    return registry.new(
        ARTICLE_WITHDRAWN.name,
        ArticleWithdrawn(article_id=article_id, step=ArticleStep.RETIRE, changed_at=at),
        source="intake",
        tenant="default",
        actor=SYSTEM,
        complaint_id=None,
    )


def gaps(analytics: Analytics) -> dict[str, Any]:
    found: dict[str, Any] = analytics.get("/analytics/knowledge-gaps", headers=analytics.qa, **DAY)
    return found


def test_a_hot_issue_is_to_write_until_an_approved_article_answers_it(analytics: Analytics) -> None:
    s = Story()
    lifts_today(s, 6)  # six callers about one estate's lifts
    load(analytics.env.db, s.events)
    before = gaps(analytics)
    [issue] = before["to_write"]
    assert before["answered"] == [] and before["articles"] == 0
    assert issue["place"] == "翠湖花园" and "电梯" in issue["words"][:2]
    assert issue["callers"] == 6 and issue["label"].startswith("翠湖花园：")

    # Another client's article on lifts answers no issue of this one's; one on parking
    # fees answers not the lifts.
    load(analytics.env.db, [approved(1, NOW - timedelta(days=2), tenant="gas")])
    load(
        analytics.env.db,
        [approved(2, NOW - timedelta(days=2), question="小区停车费怎么收？", keywords=["停车费"])],
    )
    assert [i["key"] for i in gaps(analytics)["to_write"]] == [issue["key"]]

    load(analytics.env.db, [approved(3, NOW - timedelta(days=1))])
    after = gaps(analytics)
    assert after["to_write"] == []
    [answered] = after["answered"]
    assert answered["key"] == issue["key"]
    assert answered["articles"] == [{"article_id": 3, "question": "小区电梯坏了找谁修？"}]

    # Retired: to write again; its approval read late changes nothing.
    load(analytics.env.db, [withdrawn(3, NOW - timedelta(hours=12))])
    load(analytics.env.db, [approved(3, NOW - timedelta(days=1, hours=1))])
    assert [i["key"] for i in gaps(analytics)["to_write"]] == [issue["key"]]
    # An article valid only from tomorrow answers nothing today.
    load(
        analytics.env.db,
        [approved(4, NOW - timedelta(hours=1), valid_from=NOW + timedelta(days=1))],
    )
    assert gaps(analytics)["answered"] == []


def test_who_reads_the_gaps_and_an_event_naming_another_client_for_an_article(
    analytics: Analytics,
) -> None:
    answer = analytics.client.get("/analytics/knowledge-gaps", params=DAY, headers=analytics.viewer)
    assert answer.status_code == 403
    load(analytics.env.db, [approved(5, NOW - timedelta(days=1))])
    # The same article said to be the gas client's: refused whole, as a complaint's is.
    event: Event[Any] = registry.decode(encode(approved(5, NOW, tenant="gas")))
    with analytics.env.db.transaction() as session, pytest.raises(Refused) as refused:
        handlers_for(BEIJING)[event.type](session, event)
    assert refused.value.error_class == "tenant"
