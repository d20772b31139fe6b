"""What one complaint is about: the place or organisation it names and the words of its
problem, read once when the complaint arrives so hot issues can group a month at once.

Chinese text is segmented with jieba's part-of-speech tagger. A place is a run of name
words (proper nouns, unknown words, numbers and short Latin codes such as K9) ending in
a word that says what kind of place it is (小区, 花园, 路, 街, 学校, 医院, 市场, 公司,
集团, 号线, 栋 …): 锦楚国际星城小区, 冷江东路, 雅礼洋湖实验中学, 地铁5号线. Provinces,
cities, districts and counties (西地省, A市, K8县) are an *area*, never the place: a third
of a city's messages name the city. A run of generic words only (居民小区, 公园) is no
place. The place named most often wins, the subject line (the text's start) breaking
ties. A gazetteer the centre keeps (ANALYTICS_GAZETTEER: one name per line, aliases after
`=`) names places the segmenter would cut apart, and is matched first. The complaint's
own location field, where the agent filled it in, comes before the text.

English text gets the organisation instead: a run of capitalised words or codes (Wells
Fargo Bank, 58 Home, K9 Tower) that is not the start of a sentence, or that ends in a word
like Bank, Inc, Street or School, or that the text repeats. Redaction marks (XXXX, ***)
never name anything.

The problem is the text's content words without the place's: stop words, generic words
(a general corpus's weights, `tokens.specificity`), redaction marks and numbers left out;
the most telling ones kept in the order they are written.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from services.analytics.text.tokens import STOP_EN, STOP_ZH, _jieba, _words, specificity

# Bumped when what a subject holds changes: stored subjects of another version are read
# again from their text.
ALGORITHM = 1
PROBLEM_WORDS = 8
# Enough of a long message to find its place and problem; the rest repeats them.
READ_CHARS = 1200

_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN_LETTER = re.compile(r"[A-Za-z]")
# A redaction mark: XXXX, XX/XX/XXXX, ***, {$00.00}.
_REDACTED = re.compile(r"(?i)\bx{2,}\b|\*{2,}|\{\$[\d.,]+\}|\bxx/xx/(?:xx)?xx\b")
# An anonymised or coded area: A市, A3区, K8县, 西地省 is caught by the tagger.
_CODED_AREA = re.compile(r"(?<![A-Za-z0-9])([A-Z][0-9]{0,2})(省|市|区|县)")
# A province at the start of a clause (西地省), a district after its city (长沙市岳麓区).
_NAMED_AREA = re.compile(
    r"(?:^|(?<=[，。！？；：、\s]))[\u4e00-\u9fff]{2,3}省"
    r"(?=的|各|内|人民|政府|[，。！？；：、\s]|$)|(?<=市)[\u4e00-\u9fff]{2,3}(?:区|县)"
)
_CLAUSE = re.compile(r"[，。！？；：、,.!?;:\n\r\t（）()【】\[\]“”\"'《》<>]+")

AREA_ENDINGS = ("省", "市", "区", "县", "州", "自治区", "自治州", "自治县", "新区", "开发区")
# What kind of place a name is, by its last word. Longest first where one ends another.
PLACE_ENDINGS = tuple(
    sorted(
        _words(
            """
        小区 花园 家园 公寓 大厦 广场 大楼 新村 新城 山庄 苑 园 府 庭 湾 郡 城 阁 公馆 华庭
        佳园 雅苑 社区 村 街道 镇 乡 路 街 大道 巷 胡同 桥 隧道 高速 立交 号线 栋 幢 号楼
        学校 小学 中学 大学 学院 幼儿园 一幼 医院 卫生院 诊所 农贸市场 菜市场 市场 商场 超市
        公园 酒店 宾馆 工地 车站 地铁站 火车站 汽车站 客运站 机场 码头 体育馆 图书馆 派出所
        银行 公司 集团 工厂 厂 门店 商店 餐厅 驾校 加油站 停车场 景区 项目 楼盘 大市场 批发市场
        物业 中心 检测站 营业厅 水厂 电厂 站
        """
        ),
        key=len,
        reverse=True,
    )
)
# Places people pass through rather than live or work in.
PASSING = ("路", "街", "大道", "巷", "胡同", "桥", "隧道", "高速", "立交", "号线")
# Words that make no name by themselves: 居民小区 and 公园 name no particular place.
GENERIC_NAME_WORDS = _words(
    """
    居民 我们 我 你们 他们 这个 那个 该 本 此 附近 周边 周围 旁边 对面 门口 当地 本地
    国际 城市 城区 市区 新区 老区 县城 乡镇 农村 城乡 小区 公园 学校 医院 市场 公司 集团
    广场 大厦 街道 社区 道路 马路 公路 大道 小学 中学 大学 幼儿园 银行 物业 物业公司 工地
    项目 楼盘 商场 超市 车站 停车场 政府 市政府 区政府 县政府 住宅 安置 安置房 廉租房
    公租房 商品房 老旧 老 新 大 小 东 西 南 北 中 上 下 前 后 内 外 一 二 三 我市 本市 全市
    公交 公交车 高速 学生 家长 业主 居民楼 楼房 房屋 私立 公立 民办 一所 各 每个 所有
    感谢您 百忙之中 你们好 您好 尊敬 领导 书记 市长 区长 县长 局长 小区业主 片区 一事 一带
    """
)
# Tags of words that may stand inside a name: nouns of every kind, proper nouns, numbers,
# Latin codes, abbreviations and set phrases (在水一方), a few adjectives (老, 冷).
NAME_FLAGS = frozenset({"n", "nr", "ns", "nt", "nz", "nrfg", "nrt", "eng", "m", "j", "i"})
NAME_EXTRA = frozenset({"a", "vn", "b", "s", "f", "t", "q"})
# A name with these in it is an office, not a place (镇政府, 党和政府).
GOVERNMENT = ("政府", "党委", "市委", "县委", "区委", "管委会", "居委会", "党和")
MAX_NAME_WORDS = 5
MAX_NAME_CHARS = 14
# Building, unit and room numbers after a name: a home address, not a place everyone shares.
_HOME = re.compile(r"\d+\s*(?:单元|室|户|号房|层)")

STOP_EN_ISSUES = STOP_EN | _words(
    """
    told said called call calls calling contacted contact received receive sent send asked
    ask paid pay made make take took went come came would could also never ever always
    again back want wanted need needed know knew new now one two three time times day days
    month months year years today yesterday letter email phone number information they've
    i've i'm don't didn't can't won't it's company bank account service services
    told stated state states however therefore regarding result per via like still just
    xxxx xxx mr mrs ms
    """
)
# Capitalised words that start sentences or name no organisation.
NOT_ORG = _words(
    """
    i i'm i've my me we our you your he she they it its the a an this that these those
    on in at of for to from by with after before when while since during then there here
    and or but if so as because however also please thank thanks dear hello hi regards
    monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december today yesterday tomorrow
    mr mrs ms dr sir madam customer complaint re subject
    """
)
ORG_ENDINGS = _words(
    """
    bank inc inc. llc corp corp. corporation company co co. ltd ltd. limited group plc
    apartments apartment mortgage financial credit services insurance energy water telecom
    mobile wireless airlines airline hospital clinic school college university street st
    road rd avenue ave mall station store market hotel
    """
)
_ORG_KEY_DROP = frozenset({"inc", "llc", "corp", "corporation", "co", "ltd", "limited", "plc"})
_EN_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9&'\-.]*")
_EN_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]{2,}")


@dataclass(frozen=True)
class Subject:
    """What a complaint is about. `place` as written, `place_key` to compare by."""

    lang: str  # "zh" or "en"
    place: str | None
    place_key: str | None
    area: str | None
    words: tuple[str, ...]
    version: str


def language(text: str) -> str:
    han = len(_HAN.findall(text))
    latin = len(_LATIN_LETTER.findall(text))
    return "en" if latin > han * 2 else "zh"


def normalise(name: str) -> str:
    flat = unicodedata.normalize("NFKC", name).lower()
    return re.sub(r"[\s·•\-_.,'’]+", "", flat)


def place_key(name: str) -> str:
    """锦楚国际星城小区 and 锦楚国际星城 are one place; Wells Fargo Bank and Wells Fargo too."""
    key = normalise(name)
    for ending in ("小区", "社区"):
        if key.endswith(ending) and len(key) - len(ending) >= 2:
            key = key[: -len(ending)]
            break
    return key


def english_key(name: str) -> str:
    words = [w for w in re.split(r"[\s.,]+", name.lower()) if w]
    while len(words) > 1 and words[-1] in _ORG_KEY_DROP | {"bank"}:
        words.pop()
    return " ".join(words)


# --- the gazetteer ---------------------------------------------------------------------


@dataclass(frozen=True)
class Gazetteer:
    """Names the centre knows, each with the name it is reported under."""

    names: dict[str, str]
    digest: str

    def find(self, text: str) -> list[tuple[int, str]]:
        """(position, canonical name) of every known name in the text, longest first."""
        found: list[tuple[int, str]] = []
        if not self.names:
            return found
        lowered = unicodedata.normalize("NFKC", text).lower()
        for alias in sorted(self.names, key=len, reverse=True):
            at = lowered.find(alias)
            while at >= 0:
                found.append((at, self.names[alias]))
                lowered = lowered[:at] + "\0" * len(alias) + lowered[at + len(alias) :]
                at = lowered.find(alias, at + len(alias))
        return found


def parse_gazetteer(lines: Iterable[str]) -> Gazetteer:
    names: dict[str, str] = {}
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, aliases = line.partition("=")
        name = name.strip()
        if not name:
            continue
        for alias in [name, *aliases.replace("，", ",").split(",")]:
            alias = unicodedata.normalize("NFKC", alias.strip()).lower()
            if len(alias) >= 2:
                names[alias] = name
    digest = hashlib.sha256("\n".join(f"{a}={n}" for a, n in sorted(names.items())).encode())
    return Gazetteer(names, digest.hexdigest()[:12])


_gazetteer_lock = threading.Lock()


@cache
def gazetteer() -> Gazetteer:
    """The centre's gazetteer (ANALYTICS_GAZETTEER), its names taught to the segmenter."""
    path = os.environ.get("ANALYTICS_GAZETTEER", "").strip()
    if not path:
        return Gazetteer({}, "none")
    try:
        found = parse_gazetteer(Path(path).read_text(encoding="utf-8").splitlines())
    except OSError as error:
        raise RuntimeError(f"ANALYTICS_GAZETTEER: cannot read {path}: {error}") from error
    with _gazetteer_lock:
        jieba = _jieba()
        for alias in found.names:
            if _HAN.search(alias):
                jieba.add_word(alias, freq=100_000, tag="nz")
    return found


def version(g: Gazetteer | None = None) -> str:
    return f"{ALGORITHM}:{(g or gazetteer()).digest}"


# --- Chinese ---------------------------------------------------------------------------


@cache
def _posseg() -> object:
    _jieba()
    import jieba.posseg

    return jieba.posseg


def _tagged(text: str) -> list[tuple[str, str]]:
    posseg = _posseg()
    return [(w.word, w.flag) for w in posseg.lcut(text, HMM=False)]  # type: ignore[attr-defined]


def _ends_place(word: str) -> bool:
    return any(word.endswith(e) for e in PLACE_ENDINGS)


def _is_area(word: str) -> bool:
    return any(word.endswith(e) for e in AREA_ENDINGS)


def _namely(word: str, flag: str) -> bool:
    """A word that can make a name particular: a proper noun, a code, a number, a word
    the general corpus hardly knows (锦楚, 星城)."""
    if word in GENERIC_NAME_WORDS:
        return False
    if flag == "m":
        # 5号线, 208; not 一座, 两所, 一下.
        return bool(re.search(r"\d", word)) or word[0] not in "一两二几每各半这那某"
    if flag in {"nr", "ns", "nt", "nz", "nrfg", "nrt", "eng", "j", "i"}:
        return True
    return specificity(word) >= 0.9


def _places_zh(tagged: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Places and areas named, in order, each as often as named."""
    places: list[str] = []
    areas: list[str] = []
    run: list[tuple[str, str]] = []
    for word, flag in [*tagged, ("。", "x")]:
        if flag == "ns" and 3 <= len(word) <= 5 and _is_area(word) and not run:
            areas.append(word)  # 西地省, 长沙市: a district named in one word
            continue
        inside = flag in NAME_FLAGS or (flag in NAME_EXTRA and run) or word in PLACE_ENDINGS
        if word.strip() and inside and not _CLAUSE.fullmatch(word):
            run.append((word, flag))
            # 号 + 线: a place's kind can be cut in two.
            pair = "".join(w for w, _ in run[-2:])
            if (
                _ends_place(word)
                or pair.endswith("号线")
                or (len(word) == 1 and word in "省市区县")
            ):
                named = _name_from(run)
                if named is not None:
                    kind, name = named
                    (areas if kind == "area" else places).append(name)
                    run = []
            if len(run) > MAX_NAME_WORDS * 2:
                run = run[-MAX_NAME_WORDS:]
            continue
        run = []
    return places, areas


def _name_from(run: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The name that ends the run, if it is particular; ('area', …) for a district."""
    tail = run[-MAX_NAME_WORDS:]
    # Shorten from the left to the name's length, and past generic openers (居民小区)
    # and dates (3月).
    while tail and (
        len("".join(w for w, _ in tail)) > MAX_NAME_CHARS
        or tail[0][0] in GENERIC_NAME_WORDS
        or tail[0][1] in NAME_EXTRA
        or re.fullmatch(r"[\d一二三四五六七八九十]+[年月日号]", tail[0][0])
    ):
        tail = tail[1:]
    if not tail:
        return None
    name = "".join(w for w, _ in tail)
    if len(tail) == 1 and 2 <= len(name) <= 4 and _is_area(name) and tail[0][1] == "ns":
        return "area", name
    if tail[-1][0] in "省市区县":
        before = tail[:-1][-1:]
        if before and before[0][1] in {"ns", "nz", "j", "eng"} and len(name) <= 5:
            return "area", name
        return None
    if any(g in name for g in GOVERNMENT) or any(f in {"v", "l"} for _, f in tail):
        return None
    if not any(_namely(w, f) for w, f in tail[:-1]) and not (
        len(tail) == 1 and _namely_single(tail[0])
    ):
        return None
    if len(name) < 3 or _HOME.search(name):
        return None
    return "place", name


def _namely_single(token: tuple[str, str]) -> bool:
    """One word that is a whole place name (丁字街, 农贸市场 is not)."""
    word, flag = token
    return (
        flag in {"ns", "nt", "nz", "nr", "nrt"}
        and len(word) >= 3
        and word not in GENERIC_NAME_WORDS
        and not any(word == e for e in PLACE_ENDINGS)
    )


def _problem_zh(tagged: Sequence[tuple[str, str]], drop: set[str], head: int) -> list[str]:
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    known = _dictionary()
    for i, (word, flag) in enumerate(tagged):
        if not _content(word, flag, drop):
            continue
        counts[word] += 1
        first.setdefault(word, i)
        # 电梯门 is about the 电梯 too: a longer word also counts for the words it opens
        # and ends with, as a search engine's segmentation would index it.
        if len(word) >= 3:
            # In the word's order, not a set's: the same text reads the same in every process.
            for part in dict.fromkeys((word[:2], word[-2:])):
                # Only words the segmenter knows as nouns or verbs (电梯, 停车; not 不上).
                tag = known.get(part)
                if tag and tag[0] in "nv" and _content(part, tag, drop):
                    counts[part] += 1
                    first.setdefault(part, i)
    return _telling(counts, first, head)


def _content(word: str, flag: str, drop: set[str]) -> bool:
    return not (
        len(word) < 2
        or word in STOP_ZH
        or word in drop
        or flag in {"m", "x", "eng", "ns", "nr", "nrfg", "nrt", "t", "r", "p", "c", "u"}
        or word in PLACE_ENDINGS
        or word in GENERIC_NAME_WORDS
        or not _HAN.search(word)
        or specificity(word) <= 0
    )


@cache
def _dictionary() -> dict[str, str]:
    """The segmenter's words and their part-of-speech tags."""
    posseg: Any = _posseg()
    return posseg.dt.word_tag_tab  # type: ignore[no-any-return]


def _telling(counts: Counter[str], first: dict[str, int], head: int = 0) -> list[str]:
    """The most telling words, most telling first: how often the text says them, how
    rare they are in general, and whether the subject line (its first `head` words)
    holds them."""

    def score(w: str) -> float:
        return (counts[w] + (2 if first[w] < head else 0)) * (0.5 + specificity(w))

    return sorted(counts, key=lambda w: (-score(w), first[w]))[:PROBLEM_WORDS]


def _chinese(text: str, location: str | None, g: Gazetteer) -> Subject:
    areas: list[str] = []

    def coded(match: re.Match[str]) -> str:
        areas.append(match.group(0))
        return "，"

    flat = _CODED_AREA.sub(coded, _REDACTED.sub("，", text[:READ_CHARS]))
    flat = _NAMED_AREA.sub(coded, flat)
    tagged = _tagged(flat)
    places, named_areas = _places_zh(tagged)
    areas.extend(named_areas)
    known = g.find(flat)
    place: str | None = None
    if location:
        place = _location_place(location, g)
    if place is None and known:
        place = Counter(name for _, name in known).most_common(1)[0][0]
    # The subject line: the words before the first line break, if the text has one.
    head = next((i for i, (w, _) in enumerate(tagged) if "\n" in w), 0)
    if place is None and places:
        # A place in the subject line (its first 80 characters) counts three times.
        upto = used = 0
        for word, _ in tagged[: head or len(tagged)]:
            used += len(word)
            if used > 80:
                break
            upto += 1
        head_places, _ = _places_zh(tagged[:upto])
        counts = Counter(place_key(p) for p in [*places, *head_places, *head_places])
        order: dict[str, str] = {}
        for p in places:
            order.setdefault(place_key(p), p)
        # Where people live or go (an estate, a school) before the road or line beside it:
        # 地铁5号线施工导致锦楚国际星城停电 is about the estate.
        best = max(
            order,
            key=lambda k: (
                counts[k] + (0 if order[k].endswith(PASSING) else 1.5),
                -places.index(order[k]),
            ),
        )
        place = order[best]
    drop: set[str] = set()
    if place:
        drop.update(w for w, _ in _tagged(place))
    for name in set(places):
        drop.update(w for w, _ in _tagged(name) if w not in PLACE_ENDINGS or len(w) > 2)
    words = _problem_zh(tagged, drop, head)
    area = _finest(areas)
    return Subject("zh", place, place_key(place) if place else None, area, tuple(words), version(g))


def _finest(areas: list[str]) -> str | None:
    if not areas:
        return None
    rank = {"区": 0, "县": 0, "市": 1, "州": 1, "省": 2}
    return min(areas, key=lambda a: (rank.get(a[-1], 1), areas.index(a)))


def _location_place(location: str, g: Gazetteer) -> str | None:
    """The place in the location field: a known name, a name found in it, or the field
    itself up to where the building and room numbers start."""
    text = _CODED_AREA.sub("，", location.strip())
    known = g.find(text)
    if known:
        return min(known)[1]
    places, _ = _places_zh(_tagged(text))
    if places:
        return places[0]
    head = re.split(r"\d", text, maxsplit=1)[0].strip(" ，,")
    return head if len(head) >= 2 else None


# --- English ---------------------------------------------------------------------------


def _organisations(text: str) -> list[str]:
    found: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        tokens = _EN_TOKEN.findall(sentence)
        run: list[str] = []
        start = 0
        for i, token in enumerate([*tokens, ""]):
            bare = token.strip(".,'-")
            lower = bare.lower()
            capital = bool(bare) and (bare[0].isupper() or bare[0].isdigit())
            joiner = run and lower in {"of", "and", "&"}
            code = bool(re.fullmatch(r"[A-Z0-9&]{2,6}|[A-Za-z]+\d+\w*|\d+[A-Za-z]+", bare))
            if bare and (capital or joiner or code) and not _REDACTED.fullmatch(bare):
                if not run:
                    start = i
                run.append(bare)
                continue
            _take(run, start, found)
            run = []
        _take(run, start, found)
    return found


def _take(run: list[str], start: int, found: list[str]) -> None:
    while run and run[-1].lower() in {"of", "and", "&"}:
        run.pop()
    while run and run[0].lower() in NOT_ORG:
        run.pop(0)
        start += 1
    if not run or all(w.lower() in NOT_ORG or w.isdigit() for w in run):
        return
    if len(run) == 1 and start == 0 and run[0].lower() not in ORG_ENDINGS:
        # A capitalised first word is the sentence's, unless the text repeats it.
        found.append("\0" + run[0])
        return
    found.append(" ".join(run))


def _english(text: str, location: str | None) -> Subject:
    flat = _REDACTED.sub(" ", text[: READ_CHARS * 3])
    candidates = _organisations(flat)
    counts: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for raw in candidates:
        weak = raw.startswith("\0")
        name = raw.lstrip("\0")
        key = english_key(name)
        if not key or key in NOT_ORG:
            continue
        counts[key] += 1 if not weak else 0
        if not weak or key not in shown:
            shown.setdefault(key, name)
    org: str | None = location.strip() if location and location.strip() else None
    if org is None:
        strong = [k for k in shown if counts[k] > 0]
        if strong:
            best = max(strong, key=lambda k: (counts[k], -list(shown).index(k)))
            org = shown[best]
    drop = {w.lower() for w in re.split(r"\W+", org or "") if w}
    counts_w: Counter[str] = Counter()
    first: dict[str, int] = {}
    for i, word in enumerate(_EN_WORD.findall(flat)):
        lower = word.lower().strip("'-")
        if len(lower) < 3 or lower in STOP_EN_ISSUES or lower in drop:
            continue
        counts_w[lower] += 1
        first.setdefault(lower, i)
    words = _telling(counts_w, first)
    return Subject("en", org, english_key(org) if org else None, None, tuple(words), version())


def subject_of(text: str | None, location: str | None = None) -> Subject:
    """What this complaint is about (see the module's description)."""
    text = text or ""
    location = (location or "").strip() or None
    if language(text or location or "") == "en":
        return _english(text, location)
    return _chinese(text, location, gazetteer())
