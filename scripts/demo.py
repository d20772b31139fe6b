"""`make demo`: a call centre seeded through the platform's own APIs, and complaints taken
through their whole lives, each step printed with where to look.

    python scripts/demo.py [--no-start] [--timeout SECONDS]

1. If the system is not running it is started the way `make run` starts it
   (scripts/stack.py up; the same STACK, RUN_DIR, STACK_PORT_BASE, DB and the like).
2. Tokens are issued with the project's token store (what `make token` does).
3. The organisation of a city's 12345 hotline is seeded: departments with contact phones,
   duty managers, a supervisor, department clerks and heads, and a duty roster covering
   today. What is already there is kept, so the demo can run again and again.
4. Six complaints, with real citizens' messages from data/gov_messages_labelled.csv
   (each run takes texts no earlier run filed), are walked through their lives:
     A  the duty manager acknowledges it by answering "收到" to the SMS about it (from
        the desk if that SMS waits for a digest); dispatched to the wrong department and
        returned, extended, replied, and closed when the customer answers "1" to the
        satisfaction SMS;
     B  replied, the customer answers "2" and it is reopened (重办), replied again, the
        follow-up call finds nobody, and the duty manager closes it with its root cause;
     C  urgent with strong emotion: an urgent SMS (never held back) the duty manager
        answers "1", dispatched and answered at once;
     D  left waiting in a department's queue, for the queues and the dashboard;
     E  a caller on a landline with an extension: no SMS can reach it; they call again
        (催办) and the department is urged by SMS; answered, and the follow-up call
        records their verdict by the reference they read out;
     F  an anonymous web complaint: no number, no file, answered by the department.
5. The analytics views once they have caught up, and a summary table.

Every wait polls the services' state, with a timeout and a message saying what did not
arrive. The system keeps running afterwards; `make down` stops it.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.settings import AUTH_STORE, SERVICES, Settings  # noqa: E402
from shared.vocabulary import Action  # noqa: E402

T = TypeVar("T")
DATA = ROOT / "data" / "gov_messages_labelled.csv"
CENTRE_TZ = ZoneInfo(os.environ.get("ANALYTICS_TIMEZONE") or "Asia/Shanghai")


def _load_stack() -> Any:
    """scripts/stack.py: where the system runs and how it is started (one source of truth)."""
    spec = importlib.util.spec_from_file_location("stack", ROOT / "scripts" / "stack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["stack"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


stack = _load_stack()


class DemoError(Exception):
    """Something the demo needed did not happen; the message says what and where to look."""


# --- the organisation ------------------------------------------------------------------


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    contact_phones: tuple[str, ...]
    head: str  # a staff id below


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    phone: str
    role: str
    department_id: str | None = None


DEPARTMENTS = (
    Department("housing", "住房和城乡建设局 Housing and Construction", ("13700137001",), "HS02"),
    Department("hrss", "人力资源和社会保障局 Human Resources", ("13700137002",), "HR02"),
    Department("education", "教育局 Education", ("13700137003",), "ED02"),
    Department("health", "卫生健康委员会 Health Commission", ("13700137004",), "HE02"),
    Department("transport", "交通运输局 Transport", ("13700137005",), "TR02"),
    Department("commerce", "商务局 Commerce and Tourism", ("13700137006",), "CO02"),
    Department("environment", "生态环境局 Ecology and Environment", ("13700137007",), "EN02"),
)

STAFF = (
    Person("DM01", "王经理", "13900139001", "duty_manager"),
    Person("DM02", "李经理", "13900139002", "duty_manager"),
    Person("DM03", "张经理", "13900139003", "duty_manager"),
    Person("S001", "赵主任", "13900139010", "supervisor"),
    Person("Q001", "钱质检", "13900139020", "qa"),
    Person("A001", "孙话务", "13900139031", "agent"),
    Person("A002", "周话务", "13900139032", "agent"),
    Person("AD01", "吴管理员", "13900139040", "admin"),
    # The outsourcing client's representative, who reads the dashboard.
    Person("V001", "甲方代表", "13900139050", "viewer"),
    Person("HS01", "刘工", "13900139101", "department", "housing"),
    Person("HS02", "郑科长", "13900139102", "department", "housing"),
    Person("HR01", "陈专员", "13900139111", "department", "hrss"),
    Person("HR02", "林科长", "13900139112", "department", "hrss"),
    Person("ED01", "何老师", "13900139121", "department", "education"),
    Person("ED02", "高科长", "13900139122", "department", "education"),
    Person("HE01", "罗医生", "13900139131", "department", "health"),
    Person("HE02", "梁主任", "13900139132", "department", "health"),
    Person("TR01", "宋专员", "13900139141", "department", "transport"),
    Person("TR02", "唐科长", "13900139142", "department", "transport"),
    Person("CO01", "许专员", "13900139151", "department", "commerce"),
    Person("CO02", "韩科长", "13900139152", "department", "commerce"),
    Person("EN01", "冯工", "13900139161", "department", "environment"),
    Person("EN02", "曹科长", "13900139162", "department", "environment"),
)
# Where notify's message log says the provider has the SMS (the gateway shows it).
SENT = ("submitted", "sent", "delivered")
CLERK = {
    "housing": "HS01",
    "hrss": "HR01",
    "health": "HE01",
    "environment": "EN01",
    "transport": "TR01",
    "commerce": "CO01",
}

# Today's roster in the centre's time: three shifts, each with a backup, and tomorrow's
# night shift so a demo run late in the evening still finds someone on duty.
SHIFTS: tuple[tuple[int, int, int, str, str], ...] = (
    (0, 0, 8, "DM03", "DM01"),
    (0, 8, 16, "DM01", "DM02"),
    (0, 16, 24, "DM02", "DM03"),
    (1, 0, 8, "DM03", "DM01"),
)


# --- the complaints' texts -------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    id: str
    subject: str
    body: str

    @property
    def description(self) -> str:
        return f"【{self.subject}】{self.body}"


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    label: str  # the summary table's
    category: str  # intake's taxonomy id
    source_category: str  # the data file's 一级分类
    keywords: tuple[str, ...]
    customer_phone: str
    customer_name: str
    channel: str
    severity: str
    strong_emotion: bool = False
    exclude: tuple[str, ...] = ()
    # The caller will not give a number (customer_phone and customer_name are then empty).
    anonymous: bool = False


SCENARIOS = {
    s.key: s
    for s in (
        Scenario(
            "A",
            "欠薪社保：派错退回、延期、短信确认满意  Wages: returned by the wrong department, "
            "extended, closed by the customer's SMS",
            "wages / social security",
            "labour_social_security",
            "劳动和社会保障",
            ("工资", "欠薪", "拖欠", "社保", "养老", "工伤", "劳动"),
            "13800138101",
            "周先生",
            "phone",
            "high",
        ),
        Scenario(
            "B",
            "城建物业：不满意重办、回访未接通、值班经理办结  Housing: reopened after a '2', "
            "follow-up unanswered, closed by the duty manager",
            "housing / construction",
            "urban_construction",
            "城乡建设",
            ("物业", "停水", "停电", "施工", "噪音", "小区", "占道", "路灯"),
            "13800138102",
            "陈女士",
            "wechat",
            "normal",
        ),
        Scenario(
            "C",
            "医疗投诉（特急、情绪激动）：紧急短信、短信确认、当即处理  Health, urgent with strong "
            "emotion: urgent SMS, acknowledged by SMS, answered at once",
            "health, urgent",
            "health_family_planning",
            "卫生计生",
            ("医院", "手术", "医疗", "医生", "药", "病人"),
            "13800138103",
            "黄女士",
            "phone",
            "urgent",
            strong_emotion=True,
            exclude=("感谢",),
        ),
        Scenario(
            "D",
            "环境污染：派单后在部门队列等待签收  Pollution: waiting in the department's queue",
            "environment, open",
            "environment",
            "环境保护",
            ("污染", "排放", "噪音", "臭", "废", "粉尘"),
            "13800138104",
            "吴先生",
            "web",
            "normal",
        ),
        Scenario(
            "E",
            "座机来电（带分机）：无法短信、来电催办、电话回访办结  A landline caller with an "
            "extension: no SMS, calls again (urge), verdict taken by a follow-up call",
            "transport, landline",
            "transport",
            "交通运输",
            ("公交", "出租", "地铁", "道路", "停车", "交通", "车站"),
            "010-6512 3456 转 801",
            "刘先生",
            "phone",
            "normal",
        ),
        Scenario(
            "F",
            "匿名网上投诉：不留电话、无客户档案  An anonymous web complaint: no number, no file",
            "commerce, anonymous",
            "commerce_tourism",
            "商贸旅游",
            ("商场", "超市", "价格", "旅游", "消费", "退款", "收费", "商家"),
            "",
            "",
            "web",
            "normal",
            anonymous=True,
        ),
    )
}
# What the landline caller of E says when they call again.
URGE_WORDS = "我上周反映的问题到现在还没人联系我，请尽快处理。"


def complaint_body(scenario: Scenario, text: Text) -> dict[str, Any]:
    """What the agent registers for the scenario's caller."""
    body: dict[str, Any] = {
        "channel": scenario.channel,
        "category": scenario.category,
        "severity": scenario.severity,
        "nature": "genuine",
        "strong_emotion": scenario.strong_emotion,
        "description": text.description,
    }
    if scenario.anonymous:
        return {**body, "anonymous": True}
    return {
        **body,
        "customer_phone": scenario.customer_phone,
        "customer_name": scenario.customer_name,
    }


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def texts_for(scenario: Scenario, path: Path = DATA) -> list[Text]:
    """The data file's messages that fit a scenario, in a fixed order."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    found = []
    for row in rows:
        body, subject = _squeeze(row["留言详情"]), _squeeze(row["留言主题"])
        if row["一级分类"] != scenario.source_category or not 40 <= len(body) <= 400:
            continue
        whole = subject + body
        if any(k in whole for k in scenario.keywords) and not any(
            x in whole for x in scenario.exclude
        ):
            found.append(Text(row["留言编号"], subject, body))
    if not found:
        raise DemoError(f"no text in {path} fits scenario {scenario.key}")
    return found


# --- where the system runs -------------------------------------------------------------


@dataclass(frozen=True)
class Urls:
    intake: str
    escalation: str
    notify: str
    analytics: str
    gateway: str
    workbench: str

    @classmethod
    def for_port_base(cls, base: int) -> Urls:
        ports = stack.service_ports(base)
        gateway = base + stack.SMS_GATEWAY_PORT - stack.DEFAULT_PORT_BASE
        url = {s: f"http://127.0.0.1:{ports[s]}" for s in SERVICES}
        return cls(
            intake=url["intake"],
            escalation=url["escalation"],
            notify=url["notify"],
            analytics=url["analytics"],
            gateway=f"http://127.0.0.1:{gateway}",
            workbench=f"http://127.0.0.1:{stack.workbench_port(base)}",
        )


def port_base() -> int:
    state = stack.load_state()
    if state:
        return int(stack.state_int(state, "port_base", stack.DEFAULT_PORT_BASE))
    return int(os.environ.get("STACK_PORT_BASE") or stack.DEFAULT_PORT_BASE)


def not_ready(urls: Urls) -> list[str]:
    """The parts of the system that do not answer as ready."""
    missing = []
    with httpx.Client(timeout=3) as client:
        for name in SERVICES:
            try:
                ok = client.get(f"{getattr(urls, name)}/readyz").status_code == 200
            except httpx.HTTPError:
                ok = False
            if not ok:
                missing.append(name)
        try:
            ok = client.get(f"{urls.gateway}/healthz").status_code == 200
        except httpx.HTTPError:
            ok = False
        if not ok:
            missing.append("sms-gateway")
    return missing


def ensure_running(*, start: bool) -> Urls:
    urls = Urls.for_port_base(port_base())
    missing = not_ready(urls)
    if not missing:
        print(f"The system is running (intake {urls.intake}, gateway {urls.gateway}).")
        return urls
    if not start:
        raise DemoError(f"not running or not ready: {', '.join(missing)}; start it with 'make run'")
    print(f"Not running or not ready: {', '.join(missing)}.")
    print("Starting the system the way 'make run' does (scripts/stack.py up) ...", flush=True)
    done = subprocess.run(
        [str(stack.PYTHON), str(ROOT / "scripts" / "stack.py"), "up"], cwd=ROOT, check=False
    )
    if done.returncode != 0:
        raise DemoError("the system did not start (see above and 'make logs'; 'make down')")
    urls = Urls.for_port_base(port_base())
    missing = not_ready(urls)
    if missing:
        raise DemoError(f"started, but not ready: {', '.join(missing)} (see 'make logs')")
    return urls


@contextlib.contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# Every demo account signs in with this password (a local demo: say so when you show it).
DEMO_PASSWORD = "demo-workbench-2026"  # noqa: S105 - printed on purpose for a local demo
# Whom to sign in as, to see each role's pages.
SIGN_IN_AS = (
    ("话务员 agent", "A001", "register a complaint while the caller is on the line"),
    ("值班经理 duty manager", "DM01", "the desk: queue, decisions, dispatch (open an SMS link)"),
    ("部门经办人 department clerk", "HR01", "hrss's queue: accept, return, more time, reply"),
    ("中心主管 supervisor", "S001", "escalated and returned complaints, the roster, reassign"),
    ("质检 QA", "Q001", "reports, root causes"),
    ("管理员 administrator", "AD01", "departments, staff, sign-in accounts"),
)


def create_accounts(people: tuple[Person, ...]) -> tuple[int, int]:
    """A workbench sign-in account for each person who has none (an existing one keeps
    its password); how many were created and kept."""
    from services.workbench.access import flows, service
    from services.workbench.config import WorkbenchConfig
    from shared.db import database_for
    from shared.migrations import upgrade
    from shared.settings import WORKBENCH

    env = stack.service_env(stack.load_state())
    env.setdefault("DATA_DIR", str(stack.RUN / "data"))
    with environ(env):
        settings = Settings()
    url, schema = settings.database_url_for(WORKBENCH), settings.schema_for(WORKBENCH)
    upgrade(WORKBENCH, url=url, schema=schema)
    db = database_for(WORKBENCH, settings)
    created = 0
    try:
        for person in people:
            with db.read() as session:
                if service.get_account(session, person.id) is not None:
                    continue
            flows.set_password(
                db,
                person.id,
                DEMO_PASSWORD,
                WorkbenchConfig(),
                by="demo",
                now=datetime.now(UTC),
                must_change=False,
            )
            created += 1
    finally:
        db.dispose()
    return created, len(people) - created


class Tokens:
    """Bearer tokens from the system's token store, as `make token` issues them."""

    def __init__(self) -> None:
        from shared.db import database_for
        from shared.migrations import upgrade

        env = stack.service_env(stack.load_state())
        env.setdefault("DATA_DIR", str(stack.RUN / "data"))
        with environ(env):
            settings = Settings()
        upgrade(
            AUTH_STORE,
            url=settings.database_url_for(AUTH_STORE),
            schema=settings.schema_for(AUTH_STORE),
        )
        self.db = database_for(AUTH_STORE, settings)
        self.issued: dict[tuple[str, str, str | None], str] = {}

    def __call__(self, role: str, staff: str, department: str | None = None) -> str:
        from shared.auth.store import bootstrap_admin, issue_token

        key = (role, staff, department)
        if key not in self.issued:
            with self.db.transaction() as session:
                if role == "admin":
                    # As `make token ROLE=admin` does: an administrator the directory does
                    # not know yet (a fresh system) gets a bootstrap grant.
                    bootstrap_admin(session, staff)
                token, _ = issue_token(
                    session, staff_id=staff, role=role, department_id=department, label="demo"
                )
            self.issued[key] = token
        return self.issued[key]

    def close(self) -> None:
        self.db.dispose()


# --- talking to the services -----------------------------------------------------------


class Api:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def call(
        self,
        method: str,
        url: str,
        token: str | None = None,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201),
    ) -> httpx.Response:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        try:
            resp = self.client.request(method, url, json=json, params=params, headers=sent)
        except httpx.HTTPError as exc:
            raise DemoError(f"{method} {url}: {type(exc).__name__}: {exc}") from None
        if resp.status_code not in ok:
            raise DemoError(f"{method} {url} answered {resp.status_code}: {resp.text[:400]}")
        return resp

    def get(self, url: str, token: str | None = None, **kw: Any) -> Any:
        return self.call("GET", url, token, **kw).json()

    def post(self, url: str, token: str | None = None, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", url, token, json=body, **kw).json()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float) -> T:
    """Poll until `probe` returns something; say what did not arrive otherwise."""
    deadline = time.monotonic() + timeout
    pause = 0.1
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise DemoError(
                f"waited {timeout:.0f}s for {what}; are the workers running? "
                "('make status', 'make logs')"
            )
        time.sleep(pause)
        pause = min(pause * 1.5, 1.0)


# --- printing --------------------------------------------------------------------------


def heading(text: str) -> None:
    print(f"\n== {text} ==")


@dataclass
class Case:
    scenario: Scenario
    id: str
    reference: str
    description: str
    department: str | None = None
    state: str = "received"
    steps: list[str] = field(default_factory=list)
    closure: str | None = None
    root_cause: str | None = None
    history: str = "-"

    def step(self, state: str, text: str, *look: str) -> None:
        self.state = state
        self.steps.append(text)
        print(f"  {self.reference}  {state:<17}  {text}")
        for url in look:
            print(f"  {'':<{len(self.reference)}}  {'':<17}    look: {url}")


def local(moment: str | datetime | None) -> str:
    if moment is None:
        return "-"
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return when.astimezone(CENTRE_TZ).strftime("%m-%d %H:%M")


# --- the demo --------------------------------------------------------------------------


class Demo:
    def __init__(self, urls: Urls, api: Api, tokens: Tokens, timeout: float) -> None:
        self.urls, self.api, self.token, self.timeout = urls, api, tokens, timeout
        # The first administrator, who adds everybody else to the directory; the others'
        # tokens are issued once the directory has them (a token is for someone in it).
        self.admin = tokens("admin", "AD01")
        self.cases: list[Case] = []
        self.directory: dict[str, dict[str, Any]] = {}  # staff by id, as the service has them

    @property
    def agent(self) -> str:
        return self.token("agent", "A001")

    @property
    def supervisor(self) -> str:
        return self.token("supervisor", "S001")

    @property
    def viewer(self) -> str:
        return self.token("viewer", "V001")

    # -- seeding ------------------------------------------------------------------------

    def seed(self) -> None:
        heading("组织 The organisation: departments, staff, duty roster (kept if already there)")
        e = self.urls.escalation
        have = {d["id"]: d for d in self.api.get(f"{e}/departments", self.admin)}
        for d in DEPARTMENTS:
            if d.id in have:
                verb = "kept"
            else:
                body = {"id": d.id, "name": d.name, "contact_phones": list(d.contact_phones)}
                self.api.post(f"{e}/departments", self.admin, body)
                verb = "created"
            print(f"  department {d.id:<12} {verb:<8} {d.name}, contact {d.contact_phones[0]}")
        staff = {s["id"]: s for s in self.api.get(f"{e}/staff", self.admin)}
        made = []
        for p in STAFF:
            if p.id in staff:
                continue
            body = {"id": p.id, "name": p.name, "phone": p.phone, "role": p.role}
            if p.department_id:
                body["department_id"] = p.department_id
            staff[p.id] = self.api.post(f"{e}/staff", self.admin, body)
            made.append(p.id)
        self.directory = staff
        made_accounts, kept_accounts = create_accounts(STAFF)
        print(
            f"  accounts   workbench sign-in for each of them: {made_accounts} created, "
            f"{kept_accounts} kept"
        )
        print(
            f"  staff      {len(STAFF)} people: {len(made)} created, {len(STAFF) - len(made)} kept "
            "(duty managers DM01-DM03, supervisor S001, QA Q001, agents A001-A002, "
            "administrator AD01, viewer V001, a clerk and a head per department)"
        )
        have = {d["id"]: d for d in self.api.get(f"{e}/departments", self.admin)}
        for d in DEPARTMENTS:
            current = have[d.id]
            if current.get("head_staff_id") is None:
                body = {
                    "name": current["name"],
                    "contact_phones": current["contact_phones"],
                    "head_staff_id": d.head,
                    "active": current["active"],
                }
                self.api.call("PUT", f"{e}/departments/{d.id}", self.admin, json=body)
        self.seed_roster()

    def seed_roster(self) -> None:
        e = self.urls.escalation
        today = datetime.now(CENTRE_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
        end = today + timedelta(days=2)
        params = {"from": today.isoformat(), "to": end.isoformat()}
        existing = self.api.get(f"{e}/roster/shifts", self.admin, params=params)
        for day, start_h, end_h, manager, backup in SHIFTS:
            starts = today + timedelta(days=day, hours=start_h)
            ends = today + timedelta(days=day, hours=end_h)
            span = f"{starts:%m-%d %H:%M}-{ends:%H:%M}"
            clash = [
                s
                for s in existing
                if datetime.fromisoformat(s["starts_at"]) < ends
                and datetime.fromisoformat(s["ends_at"]) > starts
            ]
            if clash:
                who = ", ".join(sorted({s["staff_id"] for s in clash}))
                print(f"  shift      {span}  kept     (already planned: {who})")
                continue
            body = {
                "staff_id": manager,
                "backup_staff_id": backup,
                "starts_at": starts.isoformat(),
                "ends_at": ends.isoformat(),
            }
            resp = self.api.call("POST", f"{e}/roster/shifts", self.admin, json=body, ok=(201, 409))
            if resp.status_code == 409:
                print(f"  shift      {span}  kept     ({resp.json().get('message', 'overlaps')})")
            else:
                print(f"  shift      {span}  created  {self.name(manager)}, backup {backup}")
        duty = self.api.get(f"{e}/roster/on-duty", self.admin)
        if not duty.get("staff_id"):
            raise DemoError(
                "nobody is on duty now although the roster was planned; "
                f"see {e}/roster/shifts and {e}/roster/on-duty"
            )
        print(
            f"  on duty now: {duty['staff_id']} {duty.get('name') or ''} {duty.get('phone') or ''} "
            f"(via {duty['via']})  look: {e}/roster/on-duty"
        )

    # -- helpers ------------------------------------------------------------------------

    def name(self, staff_id: str | None) -> str:
        person = self.directory.get(staff_id or "")
        return f"{staff_id} {person['name']}" if person else str(staff_id)

    def phone(self, staff_id: str | None) -> str | None:
        person = self.directory.get(staff_id or "")
        return person["phone"] if person else None

    def dm(self, complaint: dict[str, Any]) -> str:
        """A token for the duty manager the complaint is with."""
        return self.token("duty_manager", complaint["duty_manager_id"] or "DM01")

    def clerk(self, department: str) -> str:
        return self.token("department", CLERK[department], department)

    def lifecycle(self, case: Case) -> dict[str, Any] | None:
        resp = self.api.call(
            "GET",
            f"{self.urls.escalation}/complaints/{case.id}",
            self.supervisor,
            ok=(200, 404),
        )
        return resp.json() if resp.status_code == 200 else None

    def wait_lifecycle(
        self,
        case: Case,
        what: str,
        check: Callable[[dict[str, Any]], bool],
        timeout: float | None = None,
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            found = self.lifecycle(case)
            return found if found is not None and check(found) else None

        return wait_for(f"{case.reference}: {what}", probe, timeout or self.timeout)

    def act(self, case: Case, action: str, token: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.urls.escalation}/complaints/{case.id}/actions/{action}"
        return self.api.post(url, token, body)["complaint"]

    def messages(self, case: Case) -> list[dict[str, Any]]:
        page = self.api.get(
            f"{self.urls.notify}/messages",
            self.agent,
            params={"complaint_id": case.id, "limit": 200},
        )
        return list(reversed(page["items"]))  # oldest first

    def wait_sms(self, case: Case, template: str, phone: str, nth: int = 1) -> dict[str, Any]:
        """The nth `template` SMS to `phone` about the case, once notify has decided on it:
        sent, held for the digest, or waiting for the end of the quiet hours."""

        def probe() -> dict[str, Any] | None:
            found = [
                m
                for m in self.messages(case)
                if m["template"] == template and m["phone"] == phone and m["direction"] == "out"
            ]
            if len(found) < nth:
                return None
            sms = found[nth - 1]
            if sms["status"] in (*SENT, "held", "digested", "failed", "suppressed", "refused"):
                return sms
            if sms["status"] == "pending" and sms["held_reason"] == "quiet_hours":
                return sms
            return None

        return wait_for(f"{case.reference}: the {template} SMS to {phone}", probe, self.timeout)

    def gateway_page(self, phone: str) -> str:
        return f"{self.urls.gateway}/  (the card of {phone}; {self.gateway_api(phone)})"

    def gateway_api(self, phone: str) -> str:
        return f"{self.urls.gateway}/api/messages?to={quote(phone)}"

    def answer_sms(self, phone: str, word: str, sms: dict[str, Any]) -> tuple[str, str | None]:
        """Reply from `phone` through the development gateway, as a person would; name the
        reference when a newer SMS on that phone could be taken for the one meant."""
        newest = self.api.get(self.gateway_api(phone))["messages"]
        latest = newest[-1]["body"] if newest else None
        text = word if latest == sms["body"] else f"{word} {sms['reference']}"
        reply = {"from": phone, "text": text}
        answer = self.api.post(f"{self.urls.gateway}/api/reply", None, reply)
        return text, answer.get("intent")

    def sms_text(self, sms: dict[str, Any]) -> str:
        body = sms["body"] if len(sms["body"]) <= 70 else sms["body"][:68] + "…"
        where = {
            "held": "held for the duty manager's digest (rate limit)",
            "digested": "sent in a digest",
            "failed": "not sent: the provider failed",
            "suppressed": "not sent: the phone opted out (退订)",
            "refused": f"not sent: refused ({sms.get('refused_reason')})",
        }.get(sms["status"], sms["status"])
        if sms["held_reason"] == "quiet_hours":
            where = f"waits for the end of the quiet hours ({local(sms['due_at'])})"
        return f"「{body}」 [{where}]"

    def acknowledge_by_sms(self, case: Case, complaint: dict[str, Any], word: str) -> None:
        dm = complaint["duty_manager_id"]
        phone = self.phone(dm)
        if phone is None:
            raise DemoError(f"{case.reference} is with {dm}, who is not in the directory")
        sms = self.wait_sms(case, "staff_assigned", phone)
        case.step(
            case.state,
            f"短信通知值班经理 SMS to {self.name(dm)} {phone}: {self.sms_text(sms)}",
            self.gateway_page(phone),
        )
        if sms["status"] not in SENT:
            self.act(case, "acknowledge", self.dm(complaint))
            case.step(
                case.state,
                f"确认受理 Acknowledged by {dm} from the desk (the SMS was not sent out yet)",
            )
            return
        text, intent = self.answer_sms(phone, word, sms)
        acknowledged: Callable[[dict[str, Any]], bool] = lambda c: bool(c["acknowledged_at"])  # noqa: E731
        try:
            got = self.wait_lifecycle(
                case, "the acknowledgement", acknowledged, min(10.0, self.timeout)
            )
        except DemoError:
            # Other complaints wait for this person's "1" too (notify then asks which one
            # is meant and takes none): answer again naming the reference, as they would.
            text = f"{word} {sms['reference']}"
            reply = {"from": phone, "text": text}
            intent = self.api.post(f"{self.urls.gateway}/api/reply", None, reply).get("intent")
            got = self.wait_lifecycle(case, "the acknowledgement", acknowledged)
        case.step(
            got["state"],
            f'短信确认 {self.name(dm)} answered "{text}" on the gateway (read as {intent}): '
            f"acknowledged at {local(got['acknowledged_at'])}",
        )

    def wait_intake_replied(self, case: Case) -> None:
        self.wait_intake(case, "replied")

    def customer_answers(self, case: Case, word: str, nth: int = 1) -> dict[str, Any]:
        phone = f"+86{case.scenario.customer_phone}"
        sms = self.wait_sms(case, "customer_replied", phone, nth)
        case.step(
            case.state,
            f"短信回访 SMS to the customer {phone}: {self.sms_text(sms)}",
            self.gateway_page(phone),
        )
        if sms["status"] in SENT or sms["held_reason"] == "quiet_hours":
            text, intent = self.answer_sms(phone, word, sms)
            how = f'The customer answered "{text}" (read as {intent})'
            if sms["status"] not in SENT:
                how += " before the quiet hours ended, as if they had it already"
        else:  # opted out, or the provider failed: the follow-up is a call
            result = "satisfied" if word == "1" else "unsatisfied"
            self.wait_intake_replied(case)
            self.api.post(
                f"{self.urls.intake}/complaints/{case.id}/feedback",
                self.agent,
                {"result": result, "comment": "电话回访", "source": "phone"},
            )
            how = f"The SMS did not reach the customer; agent A001 called: {result}"
        if word == "1":
            got = self.wait_lifecycle(case, "the closure", lambda c: c["state"] == "closed")
            case.step("closed", f"客户满意 {how}: closed, {got['closure_reason']}")
        else:
            got = self.wait_lifecycle(
                case,
                "the reopening",
                lambda c: c["reopen_count"] >= nth and c["state"] != "replied",
            )
            case.step(
                got["state"],
                f"客户不满意，重办 {how}: reopened to {got['department_id']} "
                f"(reopen #{got['reopen_count']})",
            )
        return got

    def register(self, scenario: Scenario) -> Case:
        """File the scenario's next text no earlier run filed (the Idempotency-Key tells)."""
        for text in texts_for(scenario):
            body = complaint_body(scenario, text)
            resp = self.api.call(
                "POST",
                f"{self.urls.intake}/complaints",
                self.agent,
                json=body,
                headers={"Idempotency-Key": f"demo-{scenario.key}-{text.id}"},
                ok=(200, 201, 409),
            )
            if resp.status_code == 201:
                break
        else:
            raise DemoError(f"every text for scenario {scenario.key} was filed by earlier runs")
        made = resp.json()
        case = Case(scenario, made["id"], made["reference"], text.description)
        self.cases.append(case)
        heading(f"{scenario.key}. {scenario.title}")
        short = text.description if len(text.description) <= 60 else text.description[:58] + "…"
        file = made["customer_file"]
        flags = " · ".join(
            x
            for x in (
                scenario.severity,
                "strong emotion 情绪激动" if scenario.strong_emotion else "",
                f"repeat caller ({file['total_complaints']} earlier)" if file["repeat"] else "",
                caller(made),
            )
            if x
        )
        who = scenario.customer_name or "a caller who gave no number"
        case.step(
            made["status"],
            f"登记 Registered by agent A001 ({scenario.channel}, {flags}) for "
            f"{who}: 「{short}」 (data row {text.id})",
            f"{self.urls.intake}/complaints/{case.reference}",
        )
        return case

    def assigned(self, case: Case) -> dict[str, Any]:
        got = self.wait_lifecycle(
            case, "the assignment to the duty manager", lambda c: c["state"] != "received"
        )
        name = self.name(got["holder_staff_id"]) if got["holder_staff_id"] else "the supervisors"
        case.step(
            got["state"],
            f"派给值班经理 Assigned to the duty manager on duty, {name}; "
            f"acknowledge by {local(got['due_at'])}",
            f"{self.urls.escalation}/queues/mine  (with the duty manager's token)",
        )
        return got

    def dispatch(self, case: Case, complaint: dict[str, Any], department: str, note: str) -> Any:
        got = self.act(
            case,
            "dispatch",
            self.dm(complaint),
            {"department_id": department, "instructions": note},
        )
        case.department = department
        case.step(
            got["state"],
            f"派单 Dispatched to {department}: 「{note}」; accept by {local(got['due_at'])}",
            f"{self.urls.escalation}/departments/{department}/queue",
        )
        return got

    def accept(self, case: Case, department: str) -> Any:
        got = self.act(case, "accept", self.clerk(department))
        case.step(
            got["state"],
            f"签收 Accepted by {self.name(CLERK[department])} ({department}); "
            f"resolve by {local(got['due_at'])}",
        )
        return got

    def reply(self, case: Case, department: str, resolution: str, root_cause: str) -> Any:
        body = {"resolution": resolution, "root_cause": root_cause}
        got = self.act(case, "reply", self.clerk(department), body)
        case.root_cause = root_cause
        case.step(
            got["state"],
            f"答复 Replied by {department}: 「{resolution}」 (root cause: {root_cause})",
        )
        return got

    def finish(self, case: Case) -> None:
        e = self.urls.escalation
        history = self.api.get(f"{e}/complaints/{case.id}/history", self.supervisor)
        check = self.api.get(f"{e}/complaints/{case.id}/history/verify", self.supervisor)
        valid = "chain valid" if check["valid"] else f"BROKEN at {check['first_bad_seq']}"
        case.history = f"{len(history)} entries, {valid}"
        actions = " → ".join(h["action"] for h in history)
        got = self.lifecycle(case) or {}
        case.closure = got.get("closure_reason")
        case.root_cause = got.get("root_cause") or case.root_cause
        case.step(
            case.state,
            f"历史 History: {actions} ({case.history})",
            f"{e}/complaints/{case.reference}/history",
            f"{e}/complaints/{case.reference}/history/verify",
        )

    # -- the walks ----------------------------------------------------------------------

    def walk_a(self) -> None:
        case = self.register(SCENARIOS["A"])
        c = self.assigned(case)
        self.acknowledge_by_sms(case, c, "收到")
        c = self.dispatch(case, c, "housing", "涉及用工单位，请核实项目及用人单位情况")
        c = self.act(
            case,
            "return",
            self.clerk("housing"),
            {
                "reason_code": "not_ours",
                "reason": "工资、社保属人社部门劳动监察职责，请改派人社局",
            },
        )
        case.step(
            c["state"],
            "退单 Returned by HS01 (housing), not_ours: 「工资、社保属人社部门劳动监察职责」; "
            f"back with {c['holder_staff_id']}, returns so far {c['bounce_count']}",
        )
        c = self.dispatch(case, c, "hrss", "请劳动监察核实并答复来电人")
        self.accept(case, "hrss")
        until = (datetime.now(UTC) + timedelta(days=5)).astimezone(CENTRE_TZ)
        until = until.replace(hour=18, minute=0, second=0, microsecond=0)
        c = self.act(
            case,
            Action.REQUEST_EXTENSION,
            self.clerk("hrss"),
            {"until": until.isoformat(), "reason": "需约谈用人单位并调取考勤、工资发放记录"},
        )
        case.step(
            c["state"],
            f"申请延期 HR01 asks for time until {local(until)}: 「需约谈用人单位并调取记录」",
        )
        c = self.act(
            case,
            Action.DECIDE_EXTENSION,
            self.dm(c),
            {"decision": "approve", "reason": "同意，请按期答复"},
        )
        case.step(c["state"], f"批准延期 The duty manager approves: now due {local(c['due_at'])}")
        self.reply(
            case,
            "hrss",
            "已约谈用人单位，拖欠款项及社保将于本月内补发补缴，劳动监察将跟踪",
            "management",
        )
        self.customer_answers(case, "1")
        self.finish(case)

    def walk_b(self) -> None:
        case = self.register(SCENARIOS["B"])
        c = self.assigned(case)
        dm = c["duty_manager_id"]
        c = self.act(case, "acknowledge", self.dm(c))
        case.step(c["state"], f"确认受理 Acknowledged by {dm} from the desk (queue)")
        c = self.dispatch(case, c, "housing", "请现场核查并督促责任单位整改")
        self.accept(case, "housing")
        self.reply(case, "housing", "已联系责任单位，要求一周内整改", "process")
        self.customer_answers(case, "2")
        self.accept(case, "housing")
        self.reply(
            case,
            "housing",
            "现场复查后已责令停工整改，整改完成前每日巡查，并留下联系人电话",
            "process",
        )
        phone = f"+86{case.scenario.customer_phone}"
        sms = self.wait_sms(case, "customer_replied", phone, 2)
        case.step(
            case.state,
            f"短信回访 SMS to the customer {phone}: {self.sms_text(sms)}; no answer comes",
        )

        self.wait_intake_replied(case)
        self.api.post(
            f"{self.urls.intake}/complaints/{case.id}/feedback",
            self.agent,
            {"result": "unreachable", "comment": "回访电话两次无人接听", "source": "phone"},
        )
        c = self.wait_lifecycle(
            case, "the failed follow-up", lambda c: c["follow_up_attempts"] >= 1
        )
        case.step(
            c["state"],
            f"回访未接通 Agent A001's follow-up call found nobody "
            f"(attempt {c['follow_up_attempts']})",
        )
        c = self.act(
            case,
            "close",
            self.dm(c),
            {
                "resolution": "责任单位已整改到位，经现场复核办结",
                "root_cause": "process",
            },
        )
        case.step(
            c["state"],
            f"办结 Closed by {dm} with the root cause 'process' (流程): {c['closure_reason']}",
        )
        self.finish(case)

    def walk_c(self) -> None:
        case = self.register(SCENARIOS["C"])
        c = self.assigned(case)
        self.acknowledge_by_sms(case, c, "1")
        note = "特急：请立即联系来电人并核查涉事医疗机构，1小时内签收"
        c = self.dispatch(case, c, "health", note)
        self.accept(case, "health")
        self.reply(
            case,
            "health",
            "已约谈涉事医疗机构并安排专人对接，医疗费用问题按规定处理",
            "service",
        )
        self.customer_answers(case, "1")
        self.finish(case)

    def walk_d(self) -> None:
        case = self.register(SCENARIOS["D"])
        c = self.assigned(case)
        c = self.act(case, "acknowledge", self.dm(c))
        case.step(c["state"], f"确认受理 Acknowledged by {c['acknowledged_by']} from the desk")
        self.dispatch(case, c, "environment", "请执法人员现场检测并答复")
        case.step(
            "dispatched",
            "等待签收 Left in environment's queue: the SLA timer urges the department if "
            "nobody accepts it in time",
            f"{self.urls.escalation}/departments/environment/queue",
        )
        self.finish(case)

    def walk_e(self) -> None:
        case = self.register(SCENARIOS["E"])
        c = self.assigned(case)
        c = self.act(case, "acknowledge", self.dm(c))
        case.step(c["state"], f"确认受理 Acknowledged by {c['acknowledged_by']} from the desk")
        self.dispatch(case, c, "transport", "请核查该线路发车记录并电话答复来电人")
        # The caller calls again and reads out the reference; the agent takes it down.
        urge = self.api.post(
            f"{self.urls.intake}/complaints/{case.reference}/urges",
            self.agent,
            {"text": URGE_WORDS},
        )
        c = self.wait_lifecycle(case, "the urge", lambda c: c["urge_count"] >= 1)
        case.step(
            c["state"],
            f"来电催办 The caller called again; agent A001 took it down by the reference "
            f"(「{urge['text']}」): the holder is urged, {c['urge_count']} urge so far",
            f"{self.urls.intake}/complaints/{case.reference}/urges",
        )
        desk = next(d for d in DEPARTMENTS if d.id == "transport").contact_phones[0]
        sms = self.wait_sms(case, "staff_urged", f"+86{desk}")
        case.step(
            case.state,
            f"督办短信 SMS to the transport desk +86{desk}: {self.sms_text(sms)}",
            self.gateway_page(f"+86{desk}"),
        )
        self.accept(case, "transport")
        self.reply(
            case,
            "transport",
            "已核实该线路车辆调度问题，已增加早高峰班次并告知来电人",
            "management",
        )
        # No SMS can ask a landline caller: the agent calls back, and records the verdict
        # by the reference.
        self.wait_intake(case, "replied")
        self.api.post(
            f"{self.urls.intake}/complaints/{case.reference}/feedback",
            self.agent,
            {"result": "satisfied", "comment": "电话回访：客户表示满意", "source": "phone"},
        )
        got = self.wait_lifecycle(case, "the closure", lambda c: c["state"] == "closed")
        case.step(
            "closed",
            f"电话回访 Agent A001 called the landline back and recorded 'satisfied' by the "
            f"reference: closed, {got['closure_reason']}",
        )
        self.finish(case)

    def walk_f(self) -> None:
        case = self.register(SCENARIOS["F"])
        c = self.assigned(case)
        c = self.act(case, "acknowledge", self.dm(c))
        case.step(c["state"], f"确认受理 Acknowledged by {c['acknowledged_by']} from the desk")
        self.dispatch(case, c, "commerce", "匿名投诉，无法回访：请核查并公开答复")
        self.accept(case, "commerce")
        got = self.reply(
            case, "commerce", "已约谈涉事商家，责令规范明码标价并退还多收款项", "business"
        )
        case.step(
            got["state"],
            "匿名 Nobody to text or call back: the answer stands as the department gave it",
        )
        self.finish(case)

    def wait_intake(self, case: Case, status: str) -> None:
        def there() -> bool:
            got = self.api.get(f"{self.urls.intake}/complaints/{case.id}", self.agent)
            return bool(got["status"] == status)

        wait_for(f"{case.reference}: intake to show it {status}", there, self.timeout)

    # -- analytics ----------------------------------------------------------------------

    def analytics(self) -> None:
        heading("分析 Analytics: once the read models have caught up")
        a = self.urls.analytics

        def caught_up() -> bool:
            for case in self.cases:
                resp = self.api.call(
                    "GET",
                    f"{a}/analytics/complaints/{case.id}/root-cause",
                    self.supervisor,
                    ok=(200, 404),
                )
                if resp.status_code == 404:
                    return False
                if case.state == "closed" and resp.json()["root_cause"] != case.root_cause:
                    return False
            return True

        wait_for("analytics to hold every complaint of this run", caught_up, self.timeout * 2)
        today = datetime.now(CENTRE_TZ).date().isoformat()
        month = today[:7]
        sup = self.supervisor
        o = self.api.get(f"{a}/analytics/overview", sup, params={"from": today, "to": today})
        print(f"  today {today}: {summarise(o)}")
        print(f"  deadlines met today: {deadlines(o)}")
        print(f"    look: {a}/analytics/overview?from={today}&to={today}")
        rc = self.api.get(f"{a}/analytics/root-causes", sup, params={"month": month})
        print(f"  root causes {month} (Pareto of {rc.get('total')}): {pareto(rc)}")
        print(f"    look: {a}/analytics/root-causes?month={month}&format=csv")
        sla = self.api.get(f"{a}/analytics/sla-by-department", sup, params={"from": today})
        rows = [
            f"{r['department']} {r['complaints']} (resolved in time "
            f"{pct(r.get('resolution_compliance'))})"
            for r in sla["departments"]
        ]
        print(f"  by department today: {'; '.join(rows) or '-'}")
        open_case = next((c for c in self.cases if c.state != "closed"), None)
        if open_case is not None:
            resp = self.api.call(
                "GET",
                f"{a}/analytics/complaints/{open_case.id}/root-cause/suggestion",
                sup,
                ok=(200, 409),
            )
            s = resp.json()
            if resp.status_code == 200 and s["suggestion"]:
                best = s["suggestion"]
                said = (
                    f"{best['root_cause']} {best['probability']:.0%} "
                    f"(learned from {s['learned_from']})"
                )
            elif resp.status_code == 200:
                said = f"none: {s['reason']}"
            else:
                said = f"none yet: {s.get('message')}"
            print(f"  root-cause suggestion for {open_case.reference}: {said}")
        report = f"{a}/analytics/departments/hrss/report?month={month}&format=html"
        print(f"  department report: {report}")
        print(f"  hot spots:         {a}/analytics/hotspots")
        print(f"  dashboard:         {a}/dashboard#token={self.viewer}")

    # -- the end ------------------------------------------------------------------------

    def summary(self) -> None:
        heading("总结 Summary")
        head = ("ref", "case", "department", "state", "closure", "root cause", "history")
        rows = [
            (
                c.reference,
                f"{c.scenario.key} {c.scenario.label}",
                c.department or "-",
                c.state,
                c.closure or "-",
                c.root_cause or "-",
                c.history,
            )
            for c in self.cases
        ]
        widths = [max(len(str(r[i])) for r in (head, *rows)) for i in range(len(head))]
        for r in (head, tuple("-" * w for w in widths), *rows):
            print("  " + "  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)))
        a, g, e = self.urls.analytics, self.urls.gateway, self.urls.escalation
        dm_phone = self.phone("DM01") or ""
        print("\nWhere to look:")
        print(f"  dashboard    {a}/dashboard#token={self.viewer}")
        print(f"  SMS gateway  {g}/   (the duty manager {dm_phone}: {self.gateway_api(dm_phone)})")
        print(f"  history      {e}/complaints/<ref>/history   and   .../history/verify")
        print("\nTokens for curl (Authorization: Bearer …):")
        print(f"  export SUP={self.supervisor}")
        print(f"  export DM={self.token('duty_manager', 'DM01')}")
        print(f"  export AGENT={self.agent}")
        first = self.cases[0].reference
        print(f'  e.g. curl -s {e}/complaints/{first} -H "Authorization: Bearer $SUP"')
        print(f"\nSign in to the workbench at {self.urls.workbench}/ (password {DEMO_PASSWORD}):")
        for role, staff_id, what in SIGN_IN_AS:
            print(f"  {role:<28} {staff_id:<5} {self.name(staff_id):<6} {what}")
        print(f"  the SMS to {dm_phone} on the gateway link to the complaint's page")
        print("\nThe system keeps running; 'make down' stops it, 'make demo' runs the demo again.")


def caller(made: dict[str, Any]) -> str:
    """What the agent learns about the caller's number from the registration."""
    if made.get("anonymous"):
        return "anonymous 匿名: no file, no SMS"
    if not made.get("customer_textable", True):
        extension = made.get("customer_extension")
        at = f"{made['customer_phone']}" + (f" ext {extension}" if extension else "")
        return f"landline 座机 {at}: no SMS, answered by a call"
    return ""


def pct(value: Any) -> str:
    return "-" if value is None else f"{value:.0%}"


def summarise(o: dict[str, Any]) -> str:
    """The overview's headline figures in one line."""
    sat = o.get("satisfaction") or {}
    figures = [
        f"{o.get('volume')} complaints",
        f"{o.get('open')} open",
        f"{o.get('closed')} closed",
        f"{o.get('overdue')} overdue",
        f"{o.get('returned')} returned",
        f"{o.get('reopened')} reopened",
        f"satisfaction {pct(sat.get('rate'))} "
        f"({sat.get('satisfied')} satisfied, {sat.get('unreachable')} unreachable)",
    ]
    return ", ".join(figures)


def deadlines(o: dict[str, Any]) -> str:
    return ", ".join(f"{s['stage']} {pct(s.get('compliance'))}" for s in o.get("sla", []))


def pareto(data: dict[str, Any]) -> str:
    return (
        ", ".join(
            f"{c['root_cause']} {c['label_zh']} {c['count']} ({pct(c['share'])})"
            for c in data.get("causes", [])[:6]
        )
        or "-"
    )


def callers_of_this_run(minute: int | None = None) -> None:
    """Give this run's callers numbers of their own (138 + a block from the clock + the
    scenario's last four digits): notify texts one customer at most
    NOTIFY_CUSTOMER_SMS_DAILY_CAP times a day, and a demo run more than a few times a day
    would otherwise find its callers' SMS refused."""
    block = (int(time.time() // 60) if minute is None else minute) % 10_000
    for key, scenario in SCENARIOS.items():
        # mobiles only: a landline receives no SMS, and E's caller keeps their number
        if scenario.customer_phone.startswith("1"):
            phone = f"138{block:04d}{scenario.customer_phone[-4:]}"
            SCENARIOS[key] = replace(scenario, customer_phone=phone)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/demo.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--no-start", action="store_true", help="do not start the system if it is not running"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="longest wait for one event to flow (s)"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    callers_of_this_run()
    tokens: Tokens | None = None
    try:
        urls = ensure_running(start=not args.no_start)
        tokens = Tokens()
        with httpx.Client(timeout=30) as client:
            demo = Demo(urls, Api(client), tokens, args.timeout)
            demo.seed()
            demo.walk_a()
            demo.walk_b()
            demo.walk_c()
            demo.walk_d()
            demo.walk_e()
            demo.walk_f()
            demo.analytics()
            demo.summary()
    except DemoError as exc:
        print(f"\nmake demo stopped: {exc}", file=sys.stderr)
        return 1
    finally:
        if tokens is not None:
            tokens.close()
    print(f"(demo took {time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
