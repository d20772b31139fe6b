"""The whole loop, every service on the real broker and PostgreSQL: a complaint registered
at intake reaches the duty manager's phone on the development gateway; the manager's "1"
acknowledges it in the escalation service's history; the customer's "2" to the
satisfaction question reopens it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.escalation.config import EscalationConfig
from services.escalation.db import inbox as escalation_inbox
from services.escalation.db import outbox as escalation_outbox
from services.escalation.handlers import handlers as escalation_handlers
from services.escalation.main import create_app as create_escalation
from services.escalation.worker import SPEC as ESCALATION_WORKER
from services.intake.db import inbox as intake_inbox
from services.intake.db import outbox as intake_outbox
from services.intake.handlers import handlers as intake_handlers
from services.intake.main import create_app as create_intake
from services.intake.worker import SPEC as INTAKE_WORKER
from services.notify.db import inbox as notify_inbox
from services.notify.db import outbox as notify_outbox
from services.notify.handlers import make_handlers
from services.notify.worker import SPEC as NOTIFY_WORKER
from shared.consumer import EventConsumer
from shared.kafka import create_producer
from shared.outbox import OutboxRelay
from tests.conftest import ServiceEnv
from tests.escalation.conftest import PHONES, seed_directory
from tests.notify.conftest import CUSTOMER, Live, running
from tests.support.infra import wait_until
from tests.support.topics import Topics

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

DM01 = PHONES["DM01"]


@dataclass
class Platform:
    intake: TestClient
    escalation: TestClient
    notify: Live
    agent: dict[str, str]
    manager: dict[str, str]

    def register(self, **fields: Any) -> dict[str, Any]:
        body = {
            "customer_phone": "138 0013 8000",
            "customer_name": "王女士",
            "channel": "phone",
            "category": "billing",
            "severity": "high",
            "nature": "genuine",
            "strong_emotion": True,
            "description": "上月话费账单多扣了 30 元，客服一直没有回复。",
            **fields,
        }
        answer = self.intake.post("/complaints", json=body, headers=self.agent)
        assert answer.status_code == 201, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def history(self, complaint_id: str) -> list[dict[str, Any]]:
        answer = self.escalation.get(f"/complaints/{complaint_id}/history", headers=self.manager)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def state(self, complaint_id: str) -> str:
        answer = self.escalation.get(f"/complaints/{complaint_id}", headers=self.manager)
        return answer.json()["state"] if answer.status_code == 200 else ""

    def sms_to(self, phone: str) -> list[str]:
        return [m["body"] for m in self.notify.phones.received(phone)]


@pytest.fixture
def platform(
    service_env: Callable[[str], ServiceEnv],
    live: Callable[..., Live],
    platform_topics: Callable[..., Topics],
) -> Iterator[Platform]:
    """Intake, escalation and notify, each with its relay and consumer running, on topics
    of this test's own, each consumer on the topics its worker reads."""
    topics = platform_topics(3)
    intake_env = service_env("intake")
    escalation_env = service_env("escalation")
    notify = live()
    settings = intake_env.settings
    producer = create_producer(settings, "platform-test")
    relayed = topics.remap(producer)
    with ExitStack() as stack:
        stack.callback(producer.close, 10)
        intake = stack.enter_context(TestClient(create_intake(intake_env.settings)))
        escalation = stack.enter_context(
            TestClient(create_escalation(escalation_env.settings, config=EscalationConfig()))
        )
        seed_directory(escalation, escalation_env.token("admin", "AD01"))

        def consumer(name: str, env: ServiceEnv, inbox: Any, handlers: Any, on: Any) -> Any:
            return EventConsumer(
                name=f"{name}-{uuid.uuid4().hex[:6]}",
                topics=topics.of(*on),
                stand_for=topics.stand_for,
                db=env.db,
                inbox=inbox,
                handlers=handlers,
                settings=env.settings,
                producer=producer,
                poll_timeout_ms=50,
            )

        loops = [
            OutboxRelay(intake_env.db, intake_outbox, relayed, lanes=settings.outbox_lanes).run,
            OutboxRelay(
                escalation_env.db, escalation_outbox, relayed, lanes=settings.outbox_lanes
            ).run,
            OutboxRelay(
                notify.notify.env.db, notify_outbox, relayed, lanes=settings.outbox_lanes
            ).run,
            consumer(
                "escalation",
                escalation_env,
                escalation_inbox,
                escalation_handlers(escalation_env.db, escalation_env.settings),
                ESCALATION_WORKER.topics,
            ).run,
            consumer(
                "notify",
                notify.notify.env,
                notify_inbox,
                make_handlers(notify.notify.ctx),
                NOTIFY_WORKER.topics,
            ).run,
            notify.notify.sender().run,
        ]
        # Intake keeps its read copy and records what customers text back.
        intake_handled = intake_handlers(intake_env.db, intake_env.settings)
        loops.append(
            consumer("intake", intake_env, intake_inbox, intake_handled, INTAKE_WORKER.topics).run
        )
        for n, loop in enumerate(loops):
            stack.enter_context(running(loop, f"loop-{n}"))
        yield Platform(
            intake=intake,
            escalation=escalation,
            notify=notify,
            agent=intake_env.token("agent", "A001"),
            manager=escalation_env.token("duty_manager", "DM01"),
        )


def test_a_complaint_reaches_the_duty_managers_phone_and_his_1_acknowledges_it(
    platform: Platform,
) -> None:
    complaint = platform.register()
    reference = complaint["reference"]
    wait_until(
        lambda: any(reference in body for body in platform.sms_to(DM01)),
        timeout=60,
        what="the new complaint on the duty manager's phone",
    )
    (sms,) = platform.sms_to(DM01)
    assert sms.startswith(f"【紧急】新投诉 {reference}（加急/账单计费），客户 +86138****8000：")
    assert sms.endswith(f"回复1确认受理。详情：http://127.0.0.1:8000/c/{reference}")
    (ack,) = platform.sms_to(CUSTOMER)
    assert reference in ack

    answer = platform.notify.phones.reply(DM01, "1")
    assert answer["intent"] == "ack"
    wait_until(
        lambda: [e["action"] for e in platform.history(complaint["id"])][-1:] == ["acknowledge"],
        timeout=60,
        what="the acknowledgement in the complaint's history",
    )
    entry = platform.history(complaint["id"])[-1]
    assert (entry["actor_id"], entry["payload"]["via"]) == ("DM01", "sms")
    assert platform.state(complaint["id"]) == "with_duty_manager"
    # And his phone says what the "1" did.
    wait_until(
        lambda: len(platform.sms_to(DM01)) == 2, timeout=60, what="the acknowledgement's answer"
    )
    assert platform.sms_to(DM01)[-1].startswith(f"已收到您对投诉 {reference}（账单计费）的确认。")


def test_a_customers_2_to_the_satisfaction_question_reopens_the_replied_complaint(
    platform: Platform,
) -> None:
    complaint = platform.register(strong_emotion=False, severity="normal")
    cid = complaint["id"]
    wait_until(lambda: platform.state(cid) == "with_duty_manager", timeout=60, what="assigned")
    resolved = platform.escalation.post(
        f"/complaints/{cid}/actions/resolve",
        json={"resolution": "已退还多扣的 30 元", "root_cause": "system"},
        headers=platform.manager,
    )
    assert resolved.status_code == 200, resolved.text
    wait_until(
        lambda: any("满意请回复1" in body for body in platform.sms_to(CUSTOMER)),
        timeout=60,
        what="the satisfaction question on the customer's phone",
    )
    question = platform.sms_to(CUSTOMER)[-1]
    assert question == (
        f"您的投诉（{complaint['reference']}）处理结果：已退还多扣的 30 元。"
        "满意请回复1，不满意请回复2。"
    )
    answer = platform.notify.phones.reply(CUSTOMER, "2")
    assert answer["intent"] == "unsatisfied"
    wait_until(
        lambda: (
            platform.state(cid) in ("dispatched", "with_duty_manager")
            and [e["action"] for e in platform.history(cid)][-1] == "feedback"
        ),
        timeout=60,
        what="the complaint reopened by the customer's verdict",
    )
    entry = platform.history(cid)[-1]
    assert entry["payload"]["result"] == "unsatisfied"
    assert entry["payload"]["source"] == "sms"


def test_a_caller_abroad_is_never_texted_while_the_duty_manager_hears_of_the_complaint(
    platform: Platform,
) -> None:
    """The centre texts mainland numbers only (NOTIFY_SMS_ALLOWED_COUNTRIES, default CN): a
    complaint registered with a UK number prompts the duty manager as any other, and the
    caller's acknowledgement is refused with the reason, in the message log."""
    abroad = "+447400123456"
    complaint = platform.register(customer_phone="+44 7400 123456")
    reference = complaint["reference"]
    wait_until(
        lambda: any(reference in body for body in platform.sms_to(DM01)),
        timeout=60,
        what="the new complaint on the duty manager's phone",
    )
    notify = platform.notify
    headers = notify.notify.env.token("agent", "A001")

    def refused() -> list[dict[str, Any]]:
        answer = httpx.get(
            f"{notify.api_url}/messages", params={"phone": abroad}, headers=headers, timeout=10
        )
        return [m for m in answer.json()["items"] if m["status"] == "refused"]

    wait_until(lambda: refused(), timeout=30, what="the caller's SMS refused")
    (message,) = refused()
    assert (message["template"], message["refused_reason"]) == (
        "customer_received",
        "country_not_allowed",
    )
    assert (message["reference"], message["attempts"]) == (reference, 0)
    assert platform.sms_to(abroad) == []
