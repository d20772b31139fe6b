"""The search benchmark's pieces on small sizes, so that `make bench` does not find out
first that one is broken: the generator stores what registration would, and each
integrity check fails on what it is there to catch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from bench import search as bench
from bench.common import Check, Context, Figure
from services.intake.search.words import document, query


@pytest.fixture(scope="module")
def texts() -> bench.Texts:
    found = bench.Texts.load()
    found.segment()
    return found


def test_the_generator_makes_what_registration_and_the_worker_would_store(
    texts: bench.Texts,
) -> None:
    made, tally = bench.generate(texts, 3000)
    assert tally.complaints == len(made) == 3000
    assert tally.replies == sum(m.reply is not None for m in made) > 1000
    assert [m.at for m in made] == sorted(m.at for m in made)  # registered in turn
    assert len({m.caller for m in made}) > 1000 and len({m.department for m in made}) > 5
    assert {texts.kinds[m.text] for m in made} == {"gov", "appeal", "incident", "english"}
    for m in made[:200]:
        row = bench.complaint_row(m, texts)
        assert len(row) == len(bench.COMPLAINT_COLUMNS)
        cid, at, words, more = bench.document_row(m, texts)
        description = texts.descriptions[m.text][0]
        assert (cid, at) == (row[0], m.at)
        assert words == document(description, m.place)
        added = [texts.notes[m.note]] if m.note is not None else []
        added += [texts.replies[m.reply]] if m.reply is not None else []
        assert more == "".join(" " + document(t) for t in added if document(t))


def test_a_hit_without_the_words_is_caught() -> None:
    q = query("水管 破裂")
    hits = [("a", "楼下 水管 破裂 漏水"), ("b", "水管 漏水"), ("c", "路灯 坏 了")]
    assert bench.missing_words(q, hits) == ["b", "c"]
    # The characters of an unknown word count only in sequence.
    assert bench.missing_words(query("湖建"), [("d", "西湖 建筑"), ("e", "湖 建")]) == ["d"]


def test_a_hit_outside_the_filters_is_caught() -> None:
    ask = bench.Ask(
        "word + department + 3 months",
        "水管",
        "dept01",
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 4, 1, tzinfo=UTC),
        phone="+8613900000001",
    )

    def row(cid: str, **kw: object) -> SimpleNamespace:
        values = {
            "id": cid,
            "department_id": "dept01",
            "registered_at": datetime(2025, 2, 1, tzinfo=UTC),
            "customer_key": "+8613900000001",
            **kw,
        }
        return SimpleNamespace(**values)

    rows = [
        row("fine"),
        row("other department", department_id="dept02"),
        row("before", registered_at=datetime(2024, 12, 31, tzinfo=UTC)),
        row("after", registered_at=datetime(2025, 4, 1, tzinfo=UTC)),
        row("another caller", customer_key="+8613900000002"),
    ]
    wrong = bench.filter_breaches(ask, rows)
    assert [w.split(":")[0] for w in wrong] == ["other department", "before", "after",
                                                 "another caller"]  # fmt: skip


def test_a_plan_without_the_index_is_caught() -> None:
    plan = [
        {
            "Plan": {
                "Node Type": "Limit",
                "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "ix_other"}],
            }
        }
    ]
    assert not bench.plan_uses(plan, "ix_search_documents_document")
    plan[0]["Plan"]["Plans"].append(
        {"Node Type": "Bitmap Index Scan", "Index Name": "ix_search_documents_document"}
    )
    assert bench.plan_uses(plan, "ix_search_documents_document")


def test_each_kind_of_search_is_asked_with_words_that_are_where_it_says(
    texts: bench.Texts,
) -> None:
    made, tally = bench.generate(texts, 3000)
    asked = bench.asks(made, texts, tally)
    assert set(asked) == {
        "one word",
        "two words",
        "word + department + 3 months",
        "word + caller's phone",
        "English word",
        "rare word",
        "very common word",
    }
    for kind, found in asked.items():
        assert len(found) >= bench.QUERIES_PER_KIND // 2, kind
    counts = bench.word_counts(made, texts)
    rare = asked["rare word"][0].q
    common = asked["very common word"][0].q
    assert counts[rare] < counts[common]
    assert all(w.q.isascii() for w in asked["English word"])


@pytest.mark.postgres
def test_the_whole_benchmark_passes_its_checks_on_a_few_thousand_complaints(pg_url: str) -> None:
    ctx = Context(database_url=pg_url, pg_super_url=pg_url, kafka_bootstrap="")
    found = list(_run(ctx))
    checks = [c for c in found if isinstance(c, Check)]
    assert checks and [str(c) for c in checks if not c.passed] == []
    figures = {f.name for f in found if isinstance(f, Figure)}
    assert {"rare word, p95", "very common word, p95", "all searches, p95"} <= figures


def _run(ctx: Context) -> Iterator[Check | Figure]:
    return bench.run_sized(ctx, 3000)
