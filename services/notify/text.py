"""SMS length: which alphabet a text needs, how many parts it costs, and cutting
variable text to fit without breaking a character.

GSM-7 carries 160 characters in one part and 153 in each part of a longer message;
`^{}[]~\\|€` (and form feed) cost two. A text with anything outside GSM-7 (any Chinese
character) goes as UCS-2: 70 UTF-16 units in one part, 67 per part, an emoji two units.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

Encoding = Literal["GSM-7", "UCS-2"]

ELLIPSIS = "…"


@dataclass(frozen=True)
class Length:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # the capacity of one part at this length


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def measure(text: str) -> Length:
    """The encoding a text needs and the parts it costs (an empty text still costs one)."""
    if is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        single, multi = 160, 153
        encoding: Encoding = "GSM-7"
    else:
        units = utf16_units(text)
        single, multi = 70, 67
        encoding = "UCS-2"
    if units <= single:
        return Length(encoding, units, 1, single)
    return Length(encoding, units, math.ceil(units / multi), multi)


def capacity(encoding: Encoding, segments: int) -> int:
    """How many units fit in this many parts."""
    if encoding == "GSM-7":
        return 160 if segments <= 1 else 153 * segments
    return 70 if segments <= 1 else 67 * segments


def _cost(ch: str, encoding: Encoding) -> int:
    if encoding == "GSM-7":
        return 2 if ch in GSM7_EXTENDED else 1
    return 2 if ord(ch) > 0xFFFF else 1


def _joins_previous(ch: str) -> bool:
    """Characters that belong to the one before them: combining marks, variation
    selectors, zero-width joiners and emoji modifiers."""
    code = ord(ch)
    return (
        unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or code in (0x200D, 0x20E3)
        or 0x1F3FB <= code <= 0x1F3FF
    )


def _clusters(text: str) -> list[str]:
    """The text cut into user-perceived characters (close enough to grapheme clusters
    for SMS: a base with its marks, and emoji sequences joined by ZWJ)."""
    clusters: list[str] = []
    joining = False
    for ch in text:
        if clusters and (joining or _joins_previous(ch)):
            clusters[-1] += ch
        else:
            clusters.append(ch)
        joining = ord(ch) == 0x200D
    return clusters


def clip(text: str, budget: int, encoding: Encoding) -> str:
    """The longest start of `text` costing at most `budget` units, ending in "…" ("..."
    in GSM-7) when cut; never inside a character, a surrogate pair or an emoji
    sequence, and not inside a Latin word when a space is near."""
    text = " ".join(text.split())
    total = sum(_cost(ch, encoding) for ch in text)
    if total <= budget:
        return text
    ellipsis = ELLIPSIS if encoding == "UCS-2" else "..."
    room = budget - sum(_cost(ch, encoding) for ch in ellipsis)
    if room <= 0:
        return ""
    out: list[str] = []
    used = 0
    clusters = _clusters(text)
    for cluster in clusters:
        cost = sum(_cost(ch, encoding) for ch in cluster)
        if used + cost > room:
            break
        out.append(cluster)
        used += cost
    # Inside a Latin word, go back to the space before it (if it is near).
    following = clusters[len(out)] if len(out) < len(clusters) else " "
    if out and _wordy(out[-1]) and _wordy(following):
        back = next((i for i in range(len(out) - 1, max(len(out) - 16, 0), -1) if out[i] == " "), 0)
        if back:
            out = out[:back]
    return "".join(out).rstrip() + ellipsis


def _wordy(cluster: str) -> bool:
    return cluster.isascii() and cluster.isalnum()


def cost(text: str, encoding: Encoding) -> int:
    """What a text costs in units of this encoding."""
    return sum(_cost(ch, encoding) for ch in text)


def clip_list(items: Sequence[str], separator: str, budget: int, encoding: Encoding) -> str:
    """As many whole items as fit in `budget` units, joined, then "…" ("..." in GSM-7)
    if some were left out: a reference is never cut in two."""
    whole = separator.join(items)
    if cost(whole, encoding) <= budget:
        return whole
    ellipsis = ELLIPSIS if encoding == "UCS-2" else "..."
    room = budget - cost(separator + ellipsis, encoding)
    kept: list[str] = []
    used = 0
    for item in items:
        extra = cost(item, encoding) + (cost(separator, encoding) if kept else 0)
        if used + extra > room:
            break
        kept.append(item)
        used += extra
    return separator.join(kept) + separator + ellipsis if kept else ellipsis
