"""Draw the message pairs of the hot-issue sample (bench/data/HOT_ISSUE_PAIRS.md), unlabelled.

    python bench/data/sample_hot_issue_pairs.py [messages.csv] [--out pairs.csv]

Most pairs of messages are plainly about different things, so a uniform sample would hold
almost no pair worth a judgement. The pairs are drawn in strata instead, each from what
is left after the strata before it:

- high: the pairs most alike by character-bigram Jaccard of the subject and the first
  150 characters of the text;
- same-name: pairs whose messages name the same place or organisation (a housing
  estate, street, village, school, hospital, company), where "same place, same problem"
  must be told apart from "same place, another problem";
- mid: pairs drawn at random from a middle band of that similarity;
- same-category: pairs drawn at random within one first-level category;
- random: pairs drawn at random from all.

The similarity is crude on purpose: a sample drawn by the measure a grouping method uses
would favour that method. Same seed, same file, same pairs in the same order.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import random
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = ROOT / "data" / "gov_messages_labelled.csv"

SEED = 20200
HIGH = 60
SAME_NAME_MAX = 60
MID = 80
MID_FLOOR = 0.04  # the top 60 reach down to about 0.095; half of all pairs are below 0.003
SAME_CATEGORY = 60
RANDOM = 60
STRATA = ("high", "same-name", "mid", "same-category", "random")

TEXT_HEAD = 150

# A name is a run of Chinese characters that ends in a word for a kind of place or body.
PLACE_WORDS = (
    "小区|花园|家园|山庄|公寓|大厦|广场|新城|星城|社区|小学|中学|学校|大学|学院|幼儿园|"
    "医院|公司|集团|街道|大道|路|街|村|镇|市场|公园|苑|府|城|湾|园|厂|酒店|银行|车站"
)
PLACE_WORD = re.compile(PLACE_WORDS)
HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")
# Characters that never sit inside a proper name but often just before one ("我们小区").
NOT_IN_NAME = frozenset(
    "我们这那些个该本附近周边一所在整老旧其他各全新的了和与及是对从到被为有于将把由让给向请望求要"
)
# Words that make a kind of place, not a particular one ("物业公司", "农贸市场"), or that
# the pattern catches inside ordinary phrases ("群众路线", "历史文化名城").
GENERIC = (
    "政府", "人民", "影响", "导致", "占用", "城镇", "城乡", "城市", "进入", "促进", "线路",
    "道路", "公路", "高速", "地方", "农村", "小城", "乡镇", "住宅", "居民", "公办", "民办",
    "私立", "公立", "私人", "文明", "名城", "物业", "出租", "快递", "交通", "培训", "职业",
    "中心", "实验", "普惠", "工业", "文化", "群众", "建议", "参加", "提高", "简称", "相关",
    "部分", "自己", "学校园", "幼儿园", "小学校", "责任", "工程", "投资", "置业", "燃气",
    "电信", "农贸", "儿童", "化工", "造纸", "机械", "邮政", "储蓄", "城中", "中医", "火车",
)  # fmt: skip
# A name found in more messages than this is a common one, not a particular place.
NAME_MAX_MESSAGES = 4


@dataclass(frozen=True)
class Message:
    id: str
    subject: str
    text: str
    category: str


@dataclass(frozen=True)
class Pair:
    id_a: str
    id_b: str
    stratum: str
    similarity: float
    shared_name: str


def read_messages(path: Path) -> list[Message]:
    """One message per 留言编号, in the file's order; an id listed twice (37042 is, under
    two categories) keeps its first row."""
    seen: dict[str, Message] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            seen.setdefault(
                row["留言编号"],
                Message(row["留言编号"], row["留言主题"], row["留言详情"], row["一级分类"]),
            )
    return list(seen.values())


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def bigrams(text: str) -> frozenset[str]:
    text = re.sub(r"\W", "", _squeeze(text))
    return frozenset(text[i : i + 2] for i in range(len(text) - 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def names(message: Message) -> dict[str, str]:
    """The names of places and bodies a message mentions, by a key to compare them on: a
    name of four characters or more before its place word is known by those first four
    and the place word's last character, so that 锦楚国际星城 and 锦楚国际新城 meet."""
    found: dict[str, str] = {}
    for run in HAN_RUN.findall(_squeeze(message.subject) + "。" + _squeeze(message.text)):
        for word in PLACE_WORD.finditer(run):
            for start in range(max(0, word.start() - 8), word.start() - 1):
                core = run[start : word.start()]
                name = core + word.group()
                if core[0] in "省市区县" or NOT_IN_NAME.intersection(core):
                    continue
                if any(g in name for g in GENERIC):
                    continue
                key = core[:4] + word.group()[-1] if len(core) >= 4 else name
                if len(name) > len(found.get(key, "")):
                    found[key] = name
    return found


def _key(a: Message, b: Message) -> tuple[str, str]:
    return (a.id, b.id) if int(a.id) < int(b.id) else (b.id, a.id)


def draw(messages: list[Message], seed: int = SEED) -> list[Pair]:
    rng = random.Random(seed)
    by_id = {m.id: m for m in messages}
    ordered = sorted(messages, key=lambda m: int(m.id))
    subject = {m.id: bigrams(m.subject) for m in ordered}
    head = {m.id: bigrams(_squeeze(m.text)[:TEXT_HEAD]) for m in ordered}
    similarity = {
        _key(a, b): (jaccard(subject[a.id], subject[b.id]) + jaccard(head[a.id], head[b.id])) / 2
        for a, b in itertools.combinations(ordered, 2)
    }
    everything = sorted(similarity, key=lambda k: (-similarity[k], int(k[0]), int(k[1])))

    named = {m.id: names(m) for m in ordered}
    spread = Counter(n for found in named.values() for n in found)
    holders: dict[str, list[str]] = defaultdict(list)
    for m in ordered:
        for n in named[m.id]:
            if 2 <= spread[n] <= NAME_MAX_MESSAGES:
                holders[n].append(m.id)
    shared: dict[tuple[str, str], str] = {}
    for n in sorted(holders, key=lambda n: (-len(n), n)):
        for a, b in itertools.combinations(holders[n], 2):
            shared.setdefault((a, b), named[a][n])

    drawn: dict[tuple[str, str], str] = {}

    def take(stratum: str, keys: Iterable[tuple[str, str]]) -> None:
        for k in keys:
            drawn[k] = stratum

    def left(keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [k for k in keys if k not in drawn]

    take("high", everything[:HIGH])
    candidates = left(k for k in similarity if k in shared)
    take("same-name", rng.sample(candidates, min(SAME_NAME_MAX, len(candidates))))
    take("mid", rng.sample(left(k for k in everything if similarity[k] >= MID_FLOOR), MID))
    # similarity's keys come in id order, which the random draws need to be repeatable
    within = left(k for k in similarity if by_id[k[0]].category == by_id[k[1]].category)
    take("same-category", rng.sample(within, SAME_CATEGORY))
    take("random", rng.sample(left(similarity), RANDOM))

    rank = {s: i for i, s in enumerate(STRATA)}
    return [
        Pair(a, b, stratum, round(similarity[(a, b)], 4), shared.get((a, b), ""))
        for (a, b), stratum in sorted(
            drawn.items(), key=lambda kv: (rank[kv[1]], int(kv[0][0]), int(kv[0][1]))
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("messages", nargs="?", type=Path, default=MESSAGES)
    parser.add_argument("--out", type=Path, help="where to write the pairs (default: stdout)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    pairs = draw(read_messages(args.messages), args.seed)
    out = args.out.open("w", encoding="utf-8", newline="") if args.out else sys.stdout
    try:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id_a", "id_b", "stratum", "similarity", "shared_name"])
        writer.writerows((p.id_a, p.id_b, p.stratum, p.similarity, p.shared_name) for p in pairs)
    finally:
        if args.out:
            out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
