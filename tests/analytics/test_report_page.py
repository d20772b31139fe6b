"""The printable department report: text that came from the public or from staff shows as
written and never becomes markup, and the page refuses to render with a value missing."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError

from services.analytics.reports import department
from services.analytics.reports.render import PAGES, department_html
from shared.db import create_database
from shared.migrations import upgrade
from tests.analytics.conftest import load
from tests.analytics.story import NOW, Story, bj

# Markup that would run as it stands, and a quote that would end an attribute and open
# a new one if the text were ever put inside one.
HOSTILE = '<script>alert(1)</script> " onmouseover="x'


class Page(HTMLParser):
    """The elements, attributes and text a browser would see."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.texts: dict[str, list[str]] = {}
        self._open: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]
        if tag not in ("br", "meta"):
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self._open:
            self.texts.setdefault(self._open[-1], []).append(data)


@pytest.fixture
def hostile_month(tmp_path: Path) -> dict[str, Any]:
    """Billing's month with one complaint whose text, return reason and resolution are
    hostile, reported on SQLite from the events as the worker applies them."""
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
    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    upgrade("analytics", url=url, schema="analytics")
    db = create_database(url, schema="analytics")
    try:
        assert load(db, story.events) == len(story.events)
        with db.read() as session:
            return department.department_report(
                session, department="billing", month="2026-03", now=NOW
            )
    finally:
        db.dispose()


def test_hostile_text_and_department_name_show_as_written_and_never_as_markup(
    hostile_month: dict[str, Any],
) -> None:
    html = department_html(hostile_month, department_name=HOSTILE)
    assert "<script>" not in html
    assert 'onmouseover="' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    page = Page(html)
    assert "script" not in page.tags
    assert "onmouseover" not in page.attributes
    # What a reader sees is the text as it was written: the department's name in the
    # title and the heading, the complaint as the root cause's example, the reason.
    assert page.texts["title"] == [f"{HOSTILE} 2026-03 投诉月报 / monthly complaint report"]
    assert page.texts["h1"][0] == f"{HOSTILE} · 2026-03 投诉月报 "
    [example] = [t for t in page.texts["td"] if HOSTILE in t and t != HOSTILE]
    assert example.strip() == HOSTILE  # after the reference in bold
    assert page.texts["td"].count(HOSTILE) == 1  # the return reason
    [cause] = hostile_month["root_causes"]["causes"]
    assert cause["examples"][0]["description"] == HOSTILE
    assert hostile_month["returned"]["examples"][0]["reason"] == HOSTILE


def test_the_page_is_headed_by_the_departments_name_else_its_id(
    hostile_month: dict[str, Any],
) -> None:
    assert Page(department_html(hostile_month)).texts["title"] == [
        "账务部 Billing 2026-03 投诉月报 / monthly complaint report"
    ]
    unnamed = {**hostile_month, "department_name": None}
    assert Page(department_html(unnamed)).texts["title"] == [
        "billing 2026-03 投诉月报 / monthly complaint report"
    ]


def test_a_misspelt_name_fails_the_page_rather_than_printing_a_blank(
    hostile_month: dict[str, Any],
) -> None:
    with pytest.raises(UndefinedError, match="monht"):
        PAGES.from_string("{{ report.monht }}").render(report=hostile_month)
    # The same for the report template: a key it reads that the report no longer has.
    renamed = dict(hostile_month)
    renamed["generated"] = renamed.pop("generated_at")
    with pytest.raises(UndefinedError, match="generated_at"):
        department_html(renamed)
