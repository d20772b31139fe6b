"""The tamper-evident history: how an entry is hashed and how a chain is checked.

Each entry's hash is SHA-256 over a canonical JSON encoding (sorted keys, no
whitespace, UTF-8, times in UTC as `2025-03-03T09:00:00.000000Z`) of its fields,
including the previous entry's hash; the first entry's previous hash is 64 zeros.
Change any stored field of any entry and its hash no longer matches; recompute that
hash too and the next entry no longer follows it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64

HASHED_FIELDS = (
    "complaint_id",
    "seq",
    "at",
    "actor_id",
    "actor_role",
    "action",
    "from_state",
    "to_state",
    "event_type",
    "event_id",
    "payload",
    "prev_hash",
)


def utc_text(at: datetime) -> str:
    """One spelling per instant, whatever zone it came in."""
    if at.utcoffset() is None:
        raise ValueError("history times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(entry: Mapping[str, Any]) -> bytes:
    document = {name: entry[name] for name in HASHED_FIELDS}
    document["at"] = utc_text(document["at"])
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    valid: bool
    first_bad_seq: int | None
    entries: int
    problem: str | None = None


def verify_chain(
    entries: Sequence[Mapping[str, Any]],
    *,
    last_seq: int | None = None,
    head: str | None = None,
) -> ChainReport:
    """Check a complaint's entries, in seq order, against each other and against what the
    complaint row says the last entry is (`last_seq`, `head`): that catches entries cut off
    the end, which the chain alone cannot show."""
    count = len(entries)

    def bad(seq: int, problem: str) -> ChainReport:
        return ChainReport(valid=False, first_bad_seq=seq, entries=count, problem=problem)

    previous = GENESIS
    for expected, entry in enumerate(entries, start=1):
        seq = int(entry["seq"])
        if seq != expected:
            return bad(expected, f"entry {expected} is missing")
        try:
            recomputed = entry_hash(entry)
        except (TypeError, ValueError) as exc:  # a payload that is no longer what we wrote
            return bad(seq, f"entry {seq} cannot be read back: {exc}")
        if recomputed != entry["hash"]:
            return bad(seq, f"entry {seq} was altered after it was written")
        if entry["prev_hash"] != previous:
            # This entry is intact, so the one before it was replaced, hash and all.
            if seq == 1:
                return bad(1, "entry 1 does not start the chain")
            return bad(seq - 1, f"entry {seq - 1} was replaced: entry {seq} does not follow it")
        previous = entry["hash"]
    if last_seq is not None and count < last_seq:
        return bad(count + 1, f"entries {count + 1} to {last_seq} are missing")
    if last_seq is not None and count > last_seq:
        return bad(last_seq + 1, f"entries after {last_seq} were never recorded as written")
    if head is not None and count and previous != head:
        return bad(count, f"entry {count} was replaced: it is not the entry the complaint recorded")
    return ChainReport(valid=True, first_bad_seq=None, entries=count)
