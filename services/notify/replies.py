"""What an SMS someone sent us means, read against the message it answers. Pure code.

- Opt-out words (退订, TD, T, STOP and Twilio's list) stop customer SMS to that phone;
  START / UNSTOP resume them. They mean the same whatever message they answer.
- A reply to a message that asked a duty manager to acknowledge: "1", "OK" or "收到"
  acknowledges that complaint.
- A reply to a customer's satisfaction question: "1" satisfied, "2" not satisfied.
- Anything else is a message, attached to the complaint of the message it answers.

A reply may name the complaint it means ("1 TS20261122-000123") when one phone has
several questions open; otherwise it answers the newest one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from shared.vocabulary import SmsIntent

# What a message we sent asks its reader to answer, if anything.
ReplyKind = Literal["ack", "feedback"]

OPT_OUT_WORDS = frozenset(
    {
        "退订",
        "TD",
        "T",
        "STOP",
        "UNSUBSCRIBE",
        "END",
        "QUIT",
        "STOPALL",
        "REVOKE",
        "OPTOUT",
        "CANCEL",
    }
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "订阅"})
ACK_WORDS = frozenset({"1", "OK", "收到"})
SATISFIED_WORDS = frozenset({"1"})
UNSATISFIED_WORDS = frozenset({"2"})

REFERENCE = re.compile(r"\b([A-Z]{1,4}\d{8}-\d{6})\b")
_TRIM = " \t\r\n.,!?;:。，！？；：、~～#＃"


@dataclass(frozen=True)
class Reading:
    word: str  # the reply reduced to its keyword: "1", "OK", "退订", …
    reference: str | None  # a complaint reference named in it, if any


def read(text: str) -> Reading:
    """Normalise a reply: full-width to half-width, case, surrounding punctuation, and
    a complaint reference taken out."""
    folded = unicodedata.normalize("NFKC", text).upper()
    match = REFERENCE.search(folded)
    reference = match.group(1) if match else None
    if match:
        folded = folded[: match.start()] + " " + folded[match.end() :]
    word = " ".join(folded.split()).strip(_TRIM)
    return Reading(word=word, reference=reference)


def opt_keyword(text: str) -> SmsIntent | None:
    """`opt_out` or `opt_in` if the text is one of those words, else None."""
    word = read(text).word
    if word in OPT_OUT_WORDS:
        return SmsIntent.OPT_OUT
    if word in OPT_IN_WORDS:
        return SmsIntent.OPT_IN
    return None


def intent(text: str, answers: ReplyKind | None) -> SmsIntent:
    """What the text means as an answer to a message that asked for `answers`."""
    keyword = opt_keyword(text)
    if keyword is not None:
        return keyword
    word = read(text).word
    if answers == "ack" and word in ACK_WORDS:
        return SmsIntent.ACK
    if answers == "feedback":
        if word in SATISFIED_WORDS:
            return SmsIntent.SATISFIED
        if word in UNSATISFIED_WORDS:
            return SmsIntent.UNSATISFIED
    return SmsIntent.MESSAGE
