"""Load complaints from a CSV file: migration from an older system, or demo data.

    python -m services.intake.importer FILE [--preset generic|gov-messages] [--dry-run]

Every row is checked with the same rules as `POST /complaints`, stored with its
`complaint.received` event in the same transaction, and remembered by a hash of its
content, so importing the same file twice adds nothing. Rows that fail are reported
with their line number, the field and the reason; the others still land.

Presets:
- `generic`: columns named like the API fields — customer_phone (or customer_ref),
  customer_name, channel, category, severity, nature, strong_emotion, description,
  occurred_at, registered_at, external_id. Missing optional columns take the API
  defaults; registered_at defaults to now.
- `gov-messages`: a 12345 government hotline's web messages — 留言编号 (id), 留言用户
  (citizen id), 留言主题 (subject), 留言时间 (local time), 留言详情 (text), 一级分类
  (first-level class, by its Chinese label).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, Field, ValidationError, model_validator
from tqdm import tqdm

from services.intake.complaints import service
from services.intake.complaints.flows import store_complaint
from services.intake.complaints.models import ComplaintCreate, clean_text
from services.intake.complaints.registration import NewComplaint
from services.intake.config import IntakeConfig, get_config
from services.intake.db import outbox as outbox_table
from shared.clock import utcnow
from shared.db import Database, database_for
from shared.outbox import Outbox
from shared.settings import Settings
from shared.taxonomy import taxonomy
from shared.vocabulary import Channel, Nature, Severity

csv.field_size_limit(10_000_000)


class RowError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Rejected:
    line: int
    field: str
    reason: str


@dataclass
class Summary:
    rows: int = 0
    accepted: int = 0
    already_imported: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "accepted": self.accepted,
            "already_imported": self.already_imported,
            "rejected": len(self.rejected),
            "rejections": [r.__dict__ for r in self.rejected],
        }


def _local_time(raw: str, field_name: str, tz: ZoneInfo) -> datetime:
    text = raw.strip()
    for fmt in ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise RowError(field_name, f"not a time: {raw!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=tz)


def _description(text: str, config: IntakeConfig, field_name: str = "description") -> str:
    text = clean_text(text)
    if len(text) < config.description_min:
        raise RowError(field_name, f"too short: at least {config.description_min} characters")
    if len(text) > config.description_max:
        raise RowError(field_name, f"too long: at most {config.description_max} characters")
    return text


def gov_messages(row: dict[str, str], staff: str, config: IntakeConfig) -> NewComplaint:
    tz = ZoneInfo(config.timezone)
    external_id = (row.get("留言编号") or "").strip() or None
    user = (row.get("留言用户") or "").strip()
    if not user:
        raise RowError("留言用户", "empty: every message needs its citizen id")
    label = (row.get("一级分类") or "").strip()
    category = taxonomy().find(label) if label else None
    if category is None:
        raise RowError("一级分类", f"unknown class {label!r}; allowed: {', '.join(taxonomy().ids)}")
    subject = clean_text(row.get("留言主题") or "")
    detail = clean_text(row.get("留言详情") or "")
    text = f"{subject}\n\n{detail}" if subject and detail else subject or detail
    at = _local_time(row.get("留言时间") or "", "留言时间", tz)
    return NewComplaint(
        customer_key=f"ref:{user}",
        customer_phone=None,
        customer_ref=user,
        customer_name=None,
        channel=Channel.WEB,
        category=category.id,
        severity=Severity.NORMAL,
        nature=Nature.GENUINE,
        strong_emotion=False,
        description=_description(text, config, "留言详情"),
        occurred_at=None,
        registered_at=at,
        registered_by=staff,
        registered_by_role="system",
        external_id=external_id,
        imported=True,
    )


class GenericRow(ComplaintCreate):
    """A row of the generic preset: the API's fields, and a customer known by phone or
    by an older system's id."""

    model_config = ConfigDict(extra="ignore")

    customer_phone: str | None = None
    customer_ref: str | None = Field(default=None, max_length=64)
    external_id: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _someone(self) -> GenericRow:
        if not self.customer_phone and not self.customer_ref:
            raise ValueError("customer_phone or customer_ref is needed")
        return self


def generic(row: dict[str, str], staff: str, config: IntakeConfig) -> NewComplaint:
    tz = ZoneInfo(config.timezone)
    fields: dict[str, Any] = {k: v.strip() for k, v in row.items() if v is not None and v.strip()}
    if "strong_emotion" in fields:
        fields["strong_emotion"] = fields["strong_emotion"].lower() in {"1", "true", "yes", "是"}
    if "occurred_at" in fields:
        fields["occurred_at"] = _local_time(fields["occurred_at"], "occurred_at", tz)
    registered = fields.pop("registered_at", None)
    at = _local_time(registered, "registered_at", tz) if registered else utcnow()
    try:
        data = GenericRow(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "(row)"
        raise RowError(name, str(first["msg"]).removeprefix("Value error, ")) from None
    return NewComplaint(
        customer_key=data.customer_phone or f"ref:{data.customer_ref}",
        customer_phone=data.customer_phone,
        customer_ref=data.customer_ref,
        customer_name=data.customer_name,
        channel=data.channel,
        category=data.category,
        severity=data.severity,
        nature=data.nature,
        strong_emotion=data.strong_emotion,
        description=data.description,
        occurred_at=data.occurred_at,
        registered_at=at,
        registered_by=staff,
        registered_by_role="system",
        external_id=data.external_id,
        imported=True,
    )


PRESETS: dict[str, Callable[[dict[str, str], str, IntakeConfig], NewComplaint]] = {
    "generic": generic,
    "gov-messages": gov_messages,
}


def row_hash(row: dict[str, str]) -> str:
    canonical = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number of the row's first line, row); a BOM is fine."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        line = reader.line_num + 1
        for row in reader:
            yield line, {k: v for k, v in row.items() if k is not None}
            line = reader.line_num + 1


def import_rows(
    db: Database,
    rows: Iterable[tuple[int, dict[str, str]]],
    *,
    preset: str,
    source: str,
    staff: str = "import",
    config: IntakeConfig | None = None,
    lanes: int = 4,
    batch_size: int = 200,
    dry_run: bool = False,
    progress: bool = True,
) -> Summary:
    config = config or get_config()
    convert = PRESETS[preset]
    summary = Summary()
    ready: list[tuple[int, str, NewComplaint]] = []
    for line, row in rows:
        summary.rows += 1
        try:
            ready.append((line, row_hash(row), convert(row, staff, config)))
        except RowError as exc:
            summary.rejected.append(Rejected(line, exc.field, exc.reason))
    # Oldest first: each customer's file then reads as it did at the time.
    ready.sort(key=lambda item: (item[2].registered_at, item[0]))
    if dry_run:
        summary.accepted = len(ready)
        return summary
    box = Outbox(outbox_table, lanes=lanes)
    bar = tqdm(total=len(ready), unit="row", desc="importing", disable=not progress)
    for start in range(0, len(ready), batch_size):
        batch = ready[start : start + batch_size]
        with db.transaction() as session:
            for line, digest, new in batch:
                try:
                    with session.begin_nested():
                        complaint_id = str(uuid.uuid4())
                        if not service.claim_import_row(
                            session,
                            source=source,
                            row_hash=digest,
                            complaint_id=complaint_id,
                            now=utcnow(),
                        ):
                            summary.already_imported += 1
                            continue
                        store_complaint(session, box, new, config, complaint_id=complaint_id)
                        summary.accepted += 1
                except Exception as exc:  # the row's savepoint is rolled back; the rest go on
                    summary.rejected.append(
                        Rejected(line, "(database)", f"{type(exc).__name__}: {exc}")
                    )
        bar.update(len(batch))
    bar.close()
    summary.rejected.sort(key=lambda r: r.line)
    return summary


def print_summary(summary: Summary, out: Any = sys.stdout) -> None:
    print(
        f"{summary.rows} rows: {summary.accepted} imported, "
        f"{summary.already_imported} already imported before, {len(summary.rejected)} rejected",
        file=out,
    )
    if summary.rejected:
        reasons = Counter(f"{r.field}: {r.reason.split(';')[0]}" for r in summary.rejected)
        print("rejected rows:", file=out)
        for r in summary.rejected[:200]:
            print(f"  line {r.line}: {r.field}: {r.reason}", file=out)
        if len(summary.rejected) > 200:
            print(f"  … and {len(summary.rejected) - 200} more; by reason:", file=out)
            for reason, n in reasons.most_common():
                print(f"    {n:6d}  {reason}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.intake.importer",
        description="Import complaints from a CSV file into the intake service.",
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="generic")
    parser.add_argument("--staff", default="import", help="recorded as who registered them")
    parser.add_argument(
        "--source", help="names this import for re-runs (default: the preset and file name)"
    )
    parser.add_argument("--dry-run", action="store_true", help="check every row, store nothing")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        parser.error(f"no such file: {args.file}")
    settings = Settings()
    db = database_for("intake", settings)
    try:
        summary = import_rows(
            db,
            read_rows(args.file),
            preset=args.preset,
            source=(args.source or f"{args.preset}:{args.file.name}")[:64],
            staff=args.staff,
            lanes=settings.outbox_lanes,
            dry_run=args.dry_run,
            progress=not args.json and sys.stderr.isatty(),
        )
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
    else:
        print_summary(summary)
    return 0 if not summary.rejected else 1


if __name__ == "__main__":
    sys.exit(main())
