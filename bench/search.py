"""Search: full-text search latency over 1,000,000 complaints on PostgreSQL.

    make bench            (or: python -m bench search [--quick])
    python -m bench.search --size 100000     (on its own, BENCH_DATABASE_URL set)

The complaints are made from the real data files (data/): the hotline messages, the
dispute appeals and the incident reports (Chinese, with the English names of the systems
they are about), and a hotline's English callers in 30 phrasings with 10 asides; placed
at 3,600 estates and their buildings, from 250,000 callers (some calling often), over 24
months (stored in the order they came, as a live system stores them), held by 10
departments; answered with the incident reports' handling and
corrective actions (and English replies), some with an agent's note. Each distinct text is
segmented once (search.words, as registration does it) and its words reused, so the load
measures the database, not the segmenter; the rows go in by COPY into a fresh schema of
intake's real migrations, whose indexes are built after the load.

The queries are timed through the function the API answers with (search.flows.find:
the words, the filters, the ranking, the page and each hit's snippet), for an agent:
one word, two words, a word with a department and three months, a word with a caller's
phone, an English word, a rare word, a very common word; and the likely duplicates the
registration page asks for while the agent types. Before any figure is shown:
the row counts are the generator's, the plan of a rare word and of two words uses the GIN
index, every hit holds the words asked for (checked in Python on its indexed words, not
by the database that found it) and passes the filters asked for, and all pages of a rare
word are exactly its complaints, each once; a complaint of the last week asked about
again is its own likely duplicate.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import (
    ROOT,
    Check,
    Context,
    Figure,
    execute,
    fresh_schema,
    percentile,
    say,
    table,
)
from shared.vocabulary import Action, Channel, ClosureReason, Nature, NoteSource, Severity, State

NAME = "search"
DESCRIPTION = "full-text search p50/p95 over 1,000,000 complaints (Chinese and English)"

DATA = ROOT / "data"
SIZE = 1_000_000
QUICK_SIZE = 100_000
START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 730
GOAL_MS = 200
DEPARTMENTS = tuple(f"dept{n:02d}" for n in range(10))
QUERIES_PER_KIND = 24

# --- the texts ---------------------------------------------------------------------------

ENGLISH = [
    "The water pipe under the kitchen sink is leaking and the floor is flooded",
    "Our building has had no hot water since Monday and the heating is not working",
    "The street lights on our road have been broken for two weeks",
    "I was charged twice for the same bill this month",
    "My broadband connection keeps dropping every evening",
    "The garbage has not been collected from our street for a week",
    "A restaurant downstairs is making noise late at night",
    "The lift in our block is broken and elderly residents are stuck upstairs",
    "The bus did not stop at the station and drove past waiting passengers",
    "My parcel was marked delivered but I never received it",
    "The construction site next door works through the night",
    "Sewage is overflowing from a manhole in front of the school",
    "The landlord refuses to return my deposit after I moved out",
    "My mobile signal is very weak inside the apartment",
    "The property management company raised the parking fee without notice",
    "A gas smell comes from the pipes in the stairwell",
    "The pavement is blocked by street vendors and parked bicycles",
    "My salary has not been paid for three months",
    "The pharmacy sold me expired medicine",
    "The taxi driver refused to use the meter and overcharged me",
    "Water is leaking through the ceiling from the flat upstairs",
    "The tap water is brown and smells strange",
    "The park fountain pump is broken and the pond smells",
    "Roadworks have left a deep hole without any warning signs",
    "The refund for my cancelled order has not arrived",
    "A neighbour's dog barks all night and nobody does anything",
    "The school canteen served spoiled food to the children",
    "The traffic lights at the crossing are not working",
    "My electricity meter is charging far more than I use",
    "The elevator doors close too fast and hurt my child",
]
ASIDES = [
    "I have called three times already.",
    "My elderly mother lives with me.",
    "Please send someone today.",
    "This has been going on for a month.",
    "Nobody answers at the management office.",
    "I have photos if needed.",
    "The neighbours have the same problem.",
    "It gets worse when it rains.",
    "I was promised a fix last week.",
    "We have a newborn baby at home.",
]
ENGLISH_REPLIES = [
    "A technician replaced the leaking pipe and checked the water pressure.",
    "The billing error was corrected and the double charge refunded.",
    "The collection schedule was restored and the street cleaned.",
    "The contractor was warned and night work stopped.",
    "The lift was repaired and passed its safety inspection.",
    "The lights were repaired by the maintenance team.",
]
NOTES = [
    "客户补充：问题从上周开始出现，之前反映过一次。",
    "客户再次来电，情绪比较激动，要求尽快上门。",
    "已告知客户处理时限，客户表示理解。",
    "客户提供了现场照片，已上传。",
    "客户说邻居也有同样的问题。",
    "客户要求处理后电话回复。",
    "The caller added that the problem started after the storm.",
    "Customer asked to be called back in the evening.",
]
NAMES = [f"{s}{t}" for s in "王李张刘陈杨赵黄周吴徐孙马朱胡郭" for t in ("先生", "女士")]


def _gov() -> list[tuple[str, str]]:
    from shared.taxonomy import taxonomy

    seen: set[str] = set()
    out = []
    with (DATA / "gov_messages_labelled.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            text = f"{row['留言主题'].strip()}\n\n{' '.join(row['留言详情'].split())}"[:600]
            if text in seen:
                continue
            seen.add(text)
            found = taxonomy().find(row["一级分类"])
            out.append((text, found.id if found else "other"))
    return out


def _appeals() -> list[tuple[str, str]]:
    texts = set()
    with (DATA / "ecommerce_dispute_appeals.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            text = " ".join(row["content"].split())
            if len(text) >= 10:
                texts.add(text[:400])
    kinds = ("delivery", "product", "service")
    return [(t, kinds[n % len(kinds)]) for n, t in enumerate(sorted(texts))]


def _incidents() -> tuple[list[tuple[str, str]], list[str]]:
    """Symptoms as complaints; handling and corrective actions as replies."""
    symptoms, replies = set(), set()
    with (DATA / "ict_fault_root_causes.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["问题现象"].strip():
                symptoms.add(" ".join(row["问题现象"].split())[:400])
            for key in ("故障处理过程", "整改措施"):
                if len(row[key].strip()) >= 6:
                    replies.add(" ".join(row[key].split())[:400])
    return [(t, "network") for t in sorted(symptoms)], sorted(replies)


def _english() -> list[tuple[str, str]]:
    cats = ("urban_construction", "billing", "network", "transport", "delivery", "environment")
    return [
        (f"{phrase}. {aside}", cats[n % len(cats)])
        for n, phrase in enumerate(ENGLISH)
        for aside in ASIDES
    ]


def places() -> list[str]:
    from bench.hot_issues import places as estates

    return estates()


@dataclass
class Texts:
    """Every distinct text the complaints are made of, each segmented once."""

    descriptions: list[tuple[str, str]]  # (text, category)
    kinds: list[str]  # gov, appeal, incident, english: which pool each came from
    replies: list[str]
    notes: list[str]
    places: list[str]
    words: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Texts:
        gov, appeals, (incidents, fixes), english = _gov(), _appeals(), _incidents(), _english()
        descriptions = gov + appeals + incidents + english
        kinds = (
            ["gov"] * len(gov)
            + ["appeal"] * len(appeals)
            + ["incident"] * len(incidents)
            + ["english"] * len(english)
        )
        return cls(descriptions, kinds, fixes + ENGLISH_REPLIES, NOTES, places())

    def segment(self) -> None:
        from services.intake.search.words import words

        for text in [t for t, _ in self.descriptions] + self.replies + self.notes + self.places:
            if text not in self.words:
                self.words[text] = words(text)

    def of(self, text: str | None) -> list[str]:
        if not text:
            return []
        if text not in self.words:
            from services.intake.search.words import words

            self.words[text] = words(text)
        return self.words[text]


# --- the complaints ------------------------------------------------------------------------

# Which pool a complaint's text comes from: the hotline's messages, the appeals, the
# incident reports, the English callers.
POOL_SHARE = {"gov": 0.35, "appeal": 0.30, "incident": 0.20, "english": 0.15}
STATES = (
    (State.CLOSED, 0.80),
    (State.REPLIED, 0.05),
    (State.IN_PROGRESS, 0.05),
    (State.DISPATCHED, 0.03),
    (State.WITH_DUTY_MANAGER, 0.05),
    (State.RECEIVED, 0.02),
)
CALLERS = 250_000
FREQUENT_CALLERS = 500


@dataclass(frozen=True)
class Made:
    """One complaint as the generator makes it: indexes into the pools."""

    n: int
    text: int
    place: str | None
    caller: int
    at: datetime
    department: int | None
    status: State
    reply: int | None
    note: int | None
    name: int | None


@dataclass
class Tally:
    """What the generator made, counted as it made it: what the database must hold."""

    complaints: int = 0
    replies: int = 0
    notes: int = 0
    by_text: Counter[int] = field(default_factory=Counter)
    by_caller: Counter[int] = field(default_factory=Counter)


def complaint_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def phone_of(caller: int) -> str:
    return f"+86139{caller:08d}"


def generate(texts: Texts, size: int, *, seed: int = 7) -> tuple[list[Made], Tally]:
    """`size` complaints in the order they were registered, as a live system stores them
    (and the numbers handed out with them)."""
    rng = random.Random(seed)
    times = sorted(rng.randrange(DAYS * 86400) for _ in range(size))
    by_kind: dict[str, list[int]] = {}
    for i, kind in enumerate(texts.kinds):
        by_kind.setdefault(kind, []).append(i)
    kinds, shares = zip(*POOL_SHARE.items(), strict=True)
    states, state_w = zip(*STATES, strict=True)
    dept_w = [1 / (i + 1) for i in range(len(DEPARTMENTS))]
    where = texts.places
    made, tally = [], Tally()
    for n in range(size):
        kind = rng.choices(kinds, shares)[0]
        text = rng.choice(by_kind[kind])
        placed = rng.random() < (0.7 if kind in ("gov", "english") else 0.3)
        place = f"{rng.choice(where)}{rng.randrange(1, 13)}号楼" if placed else None
        if rng.random() < 0.05:
            caller = rng.randrange(FREQUENT_CALLERS)
        else:
            caller = rng.randrange(FREQUENT_CALLERS, CALLERS)
        at = START + timedelta(seconds=times[n])
        status = rng.choices(states, state_w)[0]
        with_department = status not in (State.RECEIVED, State.WITH_DUTY_MANAGER)
        department = rng.choices(range(len(DEPARTMENTS)), dept_w)[0] if with_department else None
        replied = status in (State.CLOSED, State.REPLIED) and rng.random() < 0.85
        reply = None
        if replied:
            pool = range(len(texts.replies) - len(ENGLISH_REPLIES), len(texts.replies))
            reply = rng.choice(pool) if kind == "english" else rng.randrange(len(texts.replies))
        note = rng.randrange(len(texts.notes)) if rng.random() < 0.15 else None
        name = rng.randrange(len(NAMES)) if rng.random() < 0.6 else None
        made.append(Made(n, text, place, caller, at, department, status, reply, note, name))
        tally.complaints += 1
        tally.replies += reply is not None
        tally.notes += note is not None
        tally.by_text[text] += 1
        tally.by_caller[caller] += 1
    return made, tally


def complaint_row(m: Made, texts: Texts) -> tuple[Any, ...]:
    text, category = texts.descriptions[m.text]
    closed = m.status == State.CLOSED
    return (
        complaint_id(m.n),
        m.n + 1,
        f"TS{m.at:%Y%m%d}-{m.n + 1:07d}",
        phone_of(m.caller),
        phone_of(m.caller),
        NAMES[m.name] if m.name is not None else None,
        Channel.PHONE,
        category,
        Severity.NORMAL,
        Nature.GENUINE,
        False,
        text,
        m.place,
        m.at,
        "A001",
        m.status,
        6 if closed else 3,
        m.at + timedelta(days=3),
        DEPARTMENTS[m.department] if m.department is not None else None,
        ClosureReason.SATISFIED if closed else None,
    )


COMPLAINT_COLUMNS = [
    "id",
    "number",
    "reference",
    "customer_key",
    "customer_phone",
    "customer_name",
    "channel",
    "category",
    "severity",
    "nature",
    "strong_emotion",
    "description",
    "location",
    "registered_at",
    "registered_by",
    "status",
    "status_seq",
    "status_updated_at",
    "department_id",
    "closure_reason",
]


def document_row(m: Made, texts: Texts) -> tuple[str, datetime, str, str]:
    """As registration and the worker leave it (search.words.document, add_words)."""
    text, _ = texts.descriptions[m.text]
    words = " ".join(texts.of(text) + texts.of(m.place))
    more = ""
    if m.note is not None and texts.of(texts.notes[m.note]):
        more += " " + " ".join(texts.of(texts.notes[m.note]))
    if m.reply is not None and texts.of(texts.replies[m.reply]):
        more += " " + " ".join(texts.of(texts.replies[m.reply]))
    return complaint_id(m.n), m.at, words, more


# --- loading --------------------------------------------------------------------------------


def _copy(conn: Any, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _complaint_rows(made: list[Made], texts: Texts) -> Iterator[tuple[Any, ...]]:
    return (complaint_row(m, texts) for m in made)


def _document_rows(made: list[Made], texts: Texts) -> Iterator[tuple[Any, ...]]:
    return (document_row(m, texts) for m in made)


def _reply_rows(made: list[Made], texts: Texts) -> Iterator[tuple[Any, ...]]:
    return (
        (
            complaint_id(m.n),
            5,
            Action.REPLY,
            DEPARTMENTS[m.department] if m.department is not None else None,
            texts.replies[m.reply],
            m.at + timedelta(days=2),
        )
        for m in made
        if m.reply is not None
    )


def _note_rows(made: list[Made], texts: Texts) -> Iterator[tuple[Any, ...]]:
    return (
        (
            complaint_id(m.n),
            texts.notes[m.note],
            NoteSource.AGENT,
            "A001",
            m.at + timedelta(hours=1),
        )
        for m in made
        if m.note is not None
    )


DOCUMENT_COLUMNS = ["complaint_id", "registered_at", "words", "more_words"]
REPLY_COLUMNS = [
    "complaint_id",
    "history_seq",
    "action",
    "department_id",
    "resolution",
    "replied_at",
]
NOTE_COLUMNS = ["complaint_id", "text", "source", "added_by", "added_at"]
TABLES = ("complaints", "search_documents", "replies", "notes")


def _in_turn(db: Any, steps: list[Any]) -> None:
    """Run `steps` (functions of a connection) one after another on a connection of
    their own, each committed."""
    raw = db.engine.raw_connection()
    try:
        for step in steps:
            step(raw)
            raw.commit()
    finally:
        raw.close()


def _side_by_side(db: Any, *lanes: list[Any]) -> float:
    """The lanes at once (the machine's two cores), each on its own connection; seconds."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.monotonic()
    with ThreadPoolExecutor(len(lanes)) as pool:
        for done in [pool.submit(_in_turn, db, lane) for lane in lanes]:
            done.result()
    return time.monotonic() - started


def load(db: Any, made: list[Made], texts: Texts) -> dict[str, float]:
    """The complaints, their search documents, replies and notes by COPY, two streams at
    once; the indexes (but those of primary keys and unique constraints) and the foreign
    keys dropped before and made again after."""
    raw = db.engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s "
                "AND t.relname = ANY(%s) "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
                (db.schema, list(TABLES)),
            )
            indexes = cur.fetchall()
            cur.execute(
                "SELECT t.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
                "JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n "
                "ON n.oid = t.relnamespace WHERE n.nspname = %s AND k.contype = 'f' "
                "AND t.relname = ANY(%s)",
                (db.schema, list(TABLES)),
            )
            keys = cur.fetchall()
            for table_, name, _ in keys:
                cur.execute(f'ALTER TABLE "{table_}" DROP CONSTRAINT "{name}"')
            for name, _ in indexes:
                cur.execute(f'DROP INDEX "{name}"')
        raw.commit()
    finally:
        raw.close()

    def copying(table_: str, columns: list[str], rows: Any, part: list[Made]) -> Any:
        return lambda conn: _copy(conn, table_, columns, rows(part, texts))

    # The complaints take about as long as three fifths of their search documents (whose
    # tsvectors the database computes as it goes): the two lanes end together.
    split = len(made) // 5
    took = {
        "COPY": _side_by_side(
            db,
            [
                copying("complaints", COMPLAINT_COLUMNS, _complaint_rows, made),
                copying("replies", REPLY_COLUMNS, _reply_rows, made),
                copying("notes", NOTE_COLUMNS, _note_rows, made),
                copying("search_documents", DOCUMENT_COLUMNS, _document_rows, made[:split]),
            ],
            [copying("search_documents", DOCUMENT_COLUMNS, _document_rows, made[split:])],
        )
    }

    def run(sql_: str) -> Any:
        def step(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.execute("SET maintenance_work_mem = '1GB'")
                cur.execute(sql_)

        return step

    gin = [run(d) for n, d in indexes if n == "ix_search_documents_document"]
    btrees = [run(d) for n, d in indexes if n != "ix_search_documents_document"]
    took["indexes"] = _side_by_side(db, gin, btrees)
    steps = [run(f'ALTER TABLE "{t}" ADD CONSTRAINT "{n}" {d}') for t, n, d in keys]
    steps += [run(f"ANALYZE {t}") for t in TABLES]
    took["foreign keys and ANALYZE"] = _side_by_side(db, steps)
    return took


# --- the queries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """One search as an agent types it: the words and the filters."""

    kind: str
    q: str
    department: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    phone: str | None = None


def word_counts(made: list[Made], texts: Texts) -> Counter[str]:
    """In how many complaints each word of the descriptions is (from the generator's
    tally: each text's words times the complaints made of it)."""
    df: Counter[str] = Counter()
    for i, count in Counter(m.text for m in made).items():
        for word in set(texts.of(texts.descriptions[i][0])):
            df[word] += count
    return df


def _usable(word: str) -> bool:
    """A word an agent would type on its own: two characters at least, no number, and
    read back as itself when typed alone (a word cut out of a longer one may not be)."""
    from services.intake.search.words import query

    return (
        len(word) >= 2 and not any(ch.isdigit() for ch in word) and query(word).groups == ((word,),)
    )


def asks(made: list[Made], texts: Texts, tally: Tally, *, seed: int = 11) -> dict[str, list[Ask]]:
    """For each kind of search, QUERIES_PER_KIND of them, picked by how many complaints
    hold their words."""
    rng = random.Random(seed)
    size = len(made)
    df = word_counts(made, texts)
    # Words that are in one text only and in no reply, note or place: their complaints are
    # exactly the text's (tally.by_text).
    elsewhere = {w for t in texts.replies + texts.notes for w in texts.of(t)}
    elsewhere |= {w for p in texts.places for w in texts.of(p)} | {"号", "楼"}
    owner: dict[str, set[int]] = {}
    for i, (text, _) in enumerate(texts.descriptions):
        for word in texts.of(text):
            owner.setdefault(word, set()).add(i)
    han = [w for w in df if _usable(w) and not w.isascii()]
    mid = [w for w in han if 0.002 * size <= df[w] <= 0.03 * size]
    common = sorted(han, key=lambda w: -df[w])[:QUERIES_PER_KIND]
    rare = [
        w
        for w in han
        if len(owner[w]) == 1 and w not in elsewhere and tally.by_text[next(iter(owner[w]))] > 0
    ]
    english = sorted(
        w
        for i, kind in enumerate(texts.kinds)
        if kind == "english"
        for w in set(texts.of(texts.descriptions[i][0]))
        if _usable(w) and df[w] <= 0.03 * size
    )
    pairs = []
    for i in rng.sample(range(len(texts.descriptions)), 400):
        ws = [w for w in dict.fromkeys(texts.of(texts.descriptions[i][0])) if w in mid]
        if len(ws) >= 2 and tally.by_text[i]:
            pairs.append(" ".join(rng.sample(ws, 2)))
    frequent = [c for c, _ in tally.by_caller.most_common(FREQUENT_CALLERS)]
    wanted = set(frequent)
    by_caller: dict[int, list[Made]] = {}
    for m in made:
        if m.caller in wanted:
            by_caller.setdefault(m.caller, []).append(m)
    phones = []
    for caller in rng.sample(frequent, min(QUERIES_PER_KIND, len(frequent))):
        mine = by_caller.get(caller) or []
        ws = [w for m in mine for w in texts.of(texts.descriptions[m.text][0]) if _usable(w)]
        if ws:
            phones.append(Ask("word + caller's phone", rng.choice(ws), phone=phone_of(caller)))
    k = QUERIES_PER_KIND
    quarter: list[Ask] = []
    mids = set(mid)
    for m in rng.sample(made, 20 * k):
        if len(quarter) == k:
            break
        ws = [w for w in texts.of(texts.descriptions[m.text][0]) if w in mids]
        if m.department is None or not ws:
            continue
        # A window of three months around one complaint holding the word, so that the
        # search finds at least that one.
        start = m.at - timedelta(days=rng.randrange(92))
        quarter.append(
            Ask(
                "word + department + 3 months",
                rng.choice(ws),
                DEPARTMENTS[m.department],
                start,
                start + timedelta(days=92),
            )
        )
    return {
        "one word": [Ask("one word", w) for w in rng.sample(mid, k)],
        "two words": [Ask("two words", p) for p in rng.sample(pairs, min(k, len(pairs)))],
        "word + department + 3 months": quarter,
        "word + caller's phone": phones,
        "English word": [
            Ask("English word", w) for w in rng.sample(sorted(set(english)), min(k, len(english)))
        ],
        "rare word": [Ask("rare word", w) for w in rng.sample(rare, min(k, len(rare)))],
        "very common word": [Ask("very common word", w) for w in common],
    }


# --- checks ---------------------------------------------------------------------------------


def missing_words(query: Any, hits: Iterable[tuple[str, str]]) -> list[str]:
    """The hits (id, indexed words) that do not hold every word of the query in place:
    checked here, apart from the database that found them."""
    from services.intake.search.words import matches

    return [cid for cid, words in hits if matches(query, words.split()) == 0]


def filter_breaches(ask: Ask, rows: Iterable[Any]) -> list[str]:
    """The hits that are not what the filters asked for."""
    wrong = []
    for row in rows:
        if ask.department and row.department_id != ask.department:
            wrong.append(f"{row.id}: department {row.department_id}")
        if ask.since and row.registered_at < ask.since:
            wrong.append(f"{row.id}: registered {row.registered_at} before {ask.since}")
        if ask.until and row.registered_at >= ask.until:
            wrong.append(f"{row.id}: registered {row.registered_at} after {ask.until}")
        if ask.phone and row.customer_key != ask.phone:
            wrong.append(f"{row.id}: caller {row.customer_key}")
    return wrong


def plan_uses(plan: Any, index: str) -> bool:
    """Whether an EXPLAIN (FORMAT JSON) plan reads `index`."""
    if isinstance(plan, dict):
        if plan.get("Index Name") == index:
            return True
        return any(plan_uses(v, index) for v in plan.values())
    if isinstance(plan, list):
        return any(plan_uses(v, index) for v in plan)
    return False


# --- running --------------------------------------------------------------------------------


def _filters(ask: Ask) -> Any:
    from services.intake.search.service import Filters

    return Filters(
        phone=(ask.phone,) if ask.phone else (),
        department_id=ask.department,
        since=ask.since,
        until=ask.until,
    )


def _search(db: Any, ask: Ask, *, after: Any = None, limit: int = 50) -> list[Any]:
    """What the API does for `GET /complaints?q=…` (an agent), but HTTP and the access log."""
    from services.intake.search import flows, words
    from shared.privacy import sight
    from shared.vocabulary import Role

    sees = sight(Role.AGENT)
    q = words.query(ask.q)
    with db.read() as session:
        return flows.find(
            session,
            q,
            flows.for_reader(_filters(ask), ask.q, q, sees),
            sees=sees,
            after=after,
            limit=limit,
        )


def _indexed(db: Any, ids: list[str]) -> dict[str, str]:
    """The words each complaint's search document holds, its notes' and replies' too."""
    from sqlalchemy import select

    from services.intake.search.service import documents

    d = documents.c
    with db.read() as session:
        rows = session.execute(
            select(d.complaint_id, d.words, d.more_words).where(d.complaint_id.in_(ids))
        )
        return {r.complaint_id: f"{r.words} {r.more_words}" for r in rows}


def _explain(db: Any, ask: Ask) -> Any:
    """The plan of the statement the search runs (caught as it is sent)."""
    from sqlalchemy import event

    caught: list[tuple[str, Any]] = []

    def catch(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if "ts_rank_cd" in statement and not caught:
            caught.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", catch)
    try:
        _search(db, ask)
    finally:
        event.remove(db.engine, "before_cursor_execute", catch)
    statement, params = caught[0]
    raw = db.engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute("EXPLAIN (FORMAT JSON) " + statement, params)
            return cur.fetchone()[0]
    finally:
        raw.close()


def run_sized(ctx: Context, size: int) -> Iterator[Figure | Check]:
    from sqlalchemy import text as sql

    from services.intake.search import words as search_words
    from services.intake.search.service import RANKED

    say("search: reading and segmenting the texts")
    started = time.monotonic()
    texts = Texts.load()
    search_words.warm_up()
    texts.segment()
    made, tally = generate(texts, size)
    say(
        f"search: {len(texts.descriptions)} texts, {len(texts.replies)} replies, "
        f"{len(texts.places)} estates segmented, {size:,} complaints made in "
        f"{time.monotonic() - started:.0f}s"
    )
    with fresh_schema(ctx, "intake", pool_size=4) as db:
        started = time.monotonic()
        took = load(db, made, texts)
        loaded = time.monotonic() - started
        say("search: loaded in " + ", ".join(f"{k} {v:.0f}s" for k, v in took.items()))
        with db.engine.connect() as conn:
            counts = {
                t: conn.scalar(sql(f"SELECT count(*) FROM {t}"))
                for t in ("complaints", "search_documents", "replies", "notes")
            }
        yield Check(NAME, "complaints (plain SQL count)", size, counts["complaints"])
        yield Check(NAME, "search documents, one per complaint", size, counts["search_documents"])
        yield Check(NAME, "replies written = the generator's", tally.replies, counts["replies"])
        yield Check(NAME, "notes written = the generator's", tally.notes, counts["notes"])

        kinds = asks(made, texts, tally)
        for kind, found in kinds.items():
            yield Check(
                NAME, f"{kind}: searches to time", True, len(found) >= QUERIES_PER_KIND // 2
            )
        for kind in ("rare word", "two words"):
            plan = _explain(db, kinds[kind][0])
            yield Check(
                NAME,
                f"{kind}: the plan reads the GIN index",
                True,
                plan_uses(plan, "ix_search_documents_document"),
            )

        # Every page of a rare word: its complaints, each once, and nothing else.
        from services.intake.search.words import query as parse

        rare = kinds["rare word"][0]
        owner = next(i for i, (t, _) in enumerate(texts.descriptions) if rare.q in texts.of(t))
        seen: list[str] = []
        after = None
        while True:
            page = _search(db, rare, after=after, limit=200)
            seen += [f.item.id for f in page]
            if len(page) < 200:
                break
            last = page[-1].item
            after = (last.rank, last.registered_at, last.id)
        expected = tally.by_text[owner]
        yield Check(
            NAME, f"all pages of the rare word {rare.q!r}: its complaints", expected, len(seen)
        )
        yield Check(NAME, "… each once", len(seen), len(set(seen)))
        yield Check(NAME, "… fewer than are ranked, so all were ranked", True, expected < RANKED)

        timings: dict[str, list[float]] = {}
        hits_of: dict[str, list[int]] = {}
        wrong_words: list[str] = []
        wrong_filters: list[str] = []
        for rnd in range(3):
            for kind, found in kinds.items():
                for ask in found:
                    started = time.perf_counter()
                    page = _search(db, ask)
                    took_ms = (time.perf_counter() - started) * 1000
                    if rnd == 0:
                        # The first round warms the caches; its answers are checked.
                        hits_of.setdefault(kind, []).append(len(page))
                        indexed = _indexed(db, [f.row.id for f in page])
                        q = parse(ask.q)
                        wrong_words += missing_words(
                            q, ((f.row.id, indexed[f.row.id]) for f in page)
                        )
                        wrong_filters += filter_breaches(ask, (f.row for f in page))
                        continue
                    timings.setdefault(kind, []).append(took_ms)
        yield Check(NAME, "hits that do not hold the words asked for", [], wrong_words[:5])
        yield Check(NAME, "hits outside the filters asked for", [], wrong_filters[:5])
        for kind, counts_ in hits_of.items():
            yield Check(NAME, f"{kind}: every search found something", True, min(counts_) > 0)

        dupes = list(_duplicates(db, made, texts))
        yield from (d for d in dupes if isinstance(d, Check))

        every = [t for ts in timings.values() for t in ts]
        note = f"{size:,} complaints; goal p95 < {GOAL_MS} ms"
        for kind, ts in timings.items():
            p95 = percentile(ts, 95)
            missed = "" if p95 < GOAL_MS else " (MISSED)"
            yield Figure(
                NAME, f"{kind}, p50", round(percentile(ts, 50), 1), "ms", f"{len(ts)} searches"
            )
            yield Figure(NAME, f"{kind}, p95", round(p95, 1), "ms", f"goal < {GOAL_MS} ms{missed}")
        overall = percentile(every, 95)
        yield Figure(NAME, "all searches, p50", round(percentile(every, 50), 1), "ms", note)
        yield Figure(
            NAME,
            "all searches, p95",
            round(overall, 1),
            "ms",
            f"{len(every)} searches" + ("" if overall < GOAL_MS else " (MISSED)"),
        )
        yield Figure(
            NAME,
            "loading (COPY, indexes, ANALYZE)",
            round(loaded),
            "s",
            ", ".join(f"{k} {v:.0f}s" for k, v in took.items()),
        )
        yield from (d for d in dupes if isinstance(d, Figure))
        with db.engine.connect() as conn:
            size_of = conn.scalar(sql("SELECT pg_total_relation_size('search_documents')"))
        yield Figure(NAME, "search documents with their GIN index", round(size_of / 2**20), "MiB")


def _duplicates(db: Any, made: list[Made], texts: Texts) -> Iterator[Figure | Check]:
    """Likely duplicates as the registration page asks for them while the agent types:
    complaints of the last week asked about again (the same caller, place and text), each
    of which must find itself, and nothing that is not what its reasons say."""
    from services.intake.search import flows
    from shared.privacy import sight
    from shared.vocabulary import DuplicateReason, Role

    since = made[-1].at - timedelta(days=7)
    recent = [m for m in made if m.at >= since]
    picks = random.Random(5).sample(recent, min(QUERIES_PER_KIND, len(recent)))
    took: list[float] = []
    missing, wrong = [], []
    for rnd in range(3):
        for m in picks:
            phone = phone_of(m.caller)
            asked = flows.Asked(phone, m.place, texts.descriptions[m.text][0])
            started = time.perf_counter()
            with db.read() as session:
                found = flows.likely_duplicates(session, asked, since=since, sees=sight(Role.AGENT))
            if rnd:
                took.append((time.perf_counter() - started) * 1000)
                continue
            if complaint_id(m.n) not in {f.row.id for f in found}:
                missing.append(complaint_id(m.n))
            for f in found:
                if DuplicateReason.SAME_CALLER in f.item.reasons and f.row.customer_key != phone:
                    wrong.append(f"{f.row.id}: not {phone}'s")
                if f.row.registered_at < since and f.row.status == State.CLOSED:
                    wrong.append(f"{f.row.id}: closed, registered before the week")
    yield Check(NAME, "likely duplicates: a complaint asked about again finds itself", [],
                missing[:5])  # fmt: skip
    yield Check(NAME, "likely duplicates that are not what their reasons say", [], wrong[:5])
    yield Figure(NAME, "likely duplicates at registration, p50", round(percentile(took, 50), 1),
                 "ms", f"{len(took)} asks: phone, place and text, the last 7 days")  # fmt: skip
    yield Figure(NAME, "likely duplicates at registration, p95", round(percentile(took, 95), 1),
                 "ms")  # fmt: skip


def run(ctx: Context) -> Iterator[Figure | Check]:
    yield from run_sized(ctx, QUICK_SIZE if ctx.quick else SIZE)


def main(argv: list[str] | None = None) -> int:
    """The benchmark on its own, on the database BENCH_DATABASE_URL names."""
    parser = argparse.ArgumentParser(prog="python -m bench.search")
    parser.add_argument("--size", type=int, default=SIZE, help="how many complaints")
    args = parser.parse_args(argv)
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        raise SystemExit("BENCH_DATABASE_URL is not set: the PostgreSQL to load and search")
    from shared.settings import normalise_database_url

    ctx = Context(
        database_url=normalise_database_url(url),
        pg_super_url=normalise_database_url(os.environ.get("BENCH_PG_SUPER_URL", url)),
        kafka_bootstrap="",
    )
    # Other work on the machine moves the figures: say how busy it was.
    load_before = os.getloadavg()[0]
    outcome = execute(NAME, run_sized(ctx, args.size))
    print(table(outcome.shown) if outcome.shown else "(no figures)")
    for problem in outcome.problems:
        print(f"FAILED: {problem}")
    summary = {
        "seconds": round(outcome.seconds),
        "checks": len(outcome.checks),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(summary))
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
