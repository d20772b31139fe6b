"""The hand-labelled hot-issue pairs (bench/data/hot_issue_pairs.csv) are what any way of
grouping messages is judged against, so the file must hold what HOT_ISSUE_PAIRS.md says it
holds, and drawing the pairs again must give the very pairs that were labelled."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ROOT

BENCH_DATA = Path(ROOT) / "bench" / "data"
PAIRS = BENCH_DATA / "hot_issue_pairs.csv"
DESCRIPTION = BENCH_DATA / "HOT_ISSUE_PAIRS.md"
SAMPLER = BENCH_DATA / "sample_hot_issue_pairs.py"
MESSAGES = Path(ROOT) / "data" / "gov_messages_labelled.csv"


def labelled() -> list[dict[str, str]]:
    with PAIRS.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def documented_counts() -> dict[str, tuple[int, int, int]]:
    """The table under "## Counts": stratum -> (pairs, same, not same), "all" included."""
    section = DESCRIPTION.read_text(encoding="utf-8").split("## Counts", 1)[1].split("\n## ")[0]
    rows = re.findall(r"^\| ([a-z-]+) \| (\d+) \| (\d+) \| (\d+) \|$", section, re.M)
    return {name: (int(n), int(same), int(other)) for name, n, same, other in rows}


def test_the_description_documents_every_stratum_and_a_total() -> None:
    counts = documented_counts()
    assert set(counts) == {"high", "same-name", "mid", "same-category", "random", "all"}
    strata = [name for name in counts if name != "all"]
    assert counts["all"] == tuple(sum(counts[s][i] for s in strata) for i in range(3))


def test_every_pair_names_two_different_messages_that_are_in_the_data_file() -> None:
    with MESSAGES.open(encoding="utf-8", newline="") as f:
        ids = {row["留言编号"] for row in csv.DictReader(f)}
    pairs = labelled()
    assert pairs, "no pairs"
    unknown = [(p["id_a"], p["id_b"]) for p in pairs if not {p["id_a"], p["id_b"]} <= ids]
    assert unknown == []
    assert [p for p in pairs if p["id_a"] == p["id_b"]] == []


def test_no_pair_is_labelled_twice_in_either_order() -> None:
    seen = Counter(frozenset((p["id_a"], p["id_b"])) for p in labelled())
    assert [sorted(pair) for pair, n in seen.items() if n > 1] == []


def test_every_pair_is_judged_same_or_not_with_a_reason_in_a_documented_stratum() -> None:
    strata = set(documented_counts()) - {"all"}
    for p in labelled():
        where = f"{p['id_a']}/{p['id_b']}"
        assert p["same"] in {"0", "1"}, where
        assert p["note"].strip() and len(p["note"]) <= 100, where
        assert p["stratum"] in strata, where


def test_the_counts_in_the_description_are_the_counts_in_the_file() -> None:
    tally: Counter[tuple[str, str]] = Counter()
    for p in labelled():
        tally[p["stratum"], p["same"]] += 1
        tally["all", p["same"]] += 1
    found = {s: (tally[s, "1"] + tally[s, "0"], tally[s, "1"], tally[s, "0"]) for s, _ in tally}
    assert found == documented_counts()


@pytest.mark.timeout(60)
def test_drawing_the_pairs_again_gives_exactly_the_pairs_that_were_labelled(
    tmp_path: Path,
) -> None:
    drawn = tmp_path / "pairs.csv"
    subprocess.run(
        [sys.executable, str(SAMPLER), str(MESSAGES), "--out", str(drawn)],
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    with drawn.open(encoding="utf-8", newline="") as f:
        again = [(r["id_a"], r["id_b"], r["stratum"]) for r in csv.DictReader(f)]
    assert again == [(p["id_a"], p["id_b"], p["stratum"]) for p in labelled()]
