"""SMS templates: one TOML file per language (templates/zh-CN.toml, templates/en.toml),
which a centre edits. Each template is a text with `{placeholders}`; the variable parts
(a description, a resolution) are cut to fit `max_segments` parts, never mid-character,
and lists (of references) lose whole items, never half a reference.

A part of a template in square brackets is optional: it appears only when every
placeholder in it has a value, so "[，期限 {due}]" leaves no "期限 -" behind when there
is no deadline. `[[` and `]]` write a bracket itself.

A template that names an unknown placeholder, an unbalanced bracket, or a language file
that lacks a template, stops the service at start with the file and the name at fault.

A client of the centre may have templates of its own (`over`): each one it gives
replaces the centre's of that name, the others stay the centre's; its files are checked
at start like the centre's. Its categories are named by its own taxonomy.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from services.notify.text import Encoding, Length, capacity, clip, clip_list, cost, measure
from shared.taxonomy import Taxonomy, taxonomy
from shared.vocabulary import (
    Action,
    ClosureBlock,
    ExtensionDecision,
    PauseFor,
    ReturnReason,
    Severity,
    Stage,
    State,
    Word,
)

# Placeholders whose values are words of the shared vocabulary, printed by their label.
_WORDS: Mapping[str, type[Word]] = {
    "severity": Severity,
    "decision": ExtensionDecision,
    "waiting_on": PauseFor,
    "stage": Stage,
    "return_reason": ReturnReason,
    "blocked": ClosureBlock,
    "action": Action,
    "state": State,
}

# Messages to staff about one complaint: each may be held for a digest, where it is one
# line naming what it is ([labels.what] of the file gives that name).
NOTICES = (
    "staff_assigned",
    "staff_handed_over",
    "staff_returned",
    "staff_dispatched",
    "staff_transferred",
    "staff_urged",
    "staff_urged_overdue",
    "staff_escalated",
    "staff_escalated_overdue",
    "staff_extension_requested",
    "staff_extension_decided",
    "staff_replied",
    "staff_pause_requested",
    "staff_pause_decided",
    "staff_paused",
    "staff_resumed",
    "staff_merged",
    "staff_assist_dispatched",
    "staff_assist_contributed",
    "staff_assist_declined",
    "staff_assist_released",
    "staff_assist_urged",
    "staff_assist_overdue",
    "staff_reopened",
    "staff_reopened_unsatisfied",
    "staff_closure_blocked",
    "staff_notice",
    "staff_clerk_assigned",
)
# Every template the service sends; the default language must have all of them.
NAMES = (
    "customer_received",
    "customer_received_compliment",
    "customer_replied",
    "customer_conveyed",
    "customer_closed",
    "customer_merged",
    "customer_merged_outcome",
    "customer_opted_out",
    "customer_opted_in",
    *NOTICES,
    "staff_shift_handover",
    "staff_hot_issue",
    "staff_digest",
    "staff_digest_item",
    "staff_ack_confirmed",
    "staff_ack_which",
    "staff_ack_none",
)

# What a template may name. The variable texts (last group) are cut when too long.
FIXED_FIELDS = frozenset(
    {
        "urgent",
        "reference",
        "severity",
        "category",
        "customer_phone",
        "customer_name",
        "department",
        "from_department",
        "due",
        "until",
        "at",
        "late",
        "decision",
        "stage",
        "return_reason",
        "blocked",
        "action",
        "state",
        "level",
        "count",
        "urgent_count",
        "overdue_count",
        "reopen_count",
        "open_count",
        "part",
        "parts",
        "staff_name",
        "what",
        "link",
        "workbench",
        "ack_example",
        "imported",
        "callers",
        "complaints",
        "first_at",
        "waiting_on",
        "master_reference",
        "assist_department",
    }
)
CLIPPED_FIELDS = (
    "contribution",
    "description",
    "summary",
    "resolution",
    "reason",
    "instructions",
    "detail",
    "references",
    "items",
    "label",
)
FIELDS = FIXED_FIELDS | frozenset(CLIPPED_FIELDS)


# What a text cut to nothing is left with.
ELLIPSES = "…. "


class TemplateError(ValueError):
    """A template file a centre edited cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Listed:
    """A list a template prints joined (references, digest lines): when it is too long,
    whole items are left out and "…" says so."""

    items: tuple[str, ...]
    separator: str = ", "

    def __str__(self) -> str:
        return self.separator.join(self.items)


@dataclass(frozen=True)
class Rendered:
    template: str
    language: str
    text: str
    length: Length

    @property
    def encoding(self) -> Encoding:
        return self.length.encoding

    @property
    def segments(self) -> int:
        return self.length.segments


def _placeholders(text: str, where: str) -> list[str]:
    names = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"{where}: {exc}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS or spec or conversion:
            allowed = ", ".join(sorted(FIELDS))
            raise TemplateError(f"{where}: unknown placeholder {{{name}}}; allowed: {allowed}")
        names.append(name)
    return names


@dataclass(frozen=True)
class Part:
    """A run of a template: always there, or (in brackets) only when its values are."""

    text: str  # a format string
    optional: bool
    names: frozenset[str]


@dataclass(frozen=True)
class Template:
    name: str
    parts: tuple[Part, ...]

    @classmethod
    def parse(cls, name: str, text: str, where: str) -> Template:
        parts: list[Part] = []
        run: list[str] = []
        optional = False

        def close(is_optional: bool) -> None:
            chunk = "".join(run)
            names = frozenset(_placeholders(chunk, where))
            if is_optional and not names:
                raise TemplateError(
                    f"{where}: the optional part [{chunk}] names no placeholder, so it would "
                    "always show; write it without brackets"
                )
            if chunk:
                parts.append(Part(chunk, is_optional, names))
            run.clear()

        i = 0
        while i < len(text):
            ch = text[i]
            if ch in "[]" and text[i + 1 : i + 2] == ch:  # [[ or ]]: the bracket itself
                run.append(ch)
                i += 2
                continue
            if ch == "[":
                if optional:
                    raise TemplateError(f"{where}: an optional part [...] cannot hold another")
                close(False)
                optional = True
            elif ch == "]":
                if not optional:
                    raise TemplateError(f"{where}: a ] without its [ (write ]] for a bracket)")
                close(True)
                optional = False
            else:
                run.append(ch)
            i += 1
        if optional:
            raise TemplateError(f"{where}: a [ is never closed (write [[ for a bracket)")
        close(False)
        return cls(name, tuple(parts))

    def source(self, present: frozenset[str] | set[str]) -> str:
        """The format string with the optional parts whose values are all present."""
        return "".join(p.text for p in self.parts if not p.optional or p.names <= present)

    @property
    def names(self) -> frozenset[str]:
        return frozenset().union(*(p.names for p in self.parts))


@dataclass(frozen=True)
class Language:
    code: str
    texts: Mapping[str, Template]
    labels: Mapping[str, Mapping[str, str]]


def _missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, Listed):
        return not value.items
    return isinstance(value, str) and not value.strip()


def _read(directory: Path) -> dict[str, Language]:
    """Every <language>.toml of a directory, each template parsed and checked."""
    languages: dict[str, Language] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise TemplateError(f"{path}: {exc}") from None
        texts: dict[str, Template] = {}
        for name, entry in (data.get("templates") or {}).items():
            text = entry.get("text") if isinstance(entry, dict) else entry
            if not isinstance(text, str) or not text.strip():
                raise TemplateError(f"{path} [templates.{name}]: needs a non-empty text")
            if name not in NAMES:
                raise TemplateError(
                    f"{path} [templates.{name}]: no such template; known: {', '.join(NAMES)}"
                )
            text = " ".join(text.split()) if "\n" in text.strip() else text.strip()
            texts[name] = Template.parse(name, text, f"{path} [templates.{name}]")
        labels = {
            group: {str(k): str(v) for k, v in values.items()}
            for group, values in (data.get("labels") or {}).items()
            if isinstance(values, dict)
        }
        languages[path.stem] = Language(path.stem, texts, labels)
    return languages


class Templates:
    def __init__(
        self,
        languages: Mapping[str, Language],
        default: str,
        categories: Callable[[], Taxonomy] = taxonomy,
    ) -> None:
        if default not in languages:
            raise TemplateError(
                f"no templates for the default language {default!r} "
                f"(found: {', '.join(sorted(languages)) or 'none'})"
            )
        missing = [n for n in NAMES if n not in languages[default].texts]
        if missing:
            raise TemplateError(f"{default}.toml lacks templates: {', '.join(missing)}")
        unnamed = [n for n in NOTICES if n not in languages[default].labels.get("what", {})]
        if unnamed:
            raise TemplateError(
                f"{default}.toml [labels.what] lacks the name a digest gives: {', '.join(unnamed)}"
            )
        self.languages = dict(languages)
        self.default = default
        self.categories = categories

    @classmethod
    def load(cls, directory: Path, default: str) -> Templates:
        return cls(_read(directory), default)

    def over(
        self, directory: Path | None, categories: Callable[[], Taxonomy] | None = None
    ) -> Templates:
        """These templates with a client's own in `directory` (<language>.toml) in place
        of the same names, and its categories; a label it gives replaces the centre's."""
        own: dict[str, Language] = {}
        if directory is not None:
            if not directory.is_dir():
                raise TemplateError(f"{directory}: no such directory of templates")
            own = _read(directory)
            if not own:
                raise TemplateError(f"{directory}: holds no <language>.toml")
        languages = dict(self.languages)
        for code, theirs in own.items():
            base = self.languages.get(code, Language(code, {}, {}))
            groups = set(base.labels) | set(theirs.labels)
            languages[code] = Language(
                code,
                {**base.texts, **theirs.texts},
                {g: {**base.labels.get(g, {}), **theirs.labels.get(g, {})} for g in groups},
            )
        return Templates(languages, self.default, categories or self.categories)

    def language_for(self, wanted: str | None) -> str:
        return wanted if wanted in self.languages else self.default

    def label(self, language: str, group: str, value: str | None) -> str | None:
        """A value's label in a language (`urgent` → 特急), the value itself if it has
        none, or None for no value (an optional part then drops out). Vocabulary words
        and categories read as the vocabulary and the taxonomy name them everywhere; the
        files' [labels] hold only the SMS's own words."""
        if value is None or value == "":
            return None
        if group in _WORDS:
            word = _WORDS[group].of(value)
            return word.label(language) if word is not None else value
        if group == "category":
            category = self.categories().get(value)
            return category.label(language) if category is not None else value
        for code in (language, self.default):
            found = self.languages[code].labels.get(group, {}).get(value)
            if found is not None:
                return found
        return value

    def template(self, name: str, language: str) -> tuple[str, Template]:
        """The template in `language`, or in the default language if that file lacks it."""
        language = self.language_for(language)
        found = self.languages[language].texts.get(name)
        if found is None:
            language = self.default
            found = self.languages[language].texts[name]
        return language, found

    def render(
        self,
        name: str,
        language: str,
        fields: Mapping[str, object],
        *,
        max_segments: int,
        sign_name: str = "",
    ) -> Rendered:
        """The message in `language` (or the default), without the optional parts whose
        values are missing, its variable texts cut so the whole stays within
        `max_segments` parts."""
        language, template = self.template(name, language)
        present = {k for k in FIELDS if not _missing(fields.get(k))}
        text = template.source(present)
        values = {k: str(fields[k]) if k in present else "" for k in FIELDS}
        full = sign_name + text.format_map(values)
        length = measure(full)
        if length.segments <= max_segments:
            return Rendered(name, language, full, length)
        while True:
            cut = [f for f in CLIPPED_FIELDS if "{" + f + "}" in text and f in present]
            fixed = measure(sign_name + text.format_map({**values, **dict.fromkeys(cut, "")}))
            budget = capacity(length.encoding, max_segments) - fixed.units
            texts = {f: fields[f] for f in cut}
            clipped = _share(texts, budget, length.encoding, text.count)
            # A text with no room left is missing, like one never given: its optional
            # part goes, rather than "：…。" standing for it.
            squeezed = {f for f, v in clipped.items() if not v.strip(ELLIPSES)}
            if not squeezed or text == (shorter := template.source(present - squeezed)):
                break
            present -= squeezed
            text = shorter
        final = sign_name + text.format_map({**values, **clipped})
        return Rendered(name, language, final, measure(final))


def _share(
    texts: Mapping[str, object], budget: int, encoding: Encoding, uses: Callable[[str], int]
) -> dict[str, str]:
    """Split the room among the variable texts: short ones keep all they need, the
    rest share what is left equally (a text the template uses twice costs twice)."""
    out: dict[str, str] = {}
    remaining = max(budget, 0)
    pending = sorted(texts, key=lambda f: len(str(texts[f])))
    while pending:
        field = pending.pop(0)
        times = max(1, uses("{" + field + "}"))
        share = remaining // (len(pending) + 1) // times
        value = texts[field]
        if isinstance(value, Listed):
            out[field] = clip_list(value.items, value.separator, share, encoding)
        else:
            out[field] = clip(str(value), share, encoding)
        remaining -= cost(out[field], encoding) * times
    return out
