"""The test broker's SASL_SSL listener, as each service meets it: signed in with its own
SCRAM password over TLS, it writes the topics it owns and reads the ones it consumes; the
broker refuses anything else, a wrong password, and a client that does not trust the
local CA. The ACLs are the ones scripts/kafka.sh applied from shared/topics.py."""

from __future__ import annotations

import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import certifi
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import (
    GroupAuthorizationFailedError,
    TopicAuthorizationFailedError,
)

from shared.kafka import KafkaProbe, client_config, create_producer
from shared.metrics import ConsumerLag
from shared.settings import Settings
from shared.topics import (
    ADMIN_PRINCIPAL,
    ANALYTICS_EVENTS,
    COMPLAINTS_LIFECYCLE,
    INTAKE_EVENTS,
    SMS_EVENTS,
    TOPIC_OWNERS,
    TOPIC_READERS,
    Grant,
    TopicSpec,
    apply_grants,
    dlq,
    ensure_topics,
    grants,
    topic_specs,
)
from tests.conftest import SecuredBroker

pytestmark = pytest.mark.kafka


class Reader:
    """A consumer in a group of its own, placed at the end of a topic, so what it reads is
    what was written after it came: as a service (over SASL_SSL), or as the broker's own
    tools see the topic (`settings` of the PLAINTEXT loopback listener)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.who = settings.kafka_sasl_username or "the loopback listener"
        self.consumer = KafkaConsumer(
            **client_config(settings),
            group_id=f"{settings.kafka_sasl_username or 'tools'}-acl-{uuid.uuid4().hex[:6]}",
            client_id="acl-test",
            enable_auto_commit=False,
        )
        partitions = self.consumer.partitions_for_topic(topic)
        assert partitions, f"{self.who} sees no partitions of {topic}"
        self.partitions = [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(self.partitions)
        self.consumer.seek_to_end()
        for tp in self.partitions:
            self.consumer.position(tp)

    def new_values(self, *, wait: float) -> list[bytes]:
        values: list[bytes] = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for records in self.consumer.poll(timeout_ms=200).values():
                values += [r.value for r in records]
        return values

    def read_until(self, value: bytes, *, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in self.consumer.poll(timeout_ms=200).values():
                if any(r.value == value for r in records):
                    # the group's offsets are the service's to commit (Read on its groups)
                    self.consumer.commit()
                    return
        raise AssertionError(f"{self.who} never read {value!r}")

    def end_offsets(self) -> dict[Any, int]:
        return dict(self.consumer.end_offsets(self.partitions))


@pytest.fixture
def reader(secured_broker: SecuredBroker, kafka_bootstrap: str) -> Iterator[Any]:
    """reader(service, topic): that service's consumer; reader(None, topic): the broker's
    own view, over the PLAINTEXT loopback listener."""
    made: list[Reader] = []

    def make(service: str | None, topic: str) -> Reader:
        settings = (
            secured_broker.settings_for(service)
            if service
            else Settings(kafka_bootstrap_servers=kafka_bootstrap)
        )
        made.append(Reader(settings, topic))
        return made[-1]

    yield make
    for one in made:
        one.consumer.close(autocommit=False)


def probe_value(topic: str) -> bytes:
    # no event headers: whichever consumer of the topic reads it later dead-letters it
    return f'{{"probe": "{topic}", "id": "{uuid.uuid4()}"}}'.encode()


@pytest.mark.parametrize("topic", sorted(TOPIC_OWNERS))
def test_the_owner_of_a_topic_writes_it_and_every_service_that_consumes_it_reads_it(
    secured_broker: SecuredBroker, reader: Any, topic: str
) -> None:
    owner = TOPIC_OWNERS[topic]
    readers = [reader(service, topic) for service in TOPIC_READERS[topic]]
    producer = create_producer(secured_broker.settings_for(owner), f"{owner}-acl-test")
    try:
        value = probe_value(topic)
        producer.send(topic, key=b"probe", value=value).get(timeout=15)
        for one in readers:
            one.read_until(value)
        # the owner keeps its own dead letters there, and each reader what it cannot handle
        for service in {owner, *TOPIC_READERS[topic]}:
            own = create_producer(secured_broker.settings_for(service), f"{service}-dlq-test")
            try:
                own.send(dlq(topic), value=value).get(timeout=15)
            finally:
                own.close(timeout=5)
    finally:
        producer.close(timeout=5)


@pytest.mark.parametrize(
    ("service", "topic", "consumer"),
    [
        # an SMS service announcing lifecycle changes, seen by intake's consumer
        ("notify", COMPLAINTS_LIFECYCLE, "intake"),
        # a customer's reply made up by intake, seen by escalation's
        ("intake", SMS_EVENTS, "escalation"),
        # a complaint registered by escalation itself, seen by notify's
        ("escalation", INTAKE_EVENTS, "notify"),
        ("analytics", COMPLAINTS_LIFECYCLE, "notify"),
        # the dead letters of a topic intake neither writes nor consumes
        ("intake", dlq(ANALYTICS_EVENTS), None),
    ],
)
def test_a_service_writing_a_topic_it_does_not_own_is_refused_and_its_consumers_see_nothing(
    secured_broker: SecuredBroker, reader: Any, service: str, topic: str, consumer: str | None
) -> None:
    watcher = reader(consumer, topic)
    before = watcher.end_offsets()
    producer = create_producer(secured_broker.settings_for(service), f"{service}-acl-test")
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(topic, key=b"forged", value=probe_value(topic)).get(timeout=15)
    finally:
        producer.close(timeout=5)
    assert watcher.new_values(wait=2) == []
    assert watcher.end_offsets() == before


def test_a_service_may_not_read_a_topic_it_does_not_consume_nor_join_another_services_group(
    secured_broker: SecuredBroker,
) -> None:
    notify = create_producer(secured_broker.settings_for("notify"), "notify-acl-test")
    try:
        notify.send(SMS_EVENTS, key=b"probe", value=probe_value(SMS_EVENTS)).get(timeout=15)
    finally:
        notify.close(timeout=5)

    # analytics has no business with the SMS events (phone numbers, replies)
    analytics = secured_broker.settings_for("analytics")
    with closing(KafkaConsumer(**client_config(analytics), enable_auto_commit=False)) as sms:
        assert not sms.partitions_for_topic(SMS_EVENTS)
        (count,) = [s.partitions for s in topic_specs() if s.name == SMS_EVENTS]
        partitions = [TopicPartition(SMS_EVENTS, p) for p in range(count)]
        with pytest.raises(TopicAuthorizationFailedError):
            sms.end_offsets(partitions)
        sms.assign(partitions)
        sms.seek_to_beginning()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert sms.poll(timeout_ms=200) == {}

    notify_settings = secured_broker.settings_for("notify")
    with (
        closing(
            KafkaConsumer(
                COMPLAINTS_LIFECYCLE,
                **client_config(notify_settings),
                group_id=f"escalation-{uuid.uuid4().hex[:6]}",
                enable_auto_commit=False,
            )
        ) as impostor,
        pytest.raises(GroupAuthorizationFailedError),
    ):
        impostor.poll(timeout_ms=5000)


def test_a_wrong_password_is_turned_away_by_the_broker(secured_broker: SecuredBroker) -> None:
    right = KafkaProbe(secured_broker.settings_for("notify"), cache_seconds=0)
    wrong_password = "not-the-password-of-notify"
    wrong = KafkaProbe(
        secured_broker.settings_for("notify", kafka_sasl_password=wrong_password),
        cache_seconds=0,
    )
    try:
        assert right.check() == (True, "1 broker(s)")
        seen = secured_broker.log.stat().st_size
        ok, detail = wrong.check()
        assert not ok
        assert wrong_password not in detail
    finally:
        right.close()
        wrong.close()
    with secured_broker.log.open("rb") as log:
        log.seek(seen)
        added = log.read().decode("utf-8", "replace")
    assert "Failed authentication" in added
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in added


def test_a_client_that_does_not_trust_the_local_ca_fails_the_tls_handshake(
    secured_broker: SecuredBroker, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = secured_broker.bootstrap.rsplit(":", 1)

    def handshake(cafile: str) -> dict[str, Any]:
        context = ssl.create_default_context(cafile=cafile)
        with (
            socket.create_connection((host, int(port)), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            return tls.getpeercert() or {}

    certificate = handshake(str(secured_broker.cafile))
    assert ("IP Address", "127.0.0.1") in certificate["subjectAltName"]
    assert ("DNS", "localhost") in certificate["subjectAltName"]
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(certifi.where())

    # a service given the public CAs instead of the local one never gets in
    settings = secured_broker.settings_for("notify", kafka_ssl_cafile=certifi.where())
    probe = KafkaProbe(settings, cache_seconds=0)
    try:
        with caplog.at_level("ERROR", logger="kafka"):
            assert probe.check()[0] is False
    finally:
        probe.close()
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


def test_a_services_readiness_and_lag_figures_come_through_the_secured_listener(
    secured_broker: SecuredBroker,
) -> None:
    settings = secured_broker.settings_for("notify")
    probe = KafkaProbe(settings, cache_seconds=0)
    try:
        assert probe.check() == (True, "1 broker(s)")
    finally:
        probe.close()
    consumed = [t for t, readers in TOPIC_READERS.items() if "notify" in readers]
    lag = ConsumerLag(settings, "notify", consumed, timeout=5)
    try:
        assert {row.topic for row in lag.read()} == set(consumed)
    finally:
        lag.close()


def test_the_acls_applied_again_change_nothing_and_what_the_tables_no_longer_grant_is_taken_back(
    kafka_bootstrap: str,
) -> None:
    assert apply_grants(kafka_bootstrap) == ([], [])
    # a grant from an older table: notify reading a topic it no longer consumes
    stale = Grant("User:notify", "TOPIC", f"test.{uuid.uuid4().hex[:8]}", "READ")
    assert apply_grants(kafka_bootstrap, [*grants(), stale]) == ([stale], [])
    assert apply_grants(kafka_bootstrap) == ([], [stale])


def test_a_topic_nobody_was_granted_is_closed_to_every_service(
    secured_broker: SecuredBroker, new_topic: Any
) -> None:
    topic = new_topic(1)  # made by the tools on the loopback listener, with no ACL at all
    producer = create_producer(secured_broker.settings_for("escalation"), "escalation-acl-test")
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(topic, value=probe_value(topic)).get(timeout=15)
    finally:
        producer.close(timeout=5)


def test_the_tools_principal_manages_the_broker_over_the_secured_listener(
    secured_broker: SecuredBroker,
) -> None:
    # as a secured installation's topics job does: signed in as admin, a super user
    admin = secured_broker.settings_for(ADMIN_PRINCIPAL)
    name = f"test.{uuid.uuid4().hex[:10]}"
    assert ensure_topics(admin, [TopicSpec(name, 1)]) == [name]
    assert apply_grants(admin) == ([], [])
    # and no service may make a topic
    with pytest.raises(TopicAuthorizationFailedError):
        ensure_topics(secured_broker.settings_for("notify"), [TopicSpec(f"{name}.x", 1)])
