"""SMS templates: one TOML file per language (templates/zh-CN.toml, templates/en.toml),
which a centre edits. Each template is a text with `{placeholders}`; the variable parts
(a summary, a resolution) are cut to fit `max_segments` parts, never mid-character.

A template that names an unknown placeholder, or a language file that lacks a
template, stops the service at start with the file and the name at fault.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from services.notify.text import Encoding, Length, capacity, clip, measure
from shared.taxonomy import taxonomy
from shared.vocabulary import ExtensionDecision, Severity, Word

# Placeholders whose values are words of the shared vocabulary, printed by their label.
_WORDS: Mapping[str, type[Word]] = {"severity": Severity, "decision": ExtensionDecision}

# Every template the service sends; the default language must have all of them.
NAMES = (
    "customer_received",
    "customer_replied",
    "customer_closed",
    "customer_opted_out",
    "customer_opted_in",
    "staff_assigned",
    "staff_handed_over",
    "staff_shift_handover",
    "staff_returned",
    "staff_dispatched",
    "staff_urged",
    "staff_escalated",
    "staff_extension_requested",
    "staff_extension_decided",
    "staff_replied",
    "staff_reopened",
    "staff_notice",
    "staff_digest",
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
        "due",
        "until",
        "decision",
        "level",
        "count",
        "urgent_count",
        "overdue_count",
        "reopen_count",
        "staff_name",
        # A staff SMS's link to the complaint's page on the workbench (with its leading
        # space), or nothing.
        "link",
    }
)
CLIPPED_FIELDS = ("description", "summary", "resolution", "reason", "instructions", "references")
FIELDS = FIXED_FIELDS | frozenset(CLIPPED_FIELDS)


class TemplateError(ValueError):
    """A template file a centre edited cannot be used; the message says where and why."""


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
class Language:
    code: str
    texts: Mapping[str, str]
    labels: Mapping[str, Mapping[str, str]]


class Templates:
    def __init__(self, languages: Mapping[str, Language], default: str) -> None:
        if default not in languages:
            raise TemplateError(
                f"no templates for the default language {default!r} "
                f"(found: {', '.join(sorted(languages)) or 'none'})"
            )
        missing = [n for n in NAMES if n not in languages[default].texts]
        if missing:
            raise TemplateError(f"{default}.toml lacks templates: {', '.join(missing)}")
        self.languages = dict(languages)
        self.default = default

    @classmethod
    def load(cls, directory: Path, default: str) -> Templates:
        languages: dict[str, Language] = {}
        for path in sorted(directory.glob("*.toml")):
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise TemplateError(f"{path}: {exc}") from None
            texts: dict[str, str] = {}
            for name, entry in (data.get("templates") or {}).items():
                text = entry.get("text") if isinstance(entry, dict) else entry
                if not isinstance(text, str) or not text.strip():
                    raise TemplateError(f"{path} [templates.{name}]: needs a non-empty text")
                if name not in NAMES:
                    raise TemplateError(
                        f"{path} [templates.{name}]: no such template; known: {', '.join(NAMES)}"
                    )
                _placeholders(text, f"{path} [templates.{name}]")
                texts[name] = " ".join(text.split()) if "\n" in text.strip() else text.strip()
            labels = {
                group: {str(k): str(v) for k, v in values.items()}
                for group, values in (data.get("labels") or {}).items()
                if isinstance(values, dict)
            }
            languages[path.stem] = Language(path.stem, texts, labels)
        return cls(languages, default)

    def language_for(self, wanted: str | None) -> str:
        return wanted if wanted in self.languages else self.default

    def label(self, language: str, group: str, value: str | None) -> str:
        """A value's label in a language (`urgent` → 特急), or the value itself.
        Severities, decisions and categories read as the vocabulary and the taxonomy
        name them everywhere; the files' [labels] hold only the SMS's own words."""
        if value is None:
            return "-"
        if group in _WORDS:
            word = _WORDS[group].of(value)
            return word.label(language) if word is not None else value
        if group == "category":
            category = taxonomy().get(value)
            return category.label(language) if category is not None else value
        for code in (language, self.default):
            found = self.languages[code].labels.get(group, {}).get(value)
            if found is not None:
                return found
        return value

    def render(
        self,
        name: str,
        language: str,
        fields: Mapping[str, object],
        *,
        max_segments: int,
        sign_name: str = "",
    ) -> Rendered:
        """The message in `language` (or the default), its variable texts cut so the
        whole stays within `max_segments` parts."""
        language = self.language_for(language)
        text = self.languages[language].texts.get(name)
        if text is None:
            language = self.default
            text = self.languages[language].texts[name]
        values = {k: "" if fields.get(k) is None else str(fields[k]) for k in FIELDS}
        full = sign_name + text.format_map(values)
        length = measure(full)
        if length.segments <= max_segments:
            return Rendered(name, language, full, length)
        present = [f for f in CLIPPED_FIELDS if "{" + f + "}" in text and values[f]]
        fixed = measure(sign_name + text.format_map({**values, **dict.fromkeys(present, "")}))
        budget = capacity(length.encoding, max_segments) - fixed.units
        clipped = _share({f: values[f] for f in present}, budget, length.encoding, text.count)
        final = sign_name + text.format_map({**values, **clipped})
        return Rendered(name, language, final, measure(final))


def _share(
    texts: dict[str, str], budget: int, encoding: Encoding, uses: Callable[[str], int]
) -> dict[str, str]:
    """Split the room among the variable texts: short ones keep all they need, the
    rest share what is left equally (a text the template uses twice costs twice)."""
    out: dict[str, str] = {}
    remaining = max(budget, 0)
    pending = sorted(texts, key=lambda f: len(texts[f]))
    while pending:
        field = pending.pop(0)
        times = max(1, uses("{" + field + "}"))
        share = remaining // (len(pending) + 1) // times
        value = clip(texts[field], share, encoding)
        out[field] = value
        remaining -= measure_units(value, encoding) * times
    return out


def measure_units(text: str, encoding: Encoding) -> int:
    if encoding == "GSM-7":
        return sum(2 if ch in "^{}\\[~]|€\f" else 1 for ch in text)
    return len(text.encode("utf-16-le")) // 2
