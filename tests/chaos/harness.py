"""Proof under fire: the whole system under load while its parts are killed with
SIGKILL and started again, then a count of what was lost or doubled.

    make chaos                                  the long form
    python -m tests.chaos.harness [--long] [--seed N] [--keep]
    tests/chaos/test_faults.py                  the short form, run by `make test`

It runs a system of its own on loopback, STACK=chaos (Kafka 39092, PostgreSQL 55435,
the APIs on 8101-8104 and the development SMS gateway on 8190), wiped and started by
the project's scripts, stopped afterwards (`--keep` leaves it running to look at).

While load drivers register complaints at intake and take each through its life —
the duty manager dispatches it, the department accepts and replies, the customer
answers the satisfaction question (by SMS to the gateway, or on the phone to an
agent) — a fault loop kills, in turn, the Kafka broker and every API and worker
process (the workers hold each service's consumer, outbox relay, schedulers and
notify's sender), and starts each again the way `make run` does. Drivers retry what
failed, with the same Idempotency-Key for a registration. Then the faults stop, the
system settles, and the harness checks every complaint intake acknowledged (2xx):

- it exists in intake, escalation and analytics, in the state its confirmed actions
  imply, the same in all three ("lost" counts those that do not);
- no phone received the same SMS twice, and every SMS notify stored reached the
  gateway ("duplicated SMS", "SMS not delivered");
- its history verifies ("broken histories");
- analytics counts as many complaints as intake holds.

The counts are printed; all but the first two must be zero.
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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

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

DUTY_MANAGER = ("DM01", "+8613900139001")
DEPARTMENTS = {"billing": "+8613700137001", "network": "+8613700137002"}
CLERKS = {"billing": "B07", "network": "N01"}

# The system's own settings for the run: no quiet hours (customer SMS would wait for
# the morning) and no digest for the duty manager (each notice is checked one by one).
SYSTEM_ENV = {
    "NOTIFY_QUIET_HOURS_START": "00:00",
    "NOTIFY_QUIET_HOURS_END": "00:00",
    "NOTIFY_STAFF_RATE_LIMIT": "0",
    "NOTIFY_GATEWAY_KEEP": "200000",
    "NOTIFY_GATEWAY_DELIVERY_DELAY": "0.05",
    "LOG_LEVEL": "WARNING",
    # The drivers are machine clients registering as fast as the system takes them.
    "RATE_LIMIT_TOKEN_WRITES_PER_MINUTE": "0",
    "RATE_LIMIT_ADDRESS_WRITES_PER_MINUTE": "0",
}


@dataclass(frozen=True)
class Profile:
    name: str
    drivers: int  # complaints driven at once
    rounds: int  # times every part is killed
    downtime: tuple[float, float]  # seconds a killed part stays down
    gap: float  # seconds between one restart and the next kill
    settle: float  # seconds allowed for the system to catch up afterwards


SHORT = Profile("short", drivers=8, rounds=1, downtime=(1.0, 2.5), gap=2.0, settle=150)
LONG = Profile("long", drivers=12, rounds=3, downtime=(1.0, 8.0), gap=5.0, settle=300)


# --- the system -------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SCHEMA_PREFIX")}
    return {**env, **SYSTEM_ENV, "STACK": STACK, "RUN_DIR": str(RUN)}


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
    if part == "kafka":
        script("kafka.sh", "start")
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
    if part == "kafka":
        script("kafka.sh", "kill")
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


STEPS = ("registered", "dispatched", "accepted", "replied", "closed")
# The state each confirmed step leaves the complaint in.
STATE_AFTER = {
    "registered": "with_duty_manager",
    "dispatched": "dispatched",
    "accepted": "in_progress",
    "replied": "replied",
    "closed": "closed",
}


@dataclass
class Tracked:
    key: str
    phone: str
    department: str
    by_sms: bool
    category: str
    description: str
    id: str | None = None
    reference: str | None = None
    done: str | None = None  # the last step confirmed

    @property
    def expected_state(self) -> str | None:
        return STATE_AFTER.get(self.done or "")


class GaveUp(Exception):
    pass


class Driver:
    """Takes complaints through their lives against a system that keeps failing."""

    def __init__(self, tokens: dict[str, dict[str, str]], texts: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.texts = texts
        self.lock = threading.Lock()
        self.tracked: list[Tracked] = []
        self.stop_new = threading.Event()
        self.deadline = float("inf")  # after it, drivers stop retrying
        self.errors: collections.Counter[str] = collections.Counter()
        self._n = 0

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

    def live(self, client: httpx.Client, t: Tracked) -> None:
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
        t.id, t.reference = answer.json()["id"], answer.json()["reference"]
        t.done = "registered"

        self.wait(self.past(client, t, "with_duty_manager"), "the complaint at the duty desk")
        dm, clerk = self.tokens["dm"], self.tokens[t.department]
        later = ("dispatched", "in_progress", "replied", "closed")
        self.call(
            client,
            "POST",
            f"{ESCALATION}/complaints/{t.id}/actions/dispatch",
            what="dispatch",
            headers=dm,
            json={"department_id": t.department, "instructions": "请核实并回复客户"},
            done=self.past(client, t, *later),
        )
        t.done = "dispatched"
        self.call(
            client,
            "POST",
            f"{ESCALATION}/complaints/{t.id}/actions/accept",
            what="accept",
            headers=clerk,
            done=self.past(client, t, *later[1:]),
        )
        t.done = "accepted"
        self.call(
            client,
            "POST",
            f"{ESCALATION}/complaints/{t.id}/actions/reply",
            what="reply",
            headers=clerk,
            json={"resolution": "已核实并处理，费用已退还", "root_cause": "system"},
            done=self.past(client, t, *later[2:]),
        )
        t.done = "replied"
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
            self.call(
                client,
                "POST",
                f"{GATEWAY}/api/reply",
                what="customer's SMS",
                json={"from": t.phone, "text": "1"},
                done=lambda: False,
            )
        else:
            # An agent's follow-up call records the verdict, once intake knows of the reply.
            self.wait(lambda: self.intake_status(client, t) == "replied", "intake's read copy")
            self.call(
                client,
                "POST",
                f"{INTAKE}/complaints/{t.id}/feedback",
                what="feedback",
                headers=self.tokens["agent"],
                json={"result": "satisfied", "comment": "满意"},
                done=self.past(client, t, "closed"),
            )
        self.wait(self.past(client, t, "closed"), "the complaint closed")
        t.done = "closed"

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop_new.is_set():
                with self.lock:
                    self._n += 1
                    n = self._n
                    category, description = self.texts[n % len(self.texts)]
                    t = Tracked(
                        key=str(uuid.uuid4()),
                        phone=f"+86135{n:08d}",
                        department=("billing", "network")[n % 2],
                        by_sms=n % 3 == 0,
                        category=category,
                        description=description,
                    )
                    self.tracked.append(t)
                try:
                    self.live(client, t)
                except GaveUp as exc:
                    self.errors[f"gave up waiting for {exc}"] += 1
                    return


# --- the faults -------------------------------------------------------------------------


@dataclass
class FaultLog:
    kills: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def inflict(profile: Profile, rng: random.Random, stop: threading.Event, log: FaultLog) -> None:
    parts = ["kafka", *PROCESSES]
    for n in range(profile.rounds):
        order = parts if n == 0 else rng.sample(parts, len(parts))
        for part in order:
            if stop.is_set():
                return
            started = time.monotonic()
            kill(part)
            down = rng.uniform(*profile.downtime) * (2 if part == "kafka" else 1)
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
    duplicated_sms: int = 0
    undelivered_sms: int = 0
    broken_histories: int = 0
    analytics_mismatch: int = 0
    notes: list[str] = field(default_factory=list)

    MUST_BE_ZERO = (
        "lost",
        "wrong_state",
        "duplicated_sms",
        "undelivered_sms",
        "broken_histories",
        "analytics_mismatch",
    )

    @property
    def ok(self) -> bool:
        return all(getattr(self, name) == 0 for name in self.MUST_BE_ZERO)

    def table(self) -> str:
        rows = [
            ("registered (attempted)", self.registered),
            ("acknowledged by intake (2xx)", self.acknowledged),
            ("lost", self.lost),
            ("in a state its actions do not imply", self.wrong_state),
            ("duplicated SMS", self.duplicated_sms),
            ("SMS stored but not at the gateway", self.undelivered_sms),
            ("broken histories", self.broken_histories),
            ("analytics count different from intake's", self.analytics_mismatch),
        ]
        return "\n".join(f"  {label:<42} {value:>7}" for label, value in rows)


def _rows(url: str, sql: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
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


def reckon(url: str, driver: Driver, client: httpx.Client, dm: dict[str, str]) -> Counts:
    tracked = driver.tracked
    acknowledged = [t for t in tracked if t.id]
    counts = Counts(registered=len(tracked), acknowledged=len(acknowledged))
    seen = snapshot(url)
    for t in acknowledged:
        states = {store: seen[store].get(t.id or "") for store in seen}
        if None in states.values():
            counts.lost += 1
            counts.notes.append(f"lost {t.reference}: {states}")
        elif set(states.values()) != {t.expected_state}:
            counts.wrong_state += 1
            counts.notes.append(f"{t.reference} expected {t.expected_state}: {states}")
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

    # SMS: what the phones received, against what notify stored.
    at_gateway = client.get(f"{GATEWAY}/api/messages").json()["messages"]
    received = collections.Counter(
        (m["phone"], m["body"]) for m in at_gateway if m["direction"] == "out"
    )
    doubled = {k: n for k, n in received.items() if n > 1}
    counts.duplicated_sms = sum(n - 1 for n in doubled.values())
    counts.notes += [f"SMS {n}x to {phone}: {body[:60]}" for (phone, body), n in doubled.items()]
    stored = _rows(
        url,
        "SELECT phone, body, status FROM notify.messages"
        " WHERE direction = 'out' AND status NOT IN ('suppressed', 'digested')",
    )
    missing = [
        (phone, body, status) for phone, body, status in stored if (phone, body) not in received
    ]
    counts.undelivered_sms = len(missing)
    counts.notes += [f"SMS not at the gateway ({s}): {p} {b[:60]}" for p, b, s in missing[:10]]
    assigned = {
        t.reference
        for t in acknowledged
        if any(t.reference in body for (phone, body) in received if phone == DUTY_MANAGER[1])
    }
    if len(assigned) != len(acknowledged):
        counts.undelivered_sms += len(acknowledged) - len(assigned)
        counts.notes.append(f"{len(acknowledged) - len(assigned)} complaints never reached the DM")
    counts.notes.append(
        f"SMS at the gateway: {sum(received.values())}; stored by notify: {len(stored)}"
    )

    for t in acknowledged:
        verdict = client.get(f"{ESCALATION}/complaints/{t.id}/history/verify", headers=dm)
        if verdict.status_code != 200 or not verdict.json()["valid"]:
            counts.broken_histories += 1
            counts.notes.append(f"history of {t.reference}: {verdict.text[:200]}")
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


@contextlib.contextmanager
def system(keep: bool) -> Iterator[None]:
    say(f"starting a fresh system (STACK={STACK}: Kafka, PostgreSQL, 4 APIs, 4 workers, SMS)")
    fresh_system()
    try:
        yield
    finally:
        if not keep:
            stack("down", check=False)


def run(profile: Profile, *, seed_value: int = 7, keep: bool = False) -> Counts:
    rng = random.Random(seed_value)
    random.seed(seed_value)
    with system(keep), httpx.Client(timeout=10) as client:
        # The first administrator (a bootstrap grant) seeds the directory; everyone
        # else's token is issued once the directory has them.
        tokens = {"admin": token("admin", "AD01")}
        seed(tokens, client)
        tokens |= {
            "agent": token("agent", "A001"),
            "dm": token("duty_manager", DUTY_MANAGER[0]),
            "viewer": token("viewer", "V01"),
            **{d: token("department", s, d) for d, s in CLERKS.items()},
        }
        driver = Driver(tokens, complaint_texts())
        threads = [
            threading.Thread(target=driver.run, name=f"driver-{n}", daemon=True)
            for n in range(profile.drivers)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        say(f"load: {profile.drivers} drivers; faults: every part killed {profile.rounds}x")
        time.sleep(3)  # some complaints in flight before the first kill
        faults = FaultLog()
        stop = threading.Event()
        inflict(profile, rng, stop, faults)
        driver.stop_new.set()
        say(f"faults over after {time.monotonic() - started:.0f}s; letting the system settle")
        up()  # everything running, whatever the last restart did
        driver.deadline = time.monotonic() + profile.settle
        for thread in threads:
            thread.join(timeout=profile.settle + 30)
        url = pg_url()
        acknowledged = [t for t in driver.tracked if t.id]
        deadline = max(driver.deadline, time.monotonic() + 60)
        while time.monotonic() < deadline and not settled(url, acknowledged):
            time.sleep(1)
        counts = reckon(url, driver, client, tokens["dm"])
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
        args.json.write_text(
            json.dumps(body | {"notes": counts.notes}, ensure_ascii=False, indent=2)
        )
    return 0 if counts.ok else 1


if __name__ == "__main__":
    sys.exit(main())
