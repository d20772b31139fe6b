"""The whole loop on the broker's SASL_SSL listener, as a secured installation runs it:
intake, escalation and notify each sign in as themselves (SCRAM over TLS), publish their
own events and read only what their ACLs allow, on the platform's own topics. A complaint
registered at intake reaches the duty manager's phone."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from services.analytics.worker import SPEC as ANALYTICS_WORKER
from services.escalation.config import EscalationConfig
from services.escalation.db import inbox as escalation_inbox
from services.escalation.db import outbox as escalation_outbox
from services.escalation.main import create_app as create_escalation
from services.escalation.worker import SPEC as ESCALATION_WORKER
from services.intake.db import outbox as intake_outbox
from services.intake.main import create_app as create_intake
from services.intake.worker import SPEC as INTAKE_WORKER
from services.notify.db import inbox as notify_inbox
from services.notify.db import outbox as notify_outbox
from services.notify.handlers import make_handlers
from services.notify.worker import SPEC as NOTIFY_WORKER
from shared.consumer import EventConsumer
from shared.kafka import client_config, create_producer
from shared.outbox import OutboxRelay
from shared.settings import Settings
from shared.topics import TOPIC_READERS
from tests.conftest import SecuredBroker, ServiceEnv
from tests.escalation.conftest import PHONES, seed_directory
from tests.notify.conftest import CUSTOMER, Live, running
from tests.support.infra import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

DM01 = PHONES["DM01"]
WORKERS = {
    "intake": INTAKE_WORKER,
    "escalation": ESCALATION_WORKER,
    "notify": NOTIFY_WORKER,
    "analytics": ANALYTICS_WORKER,
}


def test_every_worker_subscribes_to_exactly_the_topics_its_principal_may_read() -> None:
    for service, spec in WORKERS.items():
        readable = {topic for topic, readers in TOPIC_READERS.items() if service in readers}
        assert set(spec.topics) == readable, service


def start_at_the_end(settings: Settings, group: str, topics: Sequence[str]) -> None:
    """Commit a new group's offsets at the end of its topics, as the service itself: its
    consumer then takes what comes from now on, not what other tests left there."""
    consumer = KafkaConsumer(**client_config(settings), group_id=group, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        assert partitions, f"{settings.kafka_sasl_username} may read none of {topics}"
        ends = consumer.end_offsets(partitions)
        consumer.commit({tp: OffsetAndMetadata(end, "", -1) for tp, end in ends.items()})
    finally:
        consumer.close(autocommit=False)


@dataclass
class Centre:
    intake: TestClient
    notify: Live
    agent: dict[str, str]

    def sms_to(self, phone: str) -> list[str]:
        return [m["body"] for m in self.notify.phones.received(phone)]


@pytest.fixture
def secured_centre(
    service_env: Callable[[str], ServiceEnv],
    live: Callable[..., Live],
    secured_broker: SecuredBroker,
) -> Iterator[Centre]:
    """Intake's API and relay, escalation's and notify's workers (relay, consumer, and
    notify's sender), each signed in to the SASL_SSL listener as its own principal."""
    intake_env, escalation_env = service_env("intake"), service_env("escalation")
    notify = live()
    notify_env = notify.notify.env
    intake = secured_broker.settings_for("intake", base=intake_env.settings)
    escalation = secured_broker.settings_for("escalation", base=escalation_env.settings)
    notify_settings = secured_broker.settings_for("notify", base=notify_env.settings)
    with ExitStack() as stack:
        producers: dict[str, Any] = {}
        for service, settings in (
            ("intake", intake),
            ("escalation", escalation),
            ("notify", notify_settings),
        ):
            producers[service] = create_producer(settings, f"{service}-worker")
            stack.callback(producers[service].close, 10)
        intake_api = stack.enter_context(TestClient(create_intake(intake)))
        escalation_api = stack.enter_context(
            TestClient(create_escalation(escalation, config=EscalationConfig()))
        )
        seed_directory(escalation_api, escalation_env.token("admin", "AD01"))

        def consumer(
            service: str, settings: Settings, env: ServiceEnv, inbox: Any, handlers: Any
        ) -> Any:
            # a group of its own (the ACLs allow any group named after the service)
            group = f"{service}-{uuid.uuid4().hex[:6]}"
            topics = WORKERS[service].topics
            start_at_the_end(settings, group, topics)
            return EventConsumer(
                name=service,
                group_id=group,
                topics=topics,
                db=env.db,
                inbox=inbox,
                handlers=handlers,
                settings=settings,
                producer=producers[service],
                poll_timeout_ms=50,
            )

        lanes = intake.outbox_lanes
        loops = [
            OutboxRelay(intake_env.db, intake_outbox, producers["intake"], lanes=lanes).run,
            OutboxRelay(
                escalation_env.db, escalation_outbox, producers["escalation"], lanes=lanes
            ).run,
            OutboxRelay(notify_env.db, notify_outbox, producers["notify"], lanes=lanes).run,
            consumer(
                "escalation",
                escalation,
                escalation_env,
                escalation_inbox,
                ESCALATION_WORKER.handlers(escalation_env.db, escalation),
            ).run,
            consumer(
                "notify",
                notify_settings,
                notify_env,
                notify_inbox,
                make_handlers(notify.notify.ctx),
            ).run,
            notify.notify.sender().run,
        ]
        for n, loop in enumerate(loops):
            stack.enter_context(running(loop, f"secured-loop-{n}"))
        yield Centre(intake=intake_api, notify=notify, agent=intake_env.token("agent", "A001"))


def test_a_complaint_reaches_the_duty_managers_phone_through_the_secured_broker(
    secured_centre: Centre,
) -> None:
    ready = secured_centre.intake.get("/readyz")
    assert ready.json()["checks"]["kafka"] == "ok", ready.text
    answer = secured_centre.intake.post(
        "/complaints",
        json={
            "customer_phone": "138 0013 8000",
            "customer_name": "王女士",
            "channel": "phone",
            "category": "billing",
            "severity": "high",
            "nature": "genuine",
            "strong_emotion": True,
            "description": "上月话费账单多扣了 30 元，客服一直没有回复。",
        },
        headers=secured_centre.agent,
    )
    assert answer.status_code == 201, answer.text
    reference = answer.json()["reference"]
    wait_until(
        lambda: any(reference in body for body in secured_centre.sms_to(DM01)),
        timeout=60,
        what="the new complaint on the duty manager's phone",
    )
    (sms,) = secured_centre.sms_to(DM01)
    assert sms.startswith(f"【紧急】新投诉 {reference}（加急/账单计费），客户 +86138****8000：")
    (acknowledgement,) = secured_centre.sms_to(CUSTOMER)
    assert reference in acknowledgement
