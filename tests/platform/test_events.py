"""The event envelope: what goes on the wire, what a consumer accepts, and why it refuses."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.events import Actor, EventDecodeError, EventRegistry, Payload, encode, kafka_headers
from shared.logs import correlation


class NoteV2(Payload):
    text: str
    language: str


def _registry() -> EventRegistry:
    reg = EventRegistry()
    # v1 had only `text`; v2 added `language`, defaulting to Chinese.
    reg.register(
        "complaint.note_added",
        NoteV2,
        topic="complaints.lifecycle",
        version=2,
        upcasters={1: lambda p: {**p, "language": "zh-CN"}},
    )
    return reg


AGENT = Actor(id="A001", role="agent")


def test_an_event_round_trips_with_chinese_text_readable_on_the_wire() -> None:
    reg = _registry()
    env = reg.new(
        "complaint.note_added",
        NoteV2(text="客户再次来电，要求尽快处理", language="zh-CN"),
        source="intake",
        tenant="water",
        actor=AGENT,
        complaint_id="c-1",
    )
    raw = encode(env)
    assert "客户再次来电".encode() in raw  # not \\u escapes: kcat shows it as is
    event = reg.decode(raw)
    assert event.envelope == env
    assert event.payload == NoteV2(text="客户再次来电，要求尽快处理", language="zh-CN")
    assert env.key == "c-1"
    headers = dict(kafka_headers(env))
    assert headers["event_type"] == b"complaint.note_added"
    assert headers["schema_version"] == b"2"
    assert headers["tenant"] == b"water"


def test_an_old_version_is_upcast_to_the_current_one() -> None:
    reg = _registry()
    old = {
        "event_id": str(uuid.uuid4()),
        "type": "complaint.note_added",
        "schema_version": 1,
        "occurred_at": "2026-11-01T08:00:00Z",
        "complaint_id": "c-1",
        "actor": {"id": "A001", "role": "agent"},
        "correlation_id": "corr-1",
        "source": "intake",
        "payload": {"text": "old note"},
    }
    event = reg.decode(json.dumps(old).encode())
    assert event.payload == NoteV2(text="old note", language="zh-CN")
    assert event.envelope.schema_version == 2
    assert event.envelope.payload == {"text": "old note", "language": "zh-CN"}


def test_the_correlation_id_of_the_request_travels_into_the_event() -> None:
    reg = _registry()
    with correlation("req-42"):
        env = reg.new(
            "complaint.note_added",
            NoteV2(text="x", language="en"),
            source="intake",
            tenant="default",
            actor=AGENT,
            complaint_id="c",
        )
    assert env.correlation_id == "req-42"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"type": "complaint.note_added"}', "invalid envelope"),
        (None, "empty record"),
    ],
)
def test_garbage_is_refused_with_a_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(EventDecodeError, match=reason):
        _registry().decode(raw)


def _envelope(**overrides: object) -> bytes:
    data = {
        "event_id": str(uuid.uuid4()),
        "type": "complaint.note_added",
        "schema_version": 2,
        "occurred_at": datetime.now(UTC).isoformat(),
        "complaint_id": "c-1",
        "actor": {"id": "A001", "role": "agent"},
        "correlation_id": "c",
        "source": "intake",
        "payload": {"text": "x", "language": "en"},
    }
    data.update(overrides)
    return json.dumps(data).encode()


def test_an_unknown_type_a_too_new_version_and_a_bad_payload_are_refused() -> None:
    reg = _registry()
    with pytest.raises(EventDecodeError, match=r"unknown event type 'complaint\.teleported'"):
        reg.decode(_envelope(type="complaint.teleported"))
    with pytest.raises(EventDecodeError, match=r"version 3 is newer"):
        reg.decode(_envelope(schema_version=3))
    with pytest.raises(EventDecodeError, match=r"invalid payload.*language"):
        reg.decode(_envelope(payload={"text": "x"}))
    with pytest.raises(EventDecodeError, match="occurred_at"):
        reg.decode(_envelope(occurred_at="2026-11-01T08:00:00"))  # no time zone


def test_a_type_cannot_be_registered_without_its_upcasters() -> None:
    reg = EventRegistry()
    with pytest.raises(ValueError, match="needs upcasters"):
        reg.register("x.y", NoteV2, topic="t", version=3, upcasters={1: lambda p: p})


def test_a_payload_of_the_wrong_model_is_refused_at_the_source() -> None:
    class Other(Payload):
        a: int

    with pytest.raises(TypeError):
        _registry().new(
            "complaint.note_added",
            Other(a=1),
            source="intake",
            tenant="default",
            actor=AGENT,
            complaint_id="c",
        )
