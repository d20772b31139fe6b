"""A small fixture month, told as the events intake and escalation would publish.

Times are Beijing time (the centre's). February holds one complaint, for the month-on-
month comparison; March holds five, each chosen so the expected numbers can be worked
out by hand (see test_fixture_month.py):

- C1 billing, customer P1: acknowledged, dispatched to billing, accepted, answered
  (root cause system), customer satisfied, closed. Every deadline met.
- C2 network, customer P2, urgent: acknowledged late, billing accepts late and returns
  it (not ours), network answers (process), the customer is unsatisfied, it is reopened,
  urged and escalated to level 2, accepted late again, answered (system), satisfied.
- C3 service, customer P3: the duty manager resolves it directly (service), the
  customer cannot be reached three times and it is closed unreached, late. QA later
  revises its root cause to management.
- C4 network, customer P3 (two days after C3 closed): with network, past its
  (extended) resolution deadline at the end of the month.
- C5 billing, customer P3, on the last evening: not yet acknowledged, overdue.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.contracts import ComplaintReceived, LifecycleChanged
from shared.events import Actor, Envelope, registry

BEIJING = ZoneInfo("Asia/Shanghai")
SYSTEM = Actor(id="system", role="system")
# The month's reports are read at midnight after it ends.
NOW = datetime(2026, 4, 1, 0, 0, tzinfo=BEIJING)

P1, P2, P3 = "+8613800000001", "+8613900000002", "+8613700000003"
# The names escalation's directory gives the departments, carried by its events.
DEPARTMENT_NAMES = {"billing": "账务部 Billing", "network": "网络部 Network"}
STAGE_SLA = {  # hours allowed in each stage, for the due times below
    "acknowledgement": 0.5,
    "handling": 4,
    "acceptance": 2,
    "resolution": 48,
    "follow_up": 24,
}


def bj(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BEIJING)


@dataclass
class Complaint:
    id: str
    reference: str
    category: str
    severity: str
    seq: int = 0
    state: str = "received"
    department: str | None = None
    counters: dict[str, int] = field(
        default_factory=lambda: {
            "bounce_count": 0,
            "reopen_count": 0,
            "urge_count": 0,
            "escalation_level": 0,
        }
    )
    due_at: datetime | None = None


class Story:
    """Builds the events in the order they happen."""

    def __init__(self) -> None:
        self.events: list[Envelope] = []
        self.complaints: dict[str, Complaint] = {}

    def received(
        self,
        name: str,
        at: datetime,
        *,
        category: str,
        phone: str,
        channel: str = "phone",
        severity: str = "normal",
        description: str = "",
        acknowledge_by: datetime | None = None,
        customer_name: str | None = None,
        location: str | None = None,
        answered_from_article: int | None = None,
    ) -> Complaint:
        c = Complaint(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"story/{name}")),
            reference=f"TS{at:%Y%m%d}-{name}",
            category=category,
            severity=severity,
        )
        self.complaints[name] = c
        payload = ComplaintReceived(
            complaint_id=c.id,
            reference=c.reference,
            customer_phone=phone,
            customer_name=customer_name,
            channel=channel,  # type: ignore[arg-type]
            category=category,
            severity=severity,  # type: ignore[arg-type]
            nature="genuine",
            description=description or f"{name}: {category} complaint",
            registered_at=at,
            registered_by="A001",
            location=location,
            answered_from_article=answered_from_article,
        )
        self._add("complaint.received", payload, c, at, source="intake")
        self.act(
            name,
            "assigned",
            "assign",
            at,
            to="with_duty_manager",
            stage=None if acknowledge_by else "acknowledgement",
            due_at=acknowledge_by,
        )
        return c

    def act(
        self,
        name: str,
        event: str,
        action: str,
        at: datetime,
        *,
        to: str | None = None,
        stage: str | None = None,
        due_at: datetime | None = None,
        department: str | None = None,
        **fields: Any,
    ) -> None:
        """One lifecycle event. `stage`: the SLA stage it starts (its due time follows
        from STAGE_SLA unless `due_at` is given); `department`: where it is after."""
        c = self.complaints[name]
        c.seq += 1
        from_state, c.state = c.state, to or c.state
        if department is not None:
            c.department = department
        if stage is not None:
            c.due_at = at + timedelta(hours=STAGE_SLA[stage])
            c.counters["escalation_level"] = 0
        if due_at is not None:
            c.due_at = due_at
        if c.state == "closed":
            c.due_at = None
        for counter in ("bounce_count", "reopen_count", "urge_count", "escalation_level"):
            if counter in fields:
                c.counters[counter] = fields.pop(counter)
        details = fields.pop("details", {})
        department_id = fields.pop("department_id", c.department)
        fields.setdefault("department_name", DEPARTMENT_NAMES.get(department_id or ""))
        payload = LifecycleChanged(
            complaint_id=c.id,
            reference=c.reference,
            action=action,
            from_state=from_state,  # type: ignore[arg-type]
            to_state=c.state,  # type: ignore[arg-type]
            history_seq=c.seq,
            department_id=department_id,
            category=c.category,
            severity=c.severity,  # type: ignore[arg-type]
            nature="genuine",
            due_at=c.due_at,
            details=details,
            **c.counters,
            **fields,
        )
        self._add(f"complaint.{event}", payload, c, at, source="escalation")

    def _add(self, name: str, payload: Any, c: Complaint, at: datetime, *, source: str) -> None:
        self.events.append(
            registry.new(
                name,
                payload,
                source=source,
                tenant="default",
                actor=SYSTEM,
                complaint_id=c.id,
                occurred_at=at,
                event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"story/{c.reference}/{len(self.events)}"),
            )
        )


def fixture_month() -> Story:
    s = Story()

    # C0, February: every deadline met; root cause process.
    s.received("C0", bj(2, 20, 9), category="billing", phone=P1)
    s.act("C0", "acknowledged", "acknowledge", bj(2, 20, 9, 10), stage="handling")
    s.act(
        "C0",
        "dispatched",
        "dispatch",
        bj(2, 20, 9, 40),
        to="dispatched",
        stage="acceptance",
        department="billing",
    )
    s.act("C0", "accepted", "accept", bj(2, 20, 10, 40), to="in_progress", stage="resolution")
    s.act(
        "C0",
        "replied",
        "reply",
        bj(2, 21, 10, 40),
        to="replied",
        stage="follow_up",
        root_cause="process",
        resolution="退还多收的 20 元",
    )
    s.act(
        "C0",
        "closed",
        "feedback",
        bj(2, 21, 12, 40),
        to="closed",
        closure_reason="satisfied",
        root_cause="process",
        details={"result": "satisfied"},
    )

    # C1: every deadline met; root cause system.
    s.received(
        "C1", bj(3, 2, 9), category="billing", phone=P1, description="话费账单重复扣费 30 元"
    )
    s.act("C1", "acknowledged", "acknowledge", bj(3, 2, 9, 10), stage="handling")
    s.act(
        "C1",
        "dispatched",
        "dispatch",
        bj(3, 2, 10, 10),
        to="dispatched",
        stage="acceptance",
        department="billing",
    )
    s.act("C1", "accepted", "accept", bj(3, 2, 11, 10), to="in_progress", stage="resolution")
    s.act(
        "C1",
        "replied",
        "reply",
        bj(3, 3, 11, 10),
        to="replied",
        stage="follow_up",
        root_cause="system",
        resolution="计费系统重复出账，已退款",
    )
    s.act(
        "C1",
        "closed",
        "feedback",
        bj(3, 3, 15, 10),
        to="closed",
        closure_reason="satisfied",
        root_cause="system",
        details={"result": "satisfied"},
    )

    # C2: late acknowledgement, late acceptance twice, a return, a reopen, an escalation.
    s.received(
        "C2",
        bj(3, 5, 8),
        category="network",
        phone=P2,
        channel="wechat",
        severity="urgent",
        description="家里宽带断网三天",
        acknowledge_by=bj(3, 5, 8, 15),
    )  # urgent: 15 minutes to acknowledge
    s.act("C2", "acknowledged", "acknowledge", bj(3, 5, 8, 30), due_at=bj(3, 5, 9, 30))
    s.act(
        "C2",
        "dispatched",
        "dispatch",
        bj(3, 5, 9),
        to="dispatched",
        due_at=bj(3, 5, 10),
        department="billing",
    )
    s.act(
        "C2",
        "urged",
        "urge",
        bj(3, 5, 10),
        urge_count=1,
        escalation_level=1,
        reason="acceptance deadline passed",
    )
    s.act(
        "C2",
        "accepted",
        "accept",
        bj(3, 5, 11),
        to="in_progress",
        due_at=bj(3, 6, 11),
        escalation_level=0,
    )
    s.act(
        "C2",
        "returned",
        "return",
        bj(3, 5, 15),
        to="with_duty_manager",
        due_at=bj(3, 5, 15, 30),
        bounce_count=1,
        department_id="billing",
        reason="宽带故障不属于计费部门",
        details={"reason_code": "not_ours"},
    )
    s.complaints["C2"].department = None
    s.act("C2", "acknowledged", "acknowledge", bj(3, 5, 15, 20), due_at=bj(3, 5, 19, 20))
    s.act(
        "C2",
        "dispatched",
        "dispatch",
        bj(3, 5, 16, 20),
        to="dispatched",
        due_at=bj(3, 5, 18, 20),
        department="network",
    )
    s.act("C2", "accepted", "accept", bj(3, 5, 17, 20), to="in_progress", due_at=bj(3, 7, 17, 20))
    s.act(
        "C2",
        "replied",
        "reply",
        bj(3, 6, 17, 20),
        to="replied",
        due_at=bj(3, 7, 17, 20),
        root_cause="process",
        resolution="已派工程师上门",
    )
    s.act(
        "C2",
        "reopened",
        "feedback",
        bj(3, 6, 20, 20),
        to="dispatched",
        due_at=bj(3, 6, 22, 20),
        reopen_count=1,
        details={"result": "unsatisfied"},
    )
    s.act(
        "C2",
        "urged",
        "urge",
        bj(3, 6, 22, 20),
        urge_count=2,
        escalation_level=1,
        reason="acceptance deadline passed",
    )
    s.act(
        "C2",
        "escalated",
        "escalate",
        bj(3, 7, 6, 20),
        escalation_level=2,
        reason="acceptance deadline passed by 8 h",
    )
    s.act(
        "C2",
        "accepted",
        "accept",
        bj(3, 7, 9, 20),
        to="in_progress",
        due_at=bj(3, 9, 9, 20),
        escalation_level=0,
    )
    s.act(
        "C2",
        "replied",
        "reply",
        bj(3, 8, 9, 20),
        to="replied",
        due_at=bj(3, 9, 9, 20),
        root_cause="system",
        resolution="更换光猫并修复端口",
    )
    s.act(
        "C2",
        "closed",
        "feedback",
        bj(3, 8, 12, 20),
        to="closed",
        closure_reason="satisfied",
        root_cause="system",
        details={"result": "satisfied"},
    )

    # C3: resolved at the duty desk; the customer unreachable; closed late.
    s.received(
        "C3", bj(3, 10, 10), category="service", phone=P3, description="营业厅工作人员态度恶劣"
    )
    s.act("C3", "acknowledged", "acknowledge", bj(3, 10, 10, 5), stage="handling")
    s.act(
        "C3",
        "replied",
        "resolve",
        bj(3, 10, 11, 5),
        to="replied",
        stage="follow_up",
        root_cause="service",
        resolution="已向客户致歉",
    )
    for attempt, at in enumerate((bj(3, 11, 10), bj(3, 11, 15)), start=1):
        s.act(
            "C3",
            "follow_up_failed",
            "feedback",
            at,
            details={"result": "unreachable", "follow_up_attempts": attempt},
        )
    s.act(
        "C3",
        "closed",
        "feedback",
        bj(3, 12, 10),
        to="closed",
        closure_reason="unreached",
        root_cause="service",
        details={"result": "unreachable"},
    )

    # C4: the same customer calls again; still with network, past its extended deadline.
    s.received(
        "C4",
        bj(3, 14, 9),
        category="network",
        phone=P3,
        severity="high",
        description="手机信号差，经常无服务",
    )
    s.act("C4", "acknowledged", "acknowledge", bj(3, 14, 9, 20), stage="handling")
    s.act(
        "C4",
        "dispatched",
        "dispatch",
        bj(3, 14, 10, 20),
        to="dispatched",
        stage="acceptance",
        department="network",
    )
    s.act("C4", "accepted", "accept", bj(3, 14, 11, 20), to="in_progress", stage="resolution")
    s.act("C4", "extension_requested", "request-extension", bj(3, 15, 10), reason="需要基站排查")
    s.act(
        "C4",
        "extension_decided",
        "decide-extension",
        bj(3, 15, 11),
        due_at=bj(3, 20, 11, 20),
        details={"decision": "approve"},
    )

    # C5: the last evening, not acknowledged by midnight.
    s.received(
        "C5",
        bj(3, 31, 22),
        category="billing",
        phone=P3,
        channel="web",
        description="套餐费用与宣传不符",
    )
    return s
