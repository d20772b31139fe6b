"""Proof under fire: the whole system under load while its parts are killed with
SIGKILL and started again, then a count of what was lost or doubled.

    make chaos                                  the long form
    python -m tests.chaos.harness [--long] [--seed N] [--keep]
    tests/chaos/test_faults.py                  the short form and the deliberate fault,
                                                run by `make test`

It runs a system of its own on loopback, STACK=chaos (Kafka 24092, PostgreSQL 15435,
the APIs on 8101-8104 and the development SMS gateway on 8190), wiped and started by
the project's scripts, stopped afterwards (`--keep` leaves it running to look at).

The SMS provider is the development gateway set to behave as Twilio does: it sends every
request it takes (no recognition of a resend by its Idempotency-Key), and it answers
some sends late (after notify's HTTP timeout) or cuts the connection after taking them.
Notify talks to it as `twilio` (a provider that does not deduplicate), so a send whose
answer was lost is looked up in the provider's list before it is sent again: no SMS
doubled is the sender's own doing.

While load drivers register complaints at intake and take each through its life —
some customers first opt out by SMS (退订); the duty manager dispatches, the department
accepts and replies, the customer answers the satisfaction question (by SMS to the
gateway, or on the phone to an agent) — a fault loop kills, in turn, the Kafka broker,
the PostgreSQL server and every API and worker process (the workers hold each
service's consumer, outbox relay, schedulers and notify's sender), and starts each
again the way `make run` does. Drivers retry what failed, with the same
Idempotency-Key for a registration, and each keeps its own record of what the APIs
confirmed. Then the faults stop, the system settles, and the harness checks that the
record is whole (integrity: not empty, every complaint intake acknowledged has one)
before it counts:

- every complaint intake acknowledged (2xx) exists in intake, escalation and
  analytics, in the state its confirmed actions imply ("lost", "wrong state");
- no driver gave up waiting (a satisfaction question that never came, say);
- every history verifies, and holds each confirmed action once ("histories differing");
- analytics counts as many complaints as intake holds;
- the SMS oracle (tests/chaos/oracle.py): from the record alone, every SMS that must
  exist, by kind, against what the phones received at the provider: missing and extra
  (a duplicate is an extra).

All the counts must be zero.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from shared.vocabulary import Action, State
from tests.chaos import oracle
from tests.chaos.oracle import OPTED_OUT, REGISTERED, Life, QuietHours, Received

ROOT = Path(__file__).resolve().parents[2]
STACK = "chaos"
RUN = ROOT / ".run" / STACK
PORT_BASE = 8100
INTAKE = f"http://127.0.0.1:{PORT_BASE + 1}"
ESCALATION = f"http://127.0.0.1:{PORT_BASE + 2}"
NOTIFY = f"http://127.0.0.1:{PORT_BASE + 3}"
ANALYTICS = f"http://127.0.0.1:{PORT_BASE + 4}"
GATEWAY = f"http://127.0.0.1:{PORT_BASE + 90}"
PYTHON = ROOT / ".venv" / "bin" / "python"

SERVICES = ("intake", "escalation", "notify", "analytics")
PROCESSES = tuple(f"{s}-{part}" for s in SERVICES for part in ("api", "worker"))
# The parts started and killed by their own scripts.
SCRIPTS = {"kafka": "kafka.sh", "postgres": "postgres.sh"}

DUTY_MANAGER = ("DM01", "+8613900139001")
DEPARTMENTS = {"billing": "+8613700137001", "network": "+8613700137002"}
CLERKS = {"billing": "B07", "network": "N01"}

# The system's own settings for the run: no quiet hours (customer SMS would wait for
# the morning), no digest for the duty manager (each notice is checked one by one) and
# no daily caps (a busy run's duty manager gets more than a day's worth).
QUIET = QuietHours(clock(0, 0), clock(0, 0))  # start == end: never quiet
SYSTEM_ENV = {
    "NOTIFY_QUIET_HOURS_START": QUIET.start.strftime("%H:%M"),
    "NOTIFY_QUIET_HOURS_END": QUIET.end.strftime("%H:%M"),
    "NOTIFY_STAFF_RATE_LIMIT": "0",
    "NOTIFY_STAFF_SMS_DAILY_CAP": "0",
    "NOTIFY_CUSTOMER_SMS_DAILY_CAP": "0",
    # A provider that does not deduplicate: lost answers are looked up, never trusted.
    "NOTIFY_GATEWAY_DEDUPLICATE": "0",
    # Late answers cost the sender its timeout: a short one keeps the run short. A sender
    # that died mid-call has its messages taken up (and looked up) after the lease.
    "NOTIFY_HTTP_TIMEOUT_SECONDS": "2",
    "NOTIFY_SEND_LEASE_SECONDS": "20",
    "NOTIFY_GATEWAY_KEEP": "200000",
    # Status reports come seconds after the send, as a real provider's do: a sender that
    # lost an answer must find out for itself (look the message up) before they come.
    "NOTIFY_GATEWAY_DELIVERY_DELAY": "3",
    "LOG_LEVEL": "WARNING",
    # The oracle derives the SMS of each complaint's life; a hot-issue alert belongs to
    # no complaint (its delivery, once, is tested in tests/notify/test_hot_issues.py).
    "ANALYTICS_HOT_ISSUE_CHECK_SECONDS": "0",
    # The drivers are machine clients registering as fast as the system takes them.
    "RATE_LIMIT_TOKEN_WRITES_PER_MINUTE": "0",
    "RATE_LIMIT_ADDRESS_WRITES_PER_MINUTE": "0",
}
# The caller's own stack (a test run's ports and directories) never leaks into this one.
FOREIGN = (
    "DATABASE_URL",
    "SCHEMA_PREFIX",
    "RUN_DIR",
    "KAFKA_PORT",
    "KAFKA_CONTROLLER_PORT",
    "KAFKA_DIR",
    "KAFKA_SECURE",
    "KAFKA_SECURE_PORT",
    "KAFKA_SECRETS",
    "KAFKA_BOOTSTRAP_SERVERS",
    "PG_PORT",
    "PG_DIR",
    "PG_URL",
)


@dataclass(frozen=True)
class Profile:
    name: str
    drivers: int  # complaints driven at once
    rounds: int  # times every part is killed
    downtime: tuple[float, float]  # seconds a killed part stays down
    gap: float  # seconds between one restart and the next kill
    settle: float  # seconds allowed for the system to catch up afterwards
    # Notify's provider adapter: `twilio` looks a lost answer up before sending again;
    # `dev` trusts the provider to recognise a resend (this one does not).
    provider: str = "twilio"
    # Shares of sends the provider takes but answers late, or never (connection cut).
    late_share: float = 0.1
    drop_share: float = 0.1
    load_seconds: float = 0.0  # with no rounds of kills: how long new complaints start

    def env(self) -> dict[str, str]:
        return {
            "NOTIFY_PROVIDER": self.provider,
            "NOTIFY_GATEWAY_LATE_SHARE": str(self.late_share),
            "NOTIFY_GATEWAY_DROP_SHARE": str(self.drop_share),
        }


SHORT = Profile("short", drivers=8, rounds=1, downtime=(1.0, 2.5), gap=2.0, settle=150)
LONG = Profile("long", drivers=12, rounds=3, downtime=(1.0, 8.0), gap=5.0, settle=300)
# The deliberate fault: a sender that trusts the provider to deduplicate, against one
# that does not, with half the answers lost. No kills: the doubles are the sender's.
TRUSTING = Profile(
    "trusting sender",
    drivers=3,
    rounds=0,
    downtime=(0.0, 0.0),
    gap=0.0,
    settle=60,
    provider="dev",
    late_share=0.0,
    drop_share=0.5,
    load_seconds=12.0,
)


# --- the system -------------------------------------------------------------------------


# The running profile's settings, for every process started or started again.
_profile_env: dict[str, str] = SHORT.env()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN}
    return {**env, **SYSTEM_ENV, **_profile_env, "STACK": STACK, "RUN_DIR": str(RUN)}


def _run(*argv: str, check: bool = True, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        cwd=ROOT,
        env=_env(),
        check=check,
        text=True,
        capture_output=quiet,
    )


def script(name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(str(ROOT / "scripts" / name), *args, check=check)


def stack(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(str(PYTHON), str(ROOT / "scripts" / "stack.py"), *args, check=check)


def up() -> None:
    """Start whatever is not running (the broker, the database, any process)."""
    done = stack("up", "--db", "postgres", "--port-base", str(PORT_BASE), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the system did not start:\n{done.stdout}\n{done.stderr}")


def restart(part: str) -> None:
    """Start a killed part again: the broker with its script, a process as `up` would."""
    if part in SCRIPTS:
        script(SCRIPTS[part], "start")
        return
    done = stack("revive", check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{part} did not start again:\n{done.stdout}\n{done.stderr}")


def fresh_system() -> None:
    stack("down", check=False)
    script("kafka.sh", "reset", check=False)
    script("postgres.sh", "reset", check=False)
    up()


def pg_url() -> str:
    return script("postgres.sh", "url").stdout.strip()


def token(role: str, staff: str, department: str | None = None) -> dict[str, str]:
    args = ["token", "--role", role, "--staff", staff]
    if department:
        args += ["--department", department]
    issued = stack(*args).stdout.strip().splitlines()[-1]
    return {"Authorization": f"Bearer {issued}"}


def pid_of(process: str) -> int | None:
    try:
        pid = int((RUN / "pids" / f"{process}.pid").read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def kill(part: str) -> None:
    """kill -9: no shutdown hooks, no flushing, no goodbye to the broker."""
    if part in SCRIPTS:
        script(SCRIPTS[part], "kill")
        return
    pid = pid_of(part)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


# --- the load ---------------------------------------------------------------------------


def complaint_texts() -> list[tuple[str, str]]:
    """(category, description) pairs from the real messages in data/."""
    categories = {
        "城乡建设": "urban_construction",
        "环境保护": "environment",
        "交通运输": "transport",
        "教育文体": "education_culture_sports",
        "劳动和社会保障": "labour_social_security",
        "商贸旅游": "commerce_tourism",
        "卫生计生": "health_family_planning",
    }
    rows: list[tuple[str, str]] = []
    with (ROOT / "data" / "gov_messages_labelled.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            body = " ".join((row.get("留言详情") or "").split())[:400]
            if body:
                rows.append((categories.get(row.get("一级分类") or "", "other"), body))
    return rows or [("billing", "上月话费账单多扣了 30 元，客服一直没有回复。")]


# The state each confirmed step leaves the complaint in.
STATE_AFTER = {
    REGISTERED: State.WITH_DUTY_MANAGER,
    Action.DISPATCH: State.DISPATCHED,
    Action.ACCEPT: State.IN_PROGRESS,
    Action.REPLY: State.REPLIED,
    Action.FEEDBACK: State.CLOSED,  # satisfied: the complaint closes
}


@dataclass
class Tracked:
    key: str
    phone: str
    department: str
    by_sms: bool
    opts_out: bool  # the customer texts 退订 before calling
    category: str
    description: str
    life: Life
    id: str | None = None

    @property
    def reference(self) -> str | None:
        return self.life.reference

    @property
    def expected_state(self) -> str | None:
        done = [c.what for c in self.life.record if c.what in STATE_AFTER]
        return STATE_AFTER[done[-1]] if done else None


class GaveUp(Exception):
    pass


class Driver:
    """Takes complaints through their lives against a system that keeps failing, and
    keeps its own record of what the APIs confirmed (each Tracked's `life`)."""

    def __init__(self, tokens: dict[str, dict[str, str]], texts: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.texts = texts
        self.lock = threading.Lock()
        self.tracked: list[Tracked] = []
        self.stop_new = threading.Event()
        self.deadline = float("inf")  # after it, drivers stop retrying
        self.errors: collections.Counter[str] = collections.Counter()
        self.gave_up: list[str] = []
        self._n = 0
        # Customers' numbers are this run's own: a system kept from an earlier run
        # remembers its customers' opt-outs.
        self._tag = int(time.time() / 10) % 10_000

    # -- retrying one call ---------------------------------------------------------------

    def call(
        self,
        client: httpx.Client,
        method: str,
        url: str,
        *,
        done: Callable[[], bool] | None = None,
        what: str,
        **kw: Any,
    ) -> httpx.Response | None:
        """The call until it answers 2xx; None when `done()` says it already happened
        (the answer to an earlier try was lost with the process that gave it)."""
        pause = 0.1
        while time.monotonic() < self.deadline:
            try:
                answer = client.request(method, url, **kw)
                if answer.is_success:
                    return answer
                self.errors[f"{what}: {answer.status_code}"] += 1
            except httpx.HTTPError as exc:
                self.errors[f"{what}: {type(exc).__name__}"] += 1
            if done is not None and self._quietly(done):
                return None
            time.sleep(pause)
            pause = min(pause * 1.6, 2.0)
        raise GaveUp(what)

    def _quietly(self, check: Callable[[], bool]) -> bool:
        try:
            return check()
        except httpx.HTTPError:
            return False

    def wait(self, check: Callable[[], bool], what: str) -> None:
        pause = 0.1
        while time.monotonic() < self.deadline:
            if self._quietly(check):
                return
            time.sleep(pause)
            pause = min(pause * 1.5, 1.0)
        raise GaveUp(what)

    # -- one complaint's life ------------------------------------------------------------

    def state(self, client: httpx.Client, t: Tracked) -> str | None:
        answer = client.get(f"{ESCALATION}/complaints/{t.id}", headers=self.tokens["dm"])
        return answer.json()["state"] if answer.status_code == 200 else None

    def intake_status(self, client: httpx.Client, t: Tracked) -> str | None:
        answer = client.get(f"{INTAKE}/complaints/{t.id}", headers=self.tokens["agent"])
        return answer.json()["status"] if answer.status_code == 200 else None

    def past(self, client: httpx.Client, t: Tracked, *states: str) -> Callable[[], bool]:
        return lambda: self.state(client, t) in states

    def act(
        self, client: httpx.Client, t: Tracked, action: Action, later: tuple[str, ...], **kw: Any
    ) -> None:
        """One lifecycle action, recorded once it is confirmed: answered 2xx, or seen
        done (the complaint moved past it) after an answer was lost."""
        self.call(
            client,
            "POST",
            f"{ESCALATION}/complaints/{t.id}/actions/{action.api_name}",
            what=action.api_name,
            done=self.past(client, t, *later),
            **kw,
        )
        t.life.confirm(action.api_name)

    def text(self, client: httpx.Client, t: Tracked, words: str, what: str) -> None:
        """The customer's SMS, through the gateway to notify's inbound webhook."""
        self.call(
            client,
            "POST",
            f"{GATEWAY}/api/reply",
            what=what,
            json={"from": t.phone, "text": words},
            done=self.past(client, t, State.CLOSED) if t.id else None,
        )

    def live(self, client: httpx.Client, t: Tracked) -> None:
        if t.opts_out:
            self.text(client, t, "退订", "customer's 退订")
            t.life.confirm(OPTED_OUT)
        answer = self.call(
            client,
            "POST",
            f"{INTAKE}/complaints",
            what="register",
            headers={**self.tokens["agent"], "Idempotency-Key": t.key},
            json={
                "customer_phone": t.phone,
                "customer_name": "测试客户",
                "channel": "phone",
                "category": t.category,
                "severity": "normal",
                "nature": "genuine",
                "strong_emotion": False,
                "description": t.description,
            },
        )
        assert answer is not None
        t.id, t.life.reference = answer.json()["id"], answer.json()["reference"]
        t.life.confirm(REGISTERED)

        self.wait(self.past(client, t, State.WITH_DUTY_MANAGER), "the complaint at the duty desk")
        dm, clerk = self.tokens["dm"], self.tokens[t.department]
        later = (State.DISPATCHED, State.IN_PROGRESS, State.REPLIED, State.CLOSED)
        instructions = {"department_id": t.department, "instructions": "请核实并回复客户"}
        self.act(client, t, Action.DISPATCH, later, headers=dm, json=instructions)
        self.act(client, t, Action.ACCEPT, later[1:], headers=clerk)
        resolution = {"resolution": "已核实并处理，费用已退还", "root_cause": "system"}
        self.act(client, t, Action.REPLY, later[2:], headers=clerk, json=resolution)
        if t.by_sms:
            # The customer answers the satisfaction question on their phone.
            self.wait(
                lambda: any(
                    "回复1" in m["body"] and t.reference in m["body"]
                    for m in client.get(f"{GATEWAY}/api/messages", params={"to": t.phone}).json()[
                        "messages"
                    ]
                ),
                "the satisfaction question on the customer's phone",
            )
            self.text(client, t, "1", "customer's SMS")
        else:
            # An agent's follow-up call records the verdict, once intake knows of the reply.
            self.wait(lambda: self.intake_status(client, t) == State.REPLIED, "intake's read copy")
            self.call(
                client,
                "POST",
                f"{INTAKE}/complaints/{t.id}/feedback",
                what="feedback",
                headers=self.tokens["agent"],
                json={"result": "satisfied", "comment": "满意"},
                done=self.past(client, t, State.CLOSED),
            )
        t.life.confirm(Action.FEEDBACK.api_name)
        self.wait(self.past(client, t, State.CLOSED), "the complaint closed")

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop_new.is_set():
                with self.lock:
                    self._n += 1
                    n = self._n
                    category, description = self.texts[n % len(self.texts)]
                    department = ("billing", "network")[n % 2]
                    phone = f"+86135{self._tag:04d}{n:04d}"
                    opts_out = n % 5 == 1
                    t = Tracked(
                        key=str(uuid.uuid4()),
                        phone=phone,
                        department=department,
                        by_sms=n % 3 == 0 and not opts_out,
                        opts_out=opts_out,
                        category=category,
                        description=description,
                        life=Life(customer=phone, department_phone=DEPARTMENTS[department]),
                    )
                    self.tracked.append(t)
                try:
                    self.live(client, t)
                except GaveUp as exc:
                    self.errors[f"gave up waiting for {exc}"] += 1
                    self.gave_up.append(f"{t.reference or t.key}: {exc}")
                    return


# --- the faults -------------------------------------------------------------------------


@dataclass
class FaultLog:
    kills: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def inflict(profile: Profile, rng: random.Random, stop: threading.Event, log: FaultLog) -> None:
    if not profile.rounds:
        stop.wait(profile.load_seconds)
        return
    parts = ["kafka", "postgres", *PROCESSES]
    for n in range(profile.rounds):
        order = parts if n == 0 else rng.sample(parts, len(parts))
        for part in order:
            if stop.is_set():
                return
            started = time.monotonic()
            kill(part)
            down = rng.uniform(*profile.downtime) * (2 if part in SCRIPTS else 1)
            stop.wait(down)
            try:
                restart(part)
            except (RuntimeError, subprocess.CalledProcessError) as exc:  # reported, then `up`
                log.failures.append(f"{part}: {exc}")
                up()
            log.kills.append(f"{part} ({time.monotonic() - started:.1f}s down)")
            say(f"  killed and restarted {part} ({time.monotonic() - started:.1f}s)")
            stop.wait(profile.gap)


# --- the reckoning ----------------------------------------------------------------------


@dataclass
class Counts:
    registered: int = 0
    acknowledged: int = 0
    lost: int = 0
    wrong_state: int = 0
    gave_up: int = 0
    broken_histories: int = 0
    histories_differing: int = 0
    analytics_mismatch: int = 0
    sms_missing: int = 0
    sms_extra: int = 0
    sms: dict[str, oracle.Tally] = field(default_factory=dict)
    # Why the record cannot be trusted; while any, no figure is printed nor passes.
    integrity: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    MUST_BE_ZERO = (
        "lost",
        "wrong_state",
        "gave_up",
        "broken_histories",
        "histories_differing",
        "analytics_mismatch",
        "sms_missing",
        "sms_extra",
    )

    @property
    def ok(self) -> bool:
        return not self.integrity and all(getattr(self, n) == 0 for n in self.MUST_BE_ZERO)

    def table(self) -> str:
        if self.integrity:
            return "\n".join(
                ["  the record failed its integrity checks; no figures:"]
                + [f"    {problem}" for problem in self.integrity]
            )
        rows = [
            ("registered (attempted)", self.registered),
            ("acknowledged by intake (2xx)", self.acknowledged),
            ("lost", self.lost),
            ("in a state its actions do not imply", self.wrong_state),
            ("drivers that gave up waiting", self.gave_up),
            ("broken histories", self.broken_histories),
            ("histories differing from the confirmed actions", self.histories_differing),
            ("analytics count different from intake's", self.analytics_mismatch),
        ]
        lines = [f"  {label:<48} {value:>7}" for label, value in rows]
        lines += ["", f"  {'SMS at the provider, by kind':<28} expected received missing   extra"]
        total = oracle.Tally()
        for kind, tally in self.sms.items():
            lines.append(
                f"  {kind:<28} {tally.expected:>8} {tally.received:>8}"
                f" {tally.missing:>7} {tally.extra:>7}"
            )
            for name in ("expected", "received", "missing", "extra"):
                setattr(total, name, getattr(total, name) + getattr(tally, name))
        lines.append(
            f"  {'all':<28} {total.expected:>8} {total.received:>8}"
            f" {total.missing:>7} {total.extra:>7}"
        )
        return "\n".join(lines)


def _rows(url: str, sql: str, **values: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), values))
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, dict[str, str]]:
    return {
        "intake": dict(_rows(url, "SELECT id, status FROM intake.complaints")),
        "escalation": dict(_rows(url, "SELECT id, state FROM escalation.complaint_states")),
        "analytics": dict(_rows(url, "SELECT complaint_id, state FROM analytics.complaint_facts")),
    }


def settled(url: str, acknowledged: list[Tracked]) -> bool:
    seen = snapshot(url)
    pending = _rows(
        url,
        "SELECT (SELECT count(*) FROM notify.messages"
        "         WHERE status IN ('pending', 'sending', 'unknown', 'held'))"
        " + (SELECT count(*) FROM intake.outbox WHERE sent_at IS NULL)"
        " + (SELECT count(*) FROM escalation.outbox WHERE sent_at IS NULL)"
        " + (SELECT count(*) FROM notify.outbox WHERE sent_at IS NULL)",
    )[0][0]
    return pending == 0 and all(
        seen[store].get(t.id or "") == t.expected_state
        for t in acknowledged
        for store in ("intake", "escalation", "analytics")
    )


def integrity(tracked: list[Tracked], at_provider: list[dict[str, Any]] | None) -> list[str]:
    """What must hold before any count means anything."""
    problems = []
    lives = [t.life for t in tracked]
    if not any(life.when(REGISTERED) for life in lives):
        problems.append("the record holds no registration: the load never got through")
    for t in tracked:
        registered = t.life.when(REGISTERED)
        if t.id and (len(registered) != 1 or not t.reference):
            problems.append(f"{t.id}: acknowledged by intake, {len(registered)} records of it")
        if registered and not t.id:
            problems.append(f"{t.key}: recorded as registered without an id")
    if at_provider is None:
        problems.append("the provider's list of messages could not be read")
    elif not any(m["direction"] == "out" for m in at_provider):
        problems.append("the provider holds no SMS at all")
    return problems


def reckon(
    url: str, driver: Driver, client: httpx.Client, dm: dict[str, str], began: datetime
) -> Counts:
    tracked = driver.tracked
    acknowledged = [t for t in tracked if t.id]
    counts = Counts(registered=len(tracked), acknowledged=len(acknowledged))
    try:
        at_provider = client.get(f"{GATEWAY}/api/messages").json()["messages"]
    except (httpx.HTTPError, ValueError, KeyError):
        at_provider = None
    counts.integrity = integrity(tracked, at_provider)
    histories: dict[str, list[str]] = {}
    for t in acknowledged:
        entries = client.get(f"{ESCALATION}/complaints/{t.id}/history", headers=dm)
        if entries.status_code != 200:
            counts.integrity.append(f"history of {t.reference}: {entries.status_code}")
            continue
        histories[t.id or ""] = [entry["action"] for entry in entries.json()]
    if counts.integrity:
        return counts

    seen = snapshot(url)
    for t in acknowledged:
        states = {store: seen[store].get(t.id or "") for store in seen}
        if None in states.values():
            counts.lost += 1
            counts.notes.append(f"lost {t.reference}: {states}")
        elif set(states.values()) != {t.expected_state}:
            counts.wrong_state += 1
            counts.notes.append(f"{t.reference} expected {t.expected_state}: {states}")
    counts.gave_up = len(driver.gave_up)
    counts.notes += [f"gave up: {what}" for what in driver.gave_up]
    if len(seen["analytics"]) != len(seen["intake"]):
        counts.analytics_mismatch = abs(len(seen["analytics"]) - len(seen["intake"]))
    overview = client.get(
        f"{ANALYTICS}/analytics/overview",
        params={
            "from": (datetime.now(UTC) - timedelta(days=2)).date().isoformat(),
            "to": (datetime.now(UTC) + timedelta(days=2)).date().isoformat(),
        },
        headers=driver.tokens["viewer"],
    )
    if overview.status_code != 200 or overview.json()["volume"] != len(seen["intake"]):
        counts.analytics_mismatch += 1
        counts.notes.append(f"analytics overview: {overview.status_code} {overview.text[:200]}")

    # Histories: the chain verifies, and holds each confirmed action once.
    for t in acknowledged:
        verdict = client.get(f"{ESCALATION}/complaints/{t.id}/history/verify", headers=dm)
        if verdict.status_code != 200 or not verdict.json()["valid"]:
            counts.broken_histories += 1
            counts.notes.append(f"history of {t.reference}: {verdict.text[:200]}")
        differences = oracle.history_differences(t.life, histories[t.id or ""])
        if differences:
            counts.histories_differing += 1
            counts.notes.append(f"history of {t.reference}: {'; '.join(differences)}")

    # SMS: what the record implies, against what the phones received at the provider.
    assert at_provider is not None
    received = [
        Received(m["phone"], m["body"], datetime.fromisoformat(m["created_at"]))
        for m in at_provider
        if m["direction"] == "out"
    ]
    expected = oracle.expected_sms(
        [t.life for t in tracked], duty_manager=DUTY_MANAGER[1], now=datetime.now(UTC), quiet=QUIET
    )
    sms = oracle.count_sms(
        expected,
        received,
        duty_manager=DUTY_MANAGER[1],
        departments=DEPARTMENTS.values(),
        quiet=QUIET,
    )
    counts.sms = sms.by_kind
    counts.sms_missing, counts.sms_extra = sms.missing, sms.extra
    counts.notes += sms.notes[:20]
    stored = _rows(
        url,
        "SELECT count(*) FROM notify.messages"
        " WHERE direction = 'out' AND status NOT IN ('suppressed', 'digested')"
        " AND created_at >= :began",
        began=began,
    )[0][0]
    calls = client.get(f"{GATEWAY}/api/stats").json()
    counts.notes.append(
        f"SMS at the provider: {len(received)}, from {calls['sends']} send calls and "
        f"{calls['lookups']} look-ups; stored by notify: {stored}"
    )
    return counts


# --- the run ----------------------------------------------------------------------------


def say(line: str) -> None:
    print(line, flush=True)


def seed(tokens: dict[str, dict[str, str]], client: httpx.Client) -> None:
    admin = tokens["admin"]

    def post(path: str, body: dict[str, Any]) -> None:
        answer = client.post(f"{ESCALATION}{path}", json=body, headers=admin)
        if answer.status_code not in (201, 409):
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text}")

    for department, phone in DEPARTMENTS.items():
        post("/departments", {"id": department, "name": department, "contact_phones": [phone]})
    post(
        "/staff",
        {
            "id": DUTY_MANAGER[0],
            "name": "值班经理",
            "phone": DUTY_MANAGER[1],
            "role": "duty_manager",
        },
    )
    # Tokens go only to people in the directory: the caller-facing staff too.
    for staff, role, phone in (
        ("A001", "agent", "+8613900139200"),
        ("V01", "viewer", "+8613900139201"),
    ):
        post("/staff", {"id": staff, "name": staff, "phone": phone, "role": role})
    for n, (department, staff) in enumerate(CLERKS.items()):
        post(
            "/staff",
            {
                "id": staff,
                "name": f"{department} clerk",
                "phone": f"+86139001391{n:02d}",
                "role": "department",
                "department_id": department,
            },
        )
    now = datetime.now(UTC)
    post(
        "/roster/shifts",
        {
            "staff_id": DUTY_MANAGER[0],
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(hours=12)).isoformat(),
        },
    )


def running() -> bool:
    return all(pid_of(p) for p in (*PROCESSES, "sms-gateway"))


def switch_notify() -> None:
    """Notify and its provider again, with the running profile's settings; the provider
    starts empty, so what the phones received is this run's."""
    for process in ("notify-api", "notify-worker", "sms-gateway"):
        kill(process)
    restart("notify")


# The tokens of the system running, for a run that reuses it.
_tokens: dict[str, dict[str, str]] = {}


def people(client: httpx.Client) -> dict[str, dict[str, str]]:
    """The directory seeded and everyone's token. The first administrator (a bootstrap
    grant) seeds the directory; everyone else's token is issued once it has them, at
    once (each is a process of its own)."""
    tokens = {"admin": token("admin", "AD01")}
    seed(tokens, client)
    wanted = {
        "agent": ("agent", "A001", None),
        "dm": ("duty_manager", DUTY_MANAGER[0], None),
        "viewer": ("viewer", "V01", None),
        **{d: ("department", s, d) for d, s in CLERKS.items()},
    }
    with ThreadPoolExecutor(len(wanted)) as pool:
        issued = {name: pool.submit(token, *args) for name, args in wanted.items()}
        return tokens | {name: future.result() for name, future in issued.items()}


@contextlib.contextmanager
def system(keep: bool, reuse: bool) -> Iterator[None]:
    started = time.monotonic()
    if reuse and running():
        say("the running system, notify and its provider started again with this run's settings")
        switch_notify()
    else:
        say(f"starting a fresh system (STACK={STACK}: Kafka, PostgreSQL, 4 APIs, 4 workers, SMS)")
        _tokens.clear()
        fresh_system()
    say(f"  up in {time.monotonic() - started:.0f}s")
    try:
        yield
    finally:
        if not keep:
            down()


def down() -> None:
    stack("down", check=False)


def run(
    profile: Profile, *, seed_value: int = 7, keep: bool = False, reuse: bool = False
) -> Counts:
    """One run; `reuse` takes a system left running by an earlier run (`keep`) instead of
    a fresh one, starting only notify and the provider again."""
    global _profile_env
    _profile_env = profile.env()
    rng = random.Random(seed_value)
    random.seed(seed_value)
    with system(keep, reuse), httpx.Client(timeout=30) as client:
        ready = time.monotonic()
        tokens = _tokens if reuse and _tokens else people(client)
        _tokens.update(tokens)
        driver = Driver(tokens, complaint_texts())
        began = datetime.now(UTC)
        say(f"  directory seeded, tokens issued in {time.monotonic() - ready:.0f}s")
        threads = [
            threading.Thread(target=driver.run, name=f"driver-{n}", daemon=True)
            for n in range(profile.drivers)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        say(
            f"load: {profile.drivers} drivers; faults: every part killed {profile.rounds}x; "
            f"provider: {profile.provider} against one that does not deduplicate, "
            f"{profile.late_share:.0%} of answers late, {profile.drop_share:.0%} cut"
        )
        time.sleep(3)  # some complaints in flight before the first kill
        faults = FaultLog()
        stop = threading.Event()
        inflict(profile, rng, stop, faults)
        driver.stop_new.set()
        say(f"faults over after {time.monotonic() - started:.0f}s; letting the system settle")
        settling = time.monotonic()
        up()  # everything running, whatever the last restart did
        driver.deadline = time.monotonic() + profile.settle
        for thread in threads:
            thread.join(timeout=profile.settle + 30)
        url = pg_url()
        acknowledged = [t for t in driver.tracked if t.id]
        deadline = max(driver.deadline, time.monotonic() + 60)
        while time.monotonic() < deadline and not settled(url, acknowledged):
            time.sleep(1)
        say(f"  settled in {time.monotonic() - settling:.0f}s; counting")
        counts = reckon(url, driver, client, tokens["dm"], began)
        counts.notes.append(f"kills: {', '.join(faults.kills)}")
        counts.notes += [f"restart needed a second try: {f[:200]}" for f in faults.failures]
        counts.notes.append(
            "retried calls: "
            + ", ".join(f"{k} x{n}" for k, n in sorted(driver.errors.items(), key=str))
        )
        counts.notes.append(f"wall time {time.monotonic() - started:.0f}s")
    return counts


def report(profile: Profile, counts: Counts) -> str:
    lines = [f"fault injection ({profile.name} form):", counts.table(), ""]
    lines += [f"  - {note}" for note in counts.notes[:40]]
    lines.append("")
    if counts.integrity:
        lines.append("FAILED: the record cannot be trusted")
    else:
        lines.append("OK: nothing lost, nothing doubled" if counts.ok else "FAILED: see the counts")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.harness", description=__doc__)
    parser.add_argument("--long", action="store_true", help="three rounds of kills, longer outages")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="leave the system running")
    parser.add_argument("--json", type=Path, help="also write the counts here")
    args = parser.parse_args(argv)
    profile = LONG if args.long else SHORT
    counts = run(profile, seed_value=args.seed, keep=args.keep)
    say(report(profile, counts))
    if args.json:
        body = {k: getattr(counts, k) for k in ("registered", "acknowledged", *Counts.MUST_BE_ZERO)}
        body |= {
            "sms": {kind: vars(tally) for kind, tally in counts.sms.items()},
            "integrity": counts.integrity,
            "notes": counts.notes,
        }
        args.json.write_text(json.dumps(body, ensure_ascii=False, indent=2))
    return 0 if counts.ok else 1


if __name__ == "__main__":
    sys.exit(main())
