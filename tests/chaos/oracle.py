"""The SMS oracle of the fault-injection run: what must exist, derived from the drivers'
own record of what the APIs confirmed, counted against what the phones received at the
provider and against each complaint's history.

It knows the product's rules the way a reader of services/notify/messages (notices.py,
planning.py, inbound.py) and of the templates does, and nothing of notify's tables:

- the customer hears on registration (the acknowledgement naming the reference), on the
  reply (the resolution with the satisfaction question) and on closure; a customer who
  opted out (退订) hears none of these, only the one confirmation of the opt-out; a
  customer SMS whose moment falls in quiet hours waits for their end;
- the duty manager hears of each complaint assigned to them (that complaint's own
  notice, naming its reference) and of each reply to the customer;
- the department's phone hears of each dispatch; acceptance tells nobody.

The record is the drivers': an action counts once the API answered 2xx, or once the
complaint was seen past it after the answer was lost (it happened, once). A complaint's
history must hold, once each, the assignment its registration led to and every action
confirmed. Nothing here calls the system: the harness fetches, this counts.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.vocabulary import Action

# What a driver records besides the lifecycle's own actions.
REGISTERED = "registered"  # intake took the complaint (2xx)
OPTED_OUT = "opted_out"  # the customer's 退订 reached notify (2xx)

# The kinds of SMS, in the order the table prints them.
ACKNOWLEDGEMENT = "acknowledgement"
ASSIGNMENT = "assignment"
DISPATCH = "dispatch"
SURVEY = "survey"
REPLY_NOTICE = "reply notice"
CLOSURE = "closure"
OPT_OUT_CONFIRMATION = "opt-out confirmation"
UNEXPECTED = "unexpected"
KINDS = (
    ACKNOWLEDGEMENT,
    ASSIGNMENT,
    DISPATCH,
    SURVEY,
    REPLY_NOTICE,
    CLOSURE,
    OPT_OUT_CONFIRMATION,
    UNEXPECTED,
)
CUSTOMER_KINDS = frozenset({ACKNOWLEDGEMENT, SURVEY, CLOSURE, OPT_OUT_CONFIRMATION})

_REF = r"(?P<ref>[A-Z]+\d{8}-\d+)"
# How each kind reads (services/notify/templates/zh-CN.toml), and whose phone gets it.
PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    (ACKNOWLEDGEMENT, "customer", re.compile(rf"您的投诉已受理，受理编号 {_REF}")),
    (SURVEY, "customer", re.compile(rf"您的投诉（{_REF}）处理结果：.*满意请回复1")),
    (CLOSURE, "customer", re.compile(rf"您的投诉（{_REF}）已办结")),
    (OPT_OUT_CONFIRMATION, "customer", re.compile(r"^您已退订")),
    (ASSIGNMENT, "duty_manager", re.compile(rf"新投诉 {_REF}")),
    (REPLY_NOTICE, "duty_manager", re.compile(rf"投诉 {_REF} 已答复客户")),
    (DISPATCH, "department", re.compile(rf"派单 {_REF}")),
)

# (kind, phone, reference): one SMS that must exist; an opt-out's confirmation names none.
Key = tuple[str, str, str | None]


@dataclass(frozen=True)
class Confirmed:
    what: str  # REGISTERED, OPTED_OUT or an Action's name
    at: datetime


@dataclass
class Life:
    """One complaint as its driver knows it: who it concerns and what was confirmed."""

    customer: str
    department_phone: str
    reference: str | None = None
    record: list[Confirmed] = field(default_factory=list)

    def confirm(self, what: str, at: datetime | None = None) -> None:
        self.record.append(Confirmed(what, at or datetime.now(UTC)))

    def when(self, what: str) -> list[datetime]:
        return [c.at for c in self.record if c.what == what]


@dataclass(frozen=True)
class Received:
    """An SMS a phone received at the provider."""

    phone: str
    body: str
    at: datetime


@dataclass(frozen=True)
class QuietHours:
    """Customer SMS written between `start` and `end` (local time) wait for `end`."""

    start: time
    end: time
    zone: str = "Asia/Shanghai"

    def _local(self, moment: datetime) -> tuple[datetime, bool]:
        local = moment.astimezone(ZoneInfo(self.zone))
        clock = local.time().replace(tzinfo=None)
        if self.start > self.end:
            return local, self.start <= clock or clock < self.end
        return local, self.start <= clock < self.end

    def quiet(self, moment: datetime) -> bool:
        return self._local(moment)[1]

    def until(self, moment: datetime) -> datetime:
        """When an SMS written at `moment` may go out."""
        local, quiet = self._local(moment)
        if not quiet:
            return moment
        ends = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if ends <= local:
            ends += timedelta(days=1)
        return ends.astimezone(UTC)


def expected_sms(
    lives: Iterable[Life],
    *,
    duty_manager: str,
    now: datetime,
    quiet: QuietHours | None = None,
) -> collections.Counter[Key]:
    """Every SMS the record implies, by kind, phone and reference."""
    expected: collections.Counter[Key] = collections.Counter()
    for life in lives:
        opted_out = life.when(OPTED_OUT)
        if opted_out:
            expected[(OPT_OUT_CONFIRMATION, life.customer, None)] += 1

        def customer(kind: str, at: datetime, life: Life = life) -> None:
            if any(o <= at for o in life.when(OPTED_OUT)):
                return
            if quiet is not None and quiet.until(at) > now:
                return  # still waiting for the morning
            expected[(kind, life.customer, life.reference)] += 1

        for at in life.when(REGISTERED):
            expected[(ASSIGNMENT, duty_manager, life.reference)] += 1
            customer(ACKNOWLEDGEMENT, at)
        for _ in life.when(Action.DISPATCH):
            expected[(DISPATCH, life.department_phone, life.reference)] += 1
        for at in life.when(Action.REPLY):
            expected[(REPLY_NOTICE, duty_manager, life.reference)] += 1
            customer(SURVEY, at)
        for at in life.when(Action.FEEDBACK):  # satisfied: the complaint closes
            customer(CLOSURE, at)
    return expected


def classify(sms: Received, *, audience: str) -> Key:
    """What one SMS is, read from its words; UNEXPECTED when it is none of the kinds."""
    for kind, whose, pattern in PATTERNS:
        if whose != audience:
            continue
        found = pattern.search(sms.body)
        if found is not None:
            return kind, sms.phone, found.groupdict().get("ref")
    return UNEXPECTED, sms.phone, sms.body[:40]


@dataclass
class Tally:
    expected: int = 0
    received: int = 0
    missing: int = 0
    extra: int = 0


@dataclass
class SmsCount:
    by_kind: dict[str, Tally]
    notes: list[str]

    @property
    def missing(self) -> int:
        return sum(t.missing for t in self.by_kind.values())

    @property
    def extra(self) -> int:
        return sum(t.extra for t in self.by_kind.values())


def count_sms(
    expected: collections.Counter[Key],
    received: Sequence[Received],
    *,
    duty_manager: str,
    departments: Iterable[str],
    quiet: QuietHours | None = None,
) -> SmsCount:
    """Per kind: expected, received, missing and extra (a duplicate is an extra)."""
    department_phones = set(departments)

    def audience(phone: str) -> str:
        if phone == duty_manager:
            return "duty_manager"
        return "department" if phone in department_phones else "customer"

    got: collections.Counter[Key] = collections.Counter()
    notes: list[str] = []
    early: collections.Counter[str] = collections.Counter()
    for sms in received:
        key = classify(sms, audience=audience(sms.phone))
        if key[0] in CUSTOMER_KINDS and quiet is not None and quiet.quiet(sms.at):
            # Sent when it had to wait: it cannot stand for the one that is due.
            early[key[0]] += 1
            notes.append(f"{key[0]} to {key[1]} sent in quiet hours at {sms.at:%H:%M}")
            continue
        got[key] += 1
    by_kind = {kind: Tally() for kind in KINDS}
    for key in expected.keys() | got.keys():
        kind, phone, reference = key
        tally = by_kind[kind]
        want, have = expected[key], got[key]
        tally.expected += want
        tally.received += have
        tally.missing += max(0, want - have)
        tally.extra += max(0, have - want)
        if want != have:
            what = "missing" if have < want else ("doubled" if want else "not expected")
            notes.append(f"{kind} to {phone} ({reference}): {have} of {want}, {what}")
    for kind, n in early.items():
        by_kind[kind].received += n
        by_kind[kind].extra += n
    return SmsCount(by_kind, sorted(notes))


def expected_history(life: Life) -> collections.Counter[str]:
    """The actions the complaint's history must hold, once per confirmation."""
    actions: collections.Counter[str] = collections.Counter()
    actions[Action.ASSIGN.api_name] += len(life.when(REGISTERED))
    for action in (Action.DISPATCH, Action.ACCEPT, Action.REPLY, Action.FEEDBACK):
        actions[action.api_name] += len(life.when(action))
    return actions


def history_differences(life: Life, actions: Sequence[str]) -> list[str]:
    """How the history's actions differ from the confirmed ones: none missing, none
    doubled, none that nobody confirmed."""
    want, have = expected_history(life), collections.Counter(actions)
    found = []
    for action in sorted(want.keys() | have.keys()):
        if have[action] < want[action]:
            found.append(f"{action} missing ({have[action]} of {want[action]})")
        elif have[action] > want[action]:
            found.append(f"{action} {have[action]}x, {want[action]} confirmed")
    return found
