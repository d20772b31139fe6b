"""Load complaints from a CSV export of an older system, or demo data.

    python -m services.intake.importer FILE [--preset NAME | --mapping FILE.toml]
        [--default-category ID] [--default-outcome closed|open] [--dry-run] [--json]

Which column is what comes from a mapping (services/intake/mapping.py): a preset shipped
in services/intake/presets/ (`generic`: columns named like the API's fields;
`gov-messages`, `ecommerce-disputes`, `ict-faults`: the files in data/), or a TOML or
JSON file of your own; `--list-presets` shows them.

Every row keeps its own time, and the file's outcome: what the older system had closed
lands closed (with its reply, department and closing time), with no SMS, no deadline and
no duty manager; only rows marked open become live work, and say they were imported.
Every row is checked with the same rules as `POST /complaints`, stored with its
`complaint.received` event in one transaction, and remembered by a hash of its content,
so importing the same file twice adds nothing. A row that fails is refused alone,
reported with its line (as a spreadsheet numbers it: the header is line 1) and the
reason; the summary groups the reasons, with a few examples of each. A text longer than
intake takes is cut, says so, and the rest is kept as notes on the complaint.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from tqdm import tqdm

from services.intake.complaints import service
from services.intake.complaints.flows import store_complaint, store_note
from services.intake.complaints.models import (
    NoteCreate,
    clean_location,
    clean_text,
    location_problem,
)
from services.intake.complaints.registration import REF_PREFIX, NewComplaint
from services.intake.complaints.service import customer_key
from services.intake.config import IntakeConfig, get_config
from services.intake.db import outbox as outbox_table
from services.intake.mapping import (
    BadTime,
    Mapping,
    MappingError,
    load_mapping,
    preset,
    presets,
    read_time,
)
from shared.clock import utcnow
from shared.db import Database, database_for
from shared.events import Actor
from shared.outbox import Outbox
from shared.phones import InvalidPhone, parse_phone
from shared.settings import Settings
from shared.tenants import DEFAULT_TENANT, UnknownTenant
from shared.tenants import tenant as tenant_of
from shared.vocabulary import Channel, Nature, NoteSource, Role, Severity, State, Word

csv.field_size_limit(10_000_000)
W = TypeVar("W", bound=Word)

# Where a text was cut, in both languages: the agent reading it knows to open the notes.
CUT = "……【原文共 {n} 字，其余见备注 / cut: the rest of the text is in the notes】"
CONTINUED = "【{what}（续）/ {what} continued】\n"
NOTE_MAX = 5000
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_TRUE = frozenset({"1", "true", "yes", "y", "是", "有"})


class RowError(ValueError):
    """One row's problem: the column, the reason, and the kind of reason the summary
    groups it under (the reason without the cell's own value)."""

    def __init__(self, field: str, reason: str, kind: str | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.kind = kind or _QUOTED.sub("…", reason).split(";")[0].strip()


@dataclass(frozen=True)
class Rejected:
    line: int
    field: str
    reason: str
    kind: str = ""
    value: str = ""


@dataclass
class Summary:
    rows: int = 0
    accepted: int = 0
    already_imported: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    # Of those accepted: closed as they were in the older system, and live work.
    closed: int = 0
    open: int = 0
    anonymous: int = 0
    cut: int = 0
    default_category: int = 0
    # (the outcome cell as written, what it was taken as) of rows the file did not mark
    # in words the mapping lists.
    outcome_by_default: Counter[tuple[str, str]] = field(default_factory=Counter)
    no_time_column: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "accepted": self.accepted,
            "closed": self.closed,
            "open": self.open,
            "already_imported": self.already_imported,
            "rejected": len(self.rejected),
            "anonymous": self.anonymous,
            "cut": self.cut,
            "default_category": self.default_category,
            "outcome_by_default": [
                {"value": value, "taken_as": taken, "rows": n}
                for (value, taken), n in self.outcome_by_default.most_common()
            ],
            "no_time_column": self.no_time_column,
            "rejections": [r.__dict__ for r in self.rejected],
        }


@dataclass(frozen=True)
class Ready:
    """A row converted: what to register, and what is kept besides."""

    line: int
    digest: str
    new: NewComplaint
    notes: tuple[str, ...] = ()
    cut: bool = False
    default_category: bool = False
    # The outcome cell and what it was taken as, when not a word the mapping lists.
    outcome_by_default: tuple[str, str] | None = None


# --- one row ----------------------------------------------------------------------------


class Converter:
    """Turns one row into a complaint with the mapping, by the API's rules."""

    def __init__(
        self,
        mapping: Mapping,
        config: IntakeConfig,
        staff: str,
        now: datetime,
        tenant: str = DEFAULT_TENANT,
    ) -> None:
        self.tenant = tenant
        self.m = mapping
        self.config = config
        self.staff = staff
        self.now = now
        self.tz = ZoneInfo(config.timezone)
        if mapping.category is None and mapping.default_category is None:
            raise MappingError(
                f"mapping {mapping.name!r} names no category column and no default: "
                "give one with --default-category (GET /categories lists them)"
            )

    def __call__(self, line: int, row: dict[str, str]) -> Ready:
        m = self.m
        cell = _cells(row)
        # Checked in the order of the API's fields: a row is refused for its first problem.
        at = self.now if m.time is None else self._time(cell(m.time), m.time, required=True)
        assert at is not None
        caller = self._caller(cell)
        channel = self._word(cell, m.channel, Channel, m.default_channel)
        category, by_default = self._category(cell)
        severity = self._word(cell, m.severity, Severity, m.default_severity)
        nature = self._word(cell, m.nature, Nature, m.default_nature)
        description, notes = self._description(cell)
        cut = bool(notes)
        location = self._location(cell)
        occurred = self._time(cell(m.occurred_at), m.occurred_at) if m.occurred_at else None
        state, outcome_by_default = self._outcome(cell)
        reply = clean_text(" \n\n".join(filter(None, (cell(c) for c in m.reply))))
        closed_at = None
        if state == State.CLOSED:
            if m.closed_at:
                closed_at = self._time(cell(m.closed_at), m.closed_at)
                if closed_at is not None and closed_at < at:
                    raise RowError(m.closed_at, "closed before it came in", "closed before")
            if len(reply) > self.config.description_max:
                reply, rest = self._cut(reply)
                notes += _notes("答复 Reply", rest)
                cut = True
        elif reply:
            # Open in the older system, with an answer so far: kept for whoever takes it.
            notes += _notes("原系统答复 Earlier reply", reply, first=True)
            reply = ""
        department = cell(m.department) if m.department else ""
        department = m.departments.get(department, department)
        if len(department) > 64:
            raise RowError(m.department or "", "longer than 64 characters", "too long")
        new = NewComplaint(
            tenant=self.tenant,
            customer_key=customer_key(self.tenant, caller["key"]) if caller["key"] else None,
            customer_phone=caller["phone"],
            customer_ref=caller["ref"],
            customer_name=caller["name"],
            customer_extension=caller["extension"],
            customer_textable=caller["textable"],
            anonymous=caller["key"] is None,
            channel=channel,
            category=category,
            severity=severity,
            nature=nature,
            strong_emotion=bool(m.strong_emotion) and cell(m.strong_emotion).lower() in _TRUE,
            description=description,
            occurred_at=occurred,
            location=location,
            registered_at=at,
            registered_by=self.staff,
            registered_by_role=Role.SYSTEM,
            external_id=self._short(cell, m.external_id),
            imported=True,
            imported_state=state,
            imported_resolution=reply or None,
            imported_department=department or None,
            imported_closed_at=closed_at,
        )
        return Ready(
            line,
            row_hash(row),
            new,
            notes,
            cut=cut,
            default_category=by_default,
            outcome_by_default=outcome_by_default,
        )

    def _time(self, raw: str, column: str | None, *, required: bool = False) -> datetime | None:
        if not raw:
            if required:
                raise RowError(column or "", "empty: when did it come in?", "empty")
            return None
        try:
            value = read_time(raw, self.tz, self.m.time_format)
        except BadTime as exc:
            raise RowError(column or "", f"{exc}: {raw!r}", str(exc).split(":")[0]) from None
        if value > self.now:
            raise RowError(column or "", f"in the future: {raw!r}", "in the future")
        return value

    def _cut(self, text: str) -> tuple[str, str]:
        """The text cut to what intake takes, with a mark that says so, and the rest."""
        mark = CUT.format(n=len(text))
        keep = self.config.description_max - len(mark)
        return text[:keep].rstrip() + mark, text[keep:]

    def _description(self, cell: Any) -> tuple[str, tuple[str, ...]]:
        m = self.m
        subject = clean_text(" ".join(filter(None, (cell(c) for c in m.subject))))
        detail = clean_text("\n\n".join(filter(None, (cell(c) for c in m.text))))
        text = f"{subject}\n\n{detail}" if subject and detail else subject or detail
        column = (m.text or m.subject)[0]
        if not text:
            raise RowError(column, "empty: the complaint has no text", "empty")
        if len(text) < self.config.description_min:
            least = self.config.description_min
            raise RowError(column, f"too short: at least {least} characters", "too short")
        if len(text) <= self.config.description_max:
            return text, ()
        kept, rest = self._cut(text)
        return kept, _notes("原文 Text", rest)

    def _location(self, cell: Any) -> str | None:
        column = self.m.location
        location = clean_location(cell(column)) if column else None
        problem = location_problem(location)
        if problem:
            raise RowError(column or "", problem, "too long")
        return location

    def _category(self, cell: Any) -> tuple[str, bool]:
        m = self.m
        raw = cell(m.category) if m.category else ""
        if not raw:
            if m.default_category is None:
                raise RowError(
                    m.category or "category",
                    "empty, and no default category (--default-category)",
                    "empty",
                )
            return m.default_category, True
        categories = tenant_of(self.tenant).taxonomy()
        found = m.categories.get(raw) or categories.find(raw)
        if found is None:
            raise RowError(
                m.category or "category",
                f"unknown category {raw!r}; allowed: {', '.join(categories.ids)} "
                "(or their labels; a mapping's [categories] table translates others)",
                "unknown category",
            )
        return found if isinstance(found, str) else found.id, False

    def _caller(self, cell: Any) -> dict[str, Any]:
        m = self.m
        phone_raw = cell(m.phone) if m.phone else ""
        ref = cell(m.caller_id) if m.caller_id else ""
        name = cell(m.caller_name) if m.caller_name else ""
        if len(ref) > 64:
            raise RowError(m.caller_id or "", "longer than 64 characters", "too long")
        if len(name) > 64:
            raise RowError(m.caller_name or "", "longer than 64 characters", "too long")
        found: dict[str, Any] = {
            "key": None,
            "phone": None,
            "ref": ref or None,
            "name": name or None,
            "extension": None,
            "textable": False,
        }
        if phone_raw:
            try:
                phone = parse_phone(phone_raw, region=self.config.default_region)
            except InvalidPhone as exc:
                raise RowError(m.phone or "", f"{exc}: {phone_raw!r}", str(exc)) from None
            found |= {
                "key": phone.e164,
                "phone": phone.e164,
                "extension": phone.extension,
                "textable": phone.textable,
            }
        elif ref:
            found["key"] = REF_PREFIX + ref
        return found

    def _outcome(self, cell: Any) -> tuple[State | None, tuple[str, str] | None]:
        """`closed` or None (live work), and the cell and what it was taken as when it
        was not a word the mapping lists."""
        m = self.m
        if not m.outcome:
            return m.default_outcome, None
        raw = cell(m.outcome)
        word = raw.casefold()
        if word and word in m.closed_words:
            return State.CLOSED, None
        if word and word in m.open_words:
            return None, None
        if word and m.other_outcome == "refuse":
            closed = "/".join(sorted(m.closed_words)[:4])
            still = "/".join(sorted(m.open_words)[:4])
            raise RowError(
                m.outcome,
                f"{raw!r} says neither closed ({closed}, …) nor open ({still}, …); "
                "a mapping's [outcomes] table says what the file's words mean",
                "outcome not understood",
            )
        state = m.default_outcome
        if word:
            state = State.CLOSED if m.other_outcome == "closed" else None
        return state, (raw, "closed" if state == State.CLOSED else "open")

    def _word(self, cell: Any, column: str | None, words: type[W], default: W) -> W:
        raw = cell(column) if column else ""
        if not raw:
            return default
        found = words.of(raw) or next(
            (w for w in words if raw.casefold() in (w.zh.casefold(), w.en.casefold())), None
        )
        if found is None:
            raise RowError(
                column or "",
                f"{raw!r} is not one of {', '.join(words)}",
                f"not one of {', '.join(words)}",
            )
        return found

    def _short(self, cell: Any, column: str | None) -> str | None:
        raw = cell(column) if column else ""
        if len(raw) > 64:
            raise RowError(column or "", "longer than 64 characters", "too long")
        return raw or None


def _cells(row: dict[str, str]) -> Any:
    def cell(column: str | None) -> str:
        return (row.get(column) or "").strip() if column else ""

    return cell


def _notes(what: str, text: str, *, first: bool = False) -> tuple[str, ...]:
    """`text` as notes, each within what a note holds, saying what they continue."""
    head = f"【{what}】\n" if first else CONTINUED.format(what=what)
    size = NOTE_MAX - len(head)
    text = text.strip()
    return tuple(head + text[i : i + size] for i in range(0, len(text), size))


# --- the file ---------------------------------------------------------------------------


def row_hash(row: dict[str, str]) -> str:
    canonical = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line as a spreadsheet numbers it, row): the header is line 1 and the first row
    line 2, however many lines of the file a long text spans. A BOM is fine."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for index, row in enumerate(csv.DictReader(fh)):
            yield index + 2, {k: v for k, v in row.items() if k is not None}


def resolve_mapping(
    *, preset_name: str | None = None, mapping: Mapping | Path | str | None = None
) -> Mapping:
    if isinstance(mapping, Mapping):
        return mapping
    if mapping is not None:
        return load_mapping(Path(mapping))
    return preset(preset_name or "generic")


def import_rows(
    db: Database,
    rows: Iterable[tuple[int, dict[str, str]]],
    *,
    preset: str | None = None,
    mapping: Mapping | Path | str | None = None,
    source: str,
    staff: str = "import",
    config: IntakeConfig | None = None,
    default_category: str | None = None,
    default_outcome: str | None = None,
    lanes: int = 4,
    batch_size: int = 200,
    dry_run: bool = False,
    progress: bool = True,
    now: datetime | None = None,
    tenant: str = DEFAULT_TENANT,
) -> Summary:
    """Convert every row, then store the good ones oldest first; raises MappingError
    when the mapping does not fit the file (no row is stored then)."""
    config = config or get_config()
    now = now or utcnow()
    chosen = resolve_mapping(preset_name=preset, mapping=mapping).with_defaults(
        category=default_category, outcome=default_outcome
    )
    rows = list(rows)
    if rows:
        chosen = chosen.check_header(list(rows[0][1]))
    tenant_of(tenant)  # an unknown client: UnknownTenant before any row is read
    convert = Converter(chosen, config, staff, now, tenant)
    summary = Summary(no_time_column=chosen.time is None)
    ready: list[Ready] = []
    for line, row in rows:
        summary.rows += 1
        try:
            ready.append(convert(line, row))
        except RowError as exc:
            value = _cells(row)(exc.field)
            summary.rejected.append(
                Rejected(line, exc.field, exc.reason, exc.kind, value[:40] if value else "")
            )
    # Oldest first: each customer's file then reads as it did at the time.
    ready.sort(key=lambda item: (item.new.registered_at, item.line))
    if dry_run:
        for item in ready:
            _count(summary, item)
        return summary
    box = Outbox(outbox_table, lanes=lanes)
    actor = Actor(id=staff, role=Role.SYSTEM)
    bar = tqdm(total=len(ready), unit="row", desc="importing", disable=not progress)
    for start in range(0, len(ready), batch_size):
        batch = ready[start : start + batch_size]
        with db.transaction() as session:
            for item in batch:
                try:
                    with session.begin_nested():
                        complaint_id = str(uuid.uuid4())
                        if not service.claim_import_row(
                            session,
                            source=source,
                            row_hash=item.digest,
                            complaint_id=complaint_id,
                            now=utcnow(),
                        ):
                            summary.already_imported += 1
                            continue
                        body = store_complaint(
                            session, box, item.new, config, complaint_id=complaint_id
                        ).body
                        stored = SimpleNamespace(
                            id=body["id"], reference=body["reference"], tenant=body["tenant"]
                        )
                        for text in item.notes:
                            note = NoteCreate(text=text, source=NoteSource.IMPORT)
                            store_note(session, box, stored, note, actor=actor, now=utcnow())
                        _count(summary, item)
                except Exception as exc:  # the row's savepoint is rolled back; the rest go on
                    summary.rejected.append(
                        Rejected(item.line, "(database)", f"{type(exc).__name__}: {exc}")
                    )
        bar.update(len(batch))
    bar.close()
    summary.rejected.sort(key=lambda r: r.line)
    return summary


def _count(summary: Summary, item: Ready) -> None:
    summary.accepted += 1
    if item.new.imported_state == State.CLOSED:
        summary.closed += 1
    else:
        summary.open += 1
    summary.anonymous += item.new.anonymous
    summary.cut += item.cut
    summary.default_category += item.default_category
    if item.outcome_by_default is not None:
        summary.outcome_by_default[item.outcome_by_default] += 1


def print_summary(summary: Summary, out: Any = sys.stdout, examples: int = 3) -> None:
    print(
        f"{summary.rows} rows: {summary.accepted} imported ({summary.closed} closed as they "
        f"were in the older system, {summary.open} open: live work now), "
        f"{summary.already_imported} already imported before, {len(summary.rejected)} rejected",
        file=out,
    )
    if summary.no_time_column:
        print("  no time column: every row is registered at the time of this import", file=out)
    if summary.outcome_by_default:
        seen = ", ".join(
            f"{repr(value) if value else 'empty'} as {taken} ×{n}"
            for (value, taken), n in summary.outcome_by_default.most_common(5)
        )
        total = sum(summary.outcome_by_default.values())
        print(
            f"  {total} rows' outcome was empty, or in words the mapping does not list: {seen}",
            file=out,
        )
    if summary.default_category:
        print(
            f"  {summary.default_category} rows without a category were filed under the "
            "default category",
            file=out,
        )
    if summary.anonymous:
        print(f"  {summary.anonymous} rows name no caller: registered anonymous", file=out)
    if summary.cut:
        print(
            f"  {summary.cut} texts were longer than intake takes: cut, marked so, and the "
            "rest kept as notes on the complaint",
            file=out,
        )
    if not summary.rejected:
        return
    groups: dict[tuple[str, str], list[Rejected]] = defaultdict(list)
    for r in summary.rejected:
        groups[(r.field, r.kind or r.reason)].append(r)
    print("rejected rows, by reason (--json lists every one):", file=out)
    for (column, kind), found in sorted(groups.items(), key=lambda g: -len(g[1])):
        shown = ", ".join(
            f"line {r.line}" + (f" {r.value!r}" if r.value else "") for r in found[:examples]
        )
        more = ", …" if len(found) > examples else ""
        print(f"  {len(found):6d}  {column}: {kind}  ({shown}{more})", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.intake.importer",
        description="Import complaints from a CSV export into the intake service.",
    )
    parser.add_argument("file", type=Path, nargs="?")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--preset", choices=sorted(presets()), help="a mapping shipped with intake")
    which.add_argument("--mapping", type=Path, help="a mapping file of your own (TOML or JSON)")
    parser.add_argument(
        "--default-category", help="for rows without a category (a category id or label)"
    )
    parser.add_argument(
        "--default-outcome",
        choices=("closed", "open"),
        help="rows the file does not mark: closed history (the presets' default) or live work",
    )
    parser.add_argument("--staff", default="import", help="recorded as who registered them")
    parser.add_argument(
        "--tenant",
        default=DEFAULT_TENANT,
        help="the client the complaints were made to (TENANTS_FILE); left out: the default one",
    )
    parser.add_argument(
        "--source", help="names this import for re-runs (default: the mapping and file name)"
    )
    parser.add_argument("--dry-run", action="store_true", help="check every row, store nothing")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--list-presets", action="store_true", help="show the presets and stop")
    args = parser.parse_args(argv)
    if args.list_presets:
        for name in presets():
            print(f"{name}: {preset(name).description}")
        return 0
    if args.file is None or not args.file.is_file():
        parser.error(f"no such file: {args.file}")
    try:
        mapping = resolve_mapping(preset_name=args.preset, mapping=args.mapping)
    except MappingError as exc:
        parser.error(str(exc))
    settings = Settings()
    db = database_for("intake", settings)
    try:
        summary = import_rows(
            db,
            read_rows(args.file),
            mapping=mapping,
            source=(args.source or f"{mapping.name}:{args.file.name}")[:64],
            staff=args.staff,
            tenant=args.tenant,
            default_category=args.default_category,
            default_outcome=args.default_outcome,
            lanes=settings.outbox_lanes,
            dry_run=args.dry_run,
            progress=not args.json and sys.stderr.isatty(),
        )
    except (MappingError, UnknownTenant) as exc:
        print(f"nothing imported: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
    else:
        print_summary(summary)
    return 0 if not summary.rejected else 1


if __name__ == "__main__":
    sys.exit(main())
