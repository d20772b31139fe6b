"""The platform's topics as one test has them: a fresh topic (and its .dlq) in place of
each of shared.topics, so a test's events meet no other test's on the shared broker, and
what services' relays and consumers need to use them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.events import Envelope, encode, kafka_headers, registry
from shared.topics import TOPIC_OWNERS, dlq
from tests.support.infra import wait_until


class Remap:
    """A producer that publishes to per-test topics in place of the platform's, so a
    test's events meet no other test's on the shared broker."""

    def __init__(self, producer: Any, topics: dict[str, str]) -> None:
        self.producer = producer
        self.topics = topics

    def send(self, topic: str, **kwargs: Any) -> Any:
        return self.producer.send(self.topics.get(topic, topic), **kwargs)

    def flush(self, timeout: float | None = None) -> None:
        self.producer.flush(timeout=timeout)

    def close(self, timeout: float | None = None) -> None:
        self.producer.close(timeout=timeout)


@dataclass
class Topics:
    """This test's topic for each platform topic (`names`), and the way back."""

    names: dict[str, str]

    def __getitem__(self, platform: str) -> str:
        return self.names[platform]

    def of(self, *platform: str) -> list[str]:
        return [self.names[t] for t in platform]

    @property
    def stand_for(self) -> dict[str, str]:
        """What a consumer of these topics is told: the platform topic each one carries."""
        return {mine: platform for platform, mine in self.names.items()}

    def remap(self, producer: Any) -> Remap:
        """A producer for relays: each platform topic (and its .dlq) sent to this test's."""
        names = {**self.names, **{dlq(p): dlq(m) for p, m in self.names.items()}}
        return Remap(producer, names)

    def publish(self, producer: Any, envelopes: Iterable[Envelope], on: str | None = None) -> None:
        """Publish as the events' owners' relays do (each on its type's topic), or all on
        the platform topic `on`."""
        for envelope in envelopes:
            topic = on or registry.get(envelope.type).topic
            producer.send(
                self.names[topic],
                key=envelope.key.encode(),
                value=encode(envelope),
                headers=kafka_headers(envelope),
            )
        producer.flush(timeout=30)


def make_topics(new_topic: Any, bootstrap: str, partitions: int = 3) -> Topics:
    topics = Topics({platform: new_topic(partitions) for platform in TOPIC_OWNERS})
    topics_ready(bootstrap, *topics.names.values())
    return topics


def topics_ready(bootstrap: str, *topics: str, timeout: float = 30) -> None:
    """Wait until the broker reports every partition of these (new) topics with a leader:
    a consumer group formed before that is given no partitions of them, and does not
    look again for minutes."""
    from kafka import KafkaConsumer, TopicPartition

    probe = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:

        def ready() -> bool:
            probe.topics()  # a fresh metadata request
            cluster = probe._client.cluster
            for topic in topics:
                partitions = cluster.partitions_for_topic(topic)
                if not partitions:
                    return False
                for p in partitions:
                    if cluster.leader_for_partition(TopicPartition(topic, p)) in (None, -1):
                        return False
            return True

        wait_until(ready, timeout=timeout, what=f"metadata for {', '.join(topics)}")
    finally:
        probe.close()
