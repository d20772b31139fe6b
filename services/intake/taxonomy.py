"""The complaint category taxonomy: ids with Chinese and English labels.

The default (taxonomy.json) has the commercial categories a service hotline uses and
the first-level classes of a 12345 government hotline; INTAKE_TAXONOMY_FILE replaces it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from services.intake.config import get_config

_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Category:
    id: str
    zh: str
    en: str
    group: str = "general"


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
    return _load(get_config().taxonomy_file)
