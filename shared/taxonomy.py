"""The complaint category taxonomy: ids with Chinese and English labels.

The default (taxonomy.json) has the commercial categories a service hotline uses and
the first-level classes of a 12345 government hotline; TAXONOMY_FILE replaces it. Every
service reads the same file: intake validates against it, notify's SMS and analytics'
reports print its labels, so a category reads the same wherever it appears.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from shared.settings import Settings

_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Category:
    id: str
    zh: str
    en: str
    group: str = "general"

    def label(self, language: str) -> str:
        """The label in `language` (zh…, en…); Chinese is the default."""
        return self.en if language.lower().startswith("en") else self.zh


class Taxonomy:
    def __init__(self, categories: list[Category]) -> None:
        if not categories:
            raise ValueError("a taxonomy needs at least one category")
        self.categories = categories
        self._by_id = {c.id: c for c in categories}
        if len(self._by_id) != len(categories):
            raise ValueError("category ids must be unique")
        bad = [c.id for c in categories if not _ID.match(c.id)]
        if bad:
            raise ValueError(f"category ids must be lower-case slugs: {bad}")
        # Labels in either language also find a category (imports from older systems).
        self._by_label = {label.casefold(): c for c in categories for label in (c.zh, c.en)}

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.categories]

    def get(self, category_id: str) -> Category | None:
        return self._by_id.get(category_id)

    def find(self, text: str) -> Category | None:
        """By id, or by its Chinese or English label."""
        text = text.strip()
        return self._by_id.get(text) or self._by_label.get(text.casefold())

    @classmethod
    def load(cls, path: Path) -> Taxonomy:
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data["categories"] if isinstance(data, dict) else data
        return cls([Category(**item) for item in items])


@cache
def _load(path: Path) -> Taxonomy:
    return Taxonomy.load(path)


def taxonomy() -> Taxonomy:
    """The centre's taxonomy (TAXONOMY_FILE, else the default), loaded once per file.
    Asked on every registration, so it reads the one variable, not all the settings."""
    configured = os.environ.get("TAXONOMY_FILE")
    return _load(Path(configured) if configured else _DEFAULT)


_DEFAULT: Path = Settings.model_fields["taxonomy_file"].default
