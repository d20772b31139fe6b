"""An assignment read before its registration waits (tests/notify/test_order_of_topics.py);
here it waits in the middle of a backlog on the real broker, as after a restart of the
worker or once the database is back: the lifecycle topic has far more waiting than one
poll takes, and intake's topic keeps coming. Once the wait is over, every assignment
behind the one that waited must still reach the duty manager."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from services.notify.db import inbox
from services.notify.handlers import make_handlers
from services.notify.worker import SPEC
from shared.consumer import EventConsumer
from shared.events import Envelope
from shared.kafka import create_producer
from tests.notify.conftest import (
    DM01,
    Notify,
    lifecycle_event,
    received_event,
    recipient,
    running,
)
from tests.support.infra import wait_until
from tests.support.topics import Topics

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


def assigned(received: Envelope) -> Envelope:
    return lifecycle_event(
        "complaint.assigned",
        received,
        [recipient("duty_manager", DM01, "DM01")],
        from_state="received",
        holder_staff_id="DM01",
        history_seq=1,
    )


@contextmanager
def registrations_coming(producer: Any, topics: Topics) -> Iterator[None]:
    """Other complaints registered at intake all along, one every 20 ms: intake's topic
    is never read to its end for long, so the wait lasts a few polls."""
    stop = threading.Event()

    def register() -> None:
        while not stop.wait(0.02):
            topics.publish(producer, [received_event()])

    thread = threading.Thread(target=register, name="intake", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def test_assignments_behind_one_that_waited_in_a_backlog_all_reach_the_duty_manager(
    notify: Notify, platform_topics: Callable[..., Topics]
) -> None:
    topics = platform_topics(1)
    settings = notify.env.settings
    producer = create_producer(settings, "intake-and-escalation-stand-in")
    # The first complaint's registration is not on intake's topic yet; the others' are.
    complaints = [received_event() for _ in range(60)]
    consumer = EventConsumer(
        name=f"notify-{uuid.uuid4().hex[:6]}",
        topics=topics.of(*SPEC.topics),
        stand_for=topics.stand_for,
        db=notify.env.db,
        inbox=inbox,
        handlers=make_handlers(notify.ctx),
        settings=settings,
        producer=producer,
        # Far fewer than the backlog: the poll that meets the first assignment leaves
        # the rest of the lifecycle topic's fetch for the next polls.
        max_poll_records=10,
    )
    try:
        topics.publish(producer, [assigned(c) for c in complaints])
        topics.publish(producer, complaints[1:])
        with registrations_coming(producer, topics), running(consumer.run, "consumer"):
            wait_until(lambda: consumer.stats.waited, timeout=60, what="the first to wait")
            topics.publish(producer, complaints[:1])
            wait_until(
                lambda: len(notify.messages(phone=DM01)) >= len(complaints),
                timeout=60,
                what=f"the {len(complaints)} assignments told to the duty manager",
            )
    finally:
        producer.close(timeout=10)
    references = {m.reference for m in notify.messages(phone=DM01)}
    assert references == {c.payload["reference"] for c in complaints}
