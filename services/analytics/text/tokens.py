"""Complaint text into words: Chinese segmented by jieba, English split on letters, both
without stop words, numbers and the boilerplate every complaint shares."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from functools import cache
from typing import Any

from shared import word_frequency

_HAN = re.compile(r"[\u4e00-\u9fff]+")
_LATIN = re.compile(r"[A-Za-z][A-Za-z'\-]{2,}")
_lock = threading.Lock()


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that say nothing about what a complaint is about: function words, the forms of
# address and the requests every message makes ("please deal with it urgently").
STOP_ZH = _words(
    """
    我们 你们 他们 她们 它们 自己 本人 大家 这个 那个 这些 那些 这样 那样 这里 那里 这种
    什么 怎么 怎样 为什么 如何 哪里 是否 能否 可否 可以 可能 应该 需要 必须 还是 或者 但是
    因为 所以 如果 虽然 而且 并且 然后 而是 不是 就是 只是 只有 还有 以及 以上 以下 其中
    其他 其它 之后 以后 之前 以前 时候 目前 现在 已经 一直 一样 一下 一些 一个 两个 几个
    很多 许多 多次 每天 每次 今年 去年 明年 今天 昨天 最近 近期 当时 后来 同时 此时 此事
    此类 事情 地方 方面 问题 情况 反映 投诉 举报 咨询 建议 希望 要求 请求 恳请 恳求 强烈
    尽快 及时 给予 予以 解决 处理 落实 关注 重视 帮助 协调 回复 答复 回应 告知 联系 电话
    热线 客服 尊敬 您好 你好 谢谢 感谢 麻烦 领导 书记 市长 局长 主任 政府 有关 相关 部门
    有关部门 相关部门 单位 公司 有限公司 工作 工作人员 人员 表示 出现 发现 导致 造成 存在
    进行 通过 根据 按照 关于 对于 作为 没有 不能 不会 不要 不到 不了 得到 看到 知道 认为
    觉得 发生 提出 如下 以来 为了 由于 及其 等等 非常 十分 特别 严重 真的 一定 还要 还是
    而且 的话 市民 群众 居民 网友 留言 本人 家里 问题反映 具体 内容 原因 结果 影响 行为
    实在 望能 希望能 敬请 万分 感激 年月日 左右 以内 期间 之间 之内 无法 一次 第一 一年
    请问 哪些 有何 应当 却是 这次 能够 才能 意见 办理 申请 提供 我市 本市 该市 某某 是不是
    有没有 多少 合理 正常 不合理 合法 违法 规定 依法 按规定 行动 证据 身份 信息 各位 多年
    """
)
STOP_EN = _words(
    """
    the and for are was were been being have has had having not but with from this that
    these those there their they them then than what when where which who whom why how
    all any both each few more most other some such only own same too very can will just
    should would could into over under again further once here about above below after
    before between during through our ours your yours his her hers its itself you
    she him out off did does doing because until while also get got please dear hello
    thank thanks regards customer complaint complain issue problem still since even
    """
)


@cache
def _jieba() -> Any:
    with _lock:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        return jieba


def warm_up() -> None:
    """Load the segmenter's dictionary and the word weights (a few seconds) now, so the
    first hot-spot or suggestion request does not wait for them."""
    _jieba()
    word_frequency.corpus_idf()


def specificity(word: str) -> float:
    """0 for words common in any text (管理, 国家), up to 1.5 for rare ones (油烟, 违建).
    English words are not in the table and count as fairly specific."""
    idf = word_frequency.idf(word)
    return min(max((idf - 5.5) / 3.5, 0.0), 1.5)


def tokens(text: str | None) -> list[str]:
    """The words of one text, in order, lower-cased, stop words and numbers removed."""
    if not text:
        return []
    jieba = _jieba()
    words: list[str] = []
    for run in _HAN.findall(text):
        for word in jieba.lcut(run):
            if len(word) >= 2 and word not in STOP_ZH:
                words.append(word)
    for word in _LATIN.findall(text):
        lower = word.lower().strip("'-")
        if len(lower) >= 3 and lower not in STOP_EN:
            words.append(lower)
    return words


def vocabulary(docs: Iterable[list[str]]) -> set[str]:
    found: set[str] = set()
    for doc in docs:
        found.update(doc)
    return found
