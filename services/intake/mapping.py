"""How an older system's export maps onto a complaint: which column is the time, the text,
the category, the caller, the department, the outcome and the reply.

A mapping is a small TOML (or JSON) file, so any export can be imported without code;
the presets in services/intake/presets/ are mappings too. Every key but `text` may be
left out:

    description = "what the file is"

    [columns]
    time = "留言时间"                # when it came in; none: the time of the import
    time_format = "%d.%m.%Y %H:%M"  # only for an unusual format (strptime)
    subject = "留言主题"             # put before the text
    text = "留言详情"                # or several: ["问题现象", "原因分析"]
    category = "一级分类"            # a category id, or its Chinese or English label
    phone = "来电号码"               # the caller's phone, any spelling, landlines too
    caller_id = "留言用户"           # or the old system's id for the caller
    caller_name = "姓名"
    external_id = "留言编号"         # the complaint's id in the old system
    channel = "渠道"
    severity = "紧急程度"
    nature = "性质"
    strong_emotion = "情绪激动"
    occurred_at = "发生时间"
    location = "事发地址"            # where it happened: an estate, a street, a shop
    department = "承办单位"          # who handled it
    outcome = "办理状态"             # closed or still open
    reply = "答复内容"               # or several columns
    closed_at = "办结时间"

    [defaults]                       # for a column the file lacks, or a cell left empty
    category = "other"
    channel = "phone"
    severity = "normal"
    nature = "genuine"
    outcome = "closed"               # closed (history) or open (live work)

    [outcomes]                       # the outcome column's words; these replace the
    closed = ["是", "已办结"]         # usual ones (是/否, 已办结/办理中, closed/open, …)
    open = ["否", "办理中"]
    other = "refuse"                 # any other word: refuse the row, or "closed"/"open"

    [categories]                     # the file's words for categories, where they are
    "物流异常" = "delivery"            # not the taxonomy's labels

    [departments]                    # the file's names for departments → directory ids
    "城管局" = "urban_management"

Rows the file does not mark as open are history: they land closed (with their reply,
department and closing time), and only rows marked open become live work.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from shared.taxonomy import taxonomy
from shared.vocabulary import OPEN_STATES, Channel, Nature, Severity, State

PRESETS_DIR = Path(__file__).resolve().parent / "presets"

_COLUMNS = (
    "time",
    "time_format",
    "subject",
    "text",
    "category",
    "phone",
    "caller_id",
    "caller_name",
    "external_id",
    "channel",
    "severity",
    "nature",
    "strong_emotion",
    "occurred_at",
    "location",
    "department",
    "outcome",
    "reply",
    "closed_at",
)
_MANY = ("subject", "text", "reply")  # columns joined, in order, into one text
_DEFAULTS = ("category", "channel", "severity", "nature", "outcome")
_SECTIONS = ("columns", "defaults", "outcomes", "categories", "departments")

# What older systems write for "closed" and "still open" (compared case-blind).
CLOSED_WORDS = frozenset(
    {
        "closed", "close", "done", "resolved", "finished", "complete", "completed", "yes",
        "y", "true", "1", "是", "已办结", "办结", "已结", "结案", "已结案", "已解决",
        "已处理", "已关闭", "关闭", "已完成", "完成", State.CLOSED.zh,
    }
)  # fmt: skip
OPEN_WORDS = frozenset(
    {
        "open", "opened", "pending", "new", "in progress", "ongoing", "no", "n", "false",
        "0", "否", "未办结", "未结", "办理中", "处理中", "待处理", "未处理", "未解决",
        "进行中", "待办", "未完成",
    }
    # This platform's own states, for an export of another installation.
    | {state.value for state in OPEN_STATES}
    | {state.zh for state in OPEN_STATES}
)  # fmt: skip
OUTCOMES = {"closed": State.CLOSED, "open": None}


class MappingError(ValueError):
    """The mapping itself is wrong (a typo in a key, an unknown default): the whole file
    waits for it to be fixed, since every row would be read wrong."""


@dataclass(frozen=True)
class Mapping:
    name: str
    description: str = ""
    time: str | None = None
    time_format: str | None = None
    subject: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    category: str | None = None
    phone: str | None = None
    caller_id: str | None = None
    caller_name: str | None = None
    external_id: str | None = None
    channel: str | None = None
    severity: str | None = None
    nature: str | None = None
    strong_emotion: str | None = None
    occurred_at: str | None = None
    location: str | None = None
    department: str | None = None
    outcome: str | None = None
    reply: tuple[str, ...] = ()
    closed_at: str | None = None
    default_category: str | None = None
    default_channel: Channel = Channel.PHONE
    default_severity: Severity = Severity.NORMAL
    default_nature: Nature = Nature.GENUINE
    # None: rows the file does not mark stay closed history; "open": they become live work.
    default_outcome: State | None = State.CLOSED
    closed_words: frozenset[str] = CLOSED_WORDS
    open_words: frozenset[str] = OPEN_WORDS
    # What a word in neither list means: "refuse" the row, or take it as closed or open.
    other_outcome: str = "refuse"
    categories: MappingType[str, str] = field(default_factory=dict)
    departments: MappingType[str, str] = field(default_factory=dict)
    # The generic preset names every field the API has; a file may carry only some.
    columns_optional: bool = False

    def columns(self) -> list[str]:
        """Every column the mapping reads."""
        named: list[str] = []
        for key in _COLUMNS:
            if key == "time_format":
                continue
            value = getattr(self, key)
            named.extend(value if isinstance(value, tuple) else [value] if value else [])
        return named

    def check_header(self, header: list[str]) -> Mapping:
        """The mapping for a file with this header: a column it names that the file lacks
        is an error (a typo, or the wrong file), unless the mapping lets it be missing."""
        missing = [c for c in self.columns() if c not in header]
        if missing and not self.columns_optional:
            raise MappingError(
                f"the file has no column {', '.join(map(repr, missing))} that mapping "
                f"{self.name!r} names; its columns are: {', '.join(map(repr, header))}"
            )
        if not missing:
            return self
        kept: dict[str, Any] = {}
        for key in _COLUMNS:
            value = getattr(self, key)
            if key == "time_format":
                continue
            if isinstance(value, tuple):
                kept[key] = tuple(c for c in value if c in header)
            elif value is not None and value not in header:
                kept[key] = None
        if not kept.get("text", self.text) and not kept.get("subject", self.subject):
            raise MappingError(
                f"the file has none of the text columns {', '.join(map(repr, self.text))} "
                f"that mapping {self.name!r} reads; its columns are: "
                f"{', '.join(map(repr, header))}"
            )
        return _replace(self, kept)

    def with_defaults(self, *, category: str | None = None, outcome: str | None = None) -> Mapping:
        """This mapping with defaults given on the command line."""
        changes: dict[str, Any] = {}
        if category is not None:
            changes["default_category"] = _category_id(category, "--default-category")
        if outcome is not None:
            changes["default_outcome"] = _outcome(outcome, "--default-outcome")
        return _replace(self, changes)


def _replace(mapping: Mapping, changes: dict[str, Any]) -> Mapping:
    from dataclasses import replace

    return replace(mapping, **changes)


def _category_id(value: str, where: str) -> str:
    found = taxonomy().find(value)
    if found is None:
        raise MappingError(
            f"{where}: unknown category {value!r}; allowed: {', '.join(taxonomy().ids)}"
        )
    return found.id


def _outcome(value: str, where: str) -> State | None:
    key = value.strip().lower()
    if key not in OUTCOMES:
        raise MappingError(f"{where}: {value!r} is neither 'closed' nor 'open'")
    return OUTCOMES[key]


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise MappingError(f"{where}: a column name or a list of column names")


def _words(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise MappingError(f"{where}: a list of words")
    return frozenset(str(v).strip().casefold() for v in value)


def _table(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise MappingError(f"{where}: a table of the file's words and what they stand for")
    return {str(k).strip(): v.strip() for k, v in value.items()}


def mapping_from(data: MappingType[str, Any], name: str) -> Mapping:
    """A mapping from its parsed TOML or JSON; every mistake is named."""
    unknown = set(data) - {*_SECTIONS, "description", "name", "columns_optional"}
    if unknown:
        raise MappingError(f"unknown keys {sorted(unknown)}; the sections are {_SECTIONS}")
    fields: dict[str, Any] = {
        "name": str(data.get("name") or name),
        "description": str(data.get("description") or ""),
        "columns_optional": bool(data.get("columns_optional", False)),
    }
    columns = data.get("columns", {})
    if not isinstance(columns, dict):
        raise MappingError("[columns]: a table of column names")
    wrong = set(columns) - set(_COLUMNS)
    if wrong:
        raise MappingError(f"[columns]: unknown keys {sorted(wrong)}; known: {_COLUMNS}")
    for key, value in columns.items():
        if key in _MANY:
            fields[key] = _names(value, f"columns.{key}")
        elif not isinstance(value, str) or not value:
            raise MappingError(f"columns.{key}: a column name")
        else:
            fields[key] = value
    if not fields.get("text") and not fields.get("subject"):
        raise MappingError("columns.text: which column holds the complaint's text?")
    defaults = data.get("defaults", {})
    wrong = set(defaults) - set(_DEFAULTS)
    if not isinstance(defaults, dict) or wrong:
        raise MappingError(f"[defaults]: unknown keys {sorted(wrong)}; known: {_DEFAULTS}")
    for key, value in defaults.items():
        where = f"defaults.{key}"
        if not isinstance(value, str):
            raise MappingError(f"{where}: a word")
        if key == "category":
            fields["default_category"] = _category_id(value, where)
        elif key == "outcome":
            fields["default_outcome"] = _outcome(value, where)
        else:
            words = {"channel": Channel, "severity": Severity, "nature": Nature}[key]
            word = words.of(value)
            if word is None:
                raise MappingError(f"{where}: one of {', '.join(words)}")
            fields[f"default_{key}"] = word
    outcomes = data.get("outcomes", {})
    wrong = set(outcomes) - {"closed", "open", "other"}
    if not isinstance(outcomes, dict) or wrong:
        raise MappingError(f"[outcomes]: unknown keys {sorted(wrong)}; known: closed, open, other")
    if "closed" in outcomes:
        fields["closed_words"] = _words(outcomes["closed"], "outcomes.closed")
    if "open" in outcomes:
        fields["open_words"] = _words(outcomes["open"], "outcomes.open")
    if "other" in outcomes:
        if outcomes["other"] not in ("refuse", "closed", "open"):
            raise MappingError("outcomes.other: 'refuse', 'closed' or 'open'")
        fields["other_outcome"] = outcomes["other"]
    if "categories" in data:
        table = _table(data["categories"], "[categories]")
        fields["categories"] = {k: _category_id(v, f"categories.{k}") for k, v in table.items()}
    if "departments" in data:
        fields["departments"] = _table(data["departments"], "[departments]")
    return Mapping(**fields)


def load_mapping(path: Path) -> Mapping:
    """A mapping file: TOML (.toml) or JSON (.json)."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise MappingError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise MappingError(f"{path}: a table of sections")
    try:
        return mapping_from(data, path.stem)
    except MappingError as exc:
        raise MappingError(f"{path.name}: {exc}") from None


def presets() -> dict[str, Path]:
    """The mappings shipped with the service, by name."""
    return {path.stem: path for path in sorted(PRESETS_DIR.glob("*.toml"))}


def preset(name: str) -> Mapping:
    found = presets().get(name)
    if found is None:
        raise MappingError(f"no preset {name!r}; there are: {', '.join(presets())}")
    return load_mapping(found)


# --- reading what a cell says -----------------------------------------------------------

# 2020-03-18, 2020/3/18, 2020.3.18, 2020年3月18日, 20200318; then maybe a time: 08:00,
# 8:00:05, 08:00:05.123, 8时30分, and a zone (Z, +08:00).
_WHEN = re.compile(
    r"""^(?P<y>\d{4})
    (?:\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?|(?P<mm>\d{2})(?P<dd>\d{2}))
    (?:(?:\s+|T|(?<=日))(?P<H>\d{1,2})\s*[:：时]\s*(?P<M>\d{1,2})\s*分?
        (?:\s*[:：]?\s*(?P<S>\d{1,2})(?:[.,](?P<f>\d{1,6}))?\s*秒?)?)?
    \s*(?P<z>Z|[+-]\d{2}:?\d{2})?$""",
    re.VERBOSE,
)


class BadTime(ValueError):
    """Not a time we can read; the message says what was expected."""


def read_time(raw: str, tz: tzinfo, time_format: str | None = None) -> datetime:
    """A time as exports write it; without a zone it is the centre's local time."""
    text = raw.strip()
    if time_format:
        try:
            value = datetime.strptime(text, time_format)
        except ValueError:
            raise BadTime(f"not a time in the format {time_format!r}") from None
        return value if value.tzinfo else value.replace(tzinfo=tz)
    found = _WHEN.match(text)
    if found is None:
        raise BadTime("not a time: write it like 2020-03-18 08:00, 2020/3/18 or 2020年3月18日")
    parts = found.groupdict()
    try:
        value = datetime(
            int(parts["y"]),
            int(parts["m"] or parts["mm"]),
            int(parts["d"] or parts["dd"]),
            int(parts["H"] or 0),
            int(parts["M"] or 0),
            int(parts["S"] or 0),
            int((parts["f"] or "0").ljust(6, "0")),
        )
    except ValueError as exc:
        raise BadTime(f"not a real time ({exc})") from None
    if parts["z"]:
        return datetime.fromisoformat(value.isoformat() + _zone(parts["z"]))
    return value.replace(tzinfo=tz)


def _zone(raw: str) -> str:
    if raw == "Z":
        return "+00:00"
    return raw if ":" in raw else f"{raw[:3]}:{raw[3:]}"
