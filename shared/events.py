"""The event envelope every service speaks, and the registry of event types.

An event on the wire is one JSON object (UTF-8, Chinese left readable):

    {"event_id": "…", "type": "complaint.received", "schema_version": 1,
     "occurred_at": "2026-11-22T08:00:00Z", "complaint_id": "…", "actor": {…},
     "correlation_id": "…", "causation_id": null, "source": "intake",
     "tenant": "default", "payload": {…}}

`tenant` is the client (shared.tenants) the event belongs to; an event written before
clients existed reads as the default client's. The Kafka key is the complaint id, so
one complaint's events stay in order. Types are
versioned: a consumer upcasts older payloads step by step (v1 → v2 → …) to the
version it was written for, and refuses newer ones it cannot understand.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.logs import current_correlation_id, new_correlation_id

CONTENT_TYPE = b"application/json; charset=utf-8"


class Payload(BaseModel):
    """Base of every event payload: immutable; unknown fields from newer producers are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Actor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1, max_length=64)
    # A staff role (agent, duty_manager, …), or `system` / `customer`.
    role: str = Field(min_length=1, max_length=32)


SYSTEM = Actor(id="system", role="system")


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: uuid.UUID
    type: str = Field(min_length=1, max_length=100)
    schema_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    complaint_id: str | None = Field(default=None, max_length=64)
    actor: Actor
    correlation_id: str = Field(min_length=1, max_length=64)
    causation_id: str | None = Field(default=None, max_length=64)
    source: str = Field(min_length=1, max_length=32)
    # The client (tenant) the event belongs to (shared.tenants).
    tenant: str = Field(default="default", pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    payload: dict[str, Any]

    @property
    def key(self) -> str:
        """The Kafka key: the complaint id, so a complaint's events share a partition."""
        return self.complaint_id or str(self.event_id)


P = TypeVar("P", bound=Payload)


@dataclass(frozen=True)
class EventType(Generic[P]):
    name: str
    version: int
    payload: type[P]
    topic: str
    # upcasters[n] turns a version-n payload into a version-(n+1) payload.
    upcasters: Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]] = field(
        default_factory=dict
    )

    def upcast(self, version: int, payload: dict[str, Any]) -> dict[str, Any]:
        for v in range(version, self.version):
            step = self.upcasters.get(v)
            if step is None:
                raise EventDecodeError(f"no upcaster for '{self.name}' from version {v} to {v + 1}")
            payload = step(payload)
        return payload


@dataclass(frozen=True)
class Event(Generic[P]):
    """A decoded event: the envelope and its payload, upcast and validated."""

    envelope: Envelope
    payload: P

    @property
    def type(self) -> str:
        return self.envelope.type


class EventDecodeError(ValueError):
    """The bytes are not an event this consumer can handle; the message says why."""


class UnknownEventType(EventDecodeError):
    pass


class EventRegistry:
    def __init__(self) -> None:
        self._types: dict[str, EventType[Any]] = {}

    def register(
        self,
        name: str,
        payload: type[P],
        *,
        topic: str,
        version: int = 1,
        upcasters: Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]] | None = None,
    ) -> EventType[P]:
        name = str(name)  # a vocabulary member (EventName) is stored as its plain string
        if name in self._types:
            raise ValueError(f"event type {name!r} registered twice")
        missing = [v for v in range(1, version) if v not in (upcasters or {})]
        if missing:
            raise ValueError(f"{name} v{version} needs upcasters from versions {missing}")
        spec = EventType(name, version, payload, topic, dict(upcasters or {}))
        self._types[name] = spec
        return spec

    def get(self, name: str) -> EventType[Any]:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownEventType(f"unknown event type {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def names(self) -> list[str]:
        return sorted(self._types)

    def new(
        self,
        name: str,
        payload: Payload,
        *,
        source: str,
        actor: Actor,
        complaint_id: str | None,
        tenant: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        occurred_at: datetime | None = None,
        event_id: uuid.UUID | None = None,
    ) -> Envelope:
        """A new event of a registered type, at that type's current version."""
        spec = self.get(name)
        if not isinstance(payload, spec.payload):
            raise TypeError(f"{name} takes a {spec.payload.__name__}, not {type(payload).__name__}")
        return Envelope(
            event_id=event_id or uuid.uuid4(),
            type=name,
            schema_version=spec.version,
            occurred_at=occurred_at or datetime.now(UTC),
            complaint_id=complaint_id,
            actor=actor,
            correlation_id=correlation_id or current_correlation_id() or new_correlation_id(),
            causation_id=causation_id,
            source=source,
            tenant=tenant,
            payload=payload.model_dump(mode="json"),
        )

    def decode(self, raw: bytes | None) -> Event[Any]:
        """Parse, upcast and validate; raise EventDecodeError with a reason a human can act on."""
        if raw is None:
            raise EventDecodeError("empty record (no value)")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EventDecodeError(f"not UTF-8 text: {exc}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EventDecodeError(f"not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise EventDecodeError(f"not a JSON object but {type(data).__name__}")
        try:
            envelope = Envelope.model_validate(data)
        except ValidationError as exc:
            raise EventDecodeError(f"invalid envelope: {_describe(exc)}") from None
        spec = self.get(envelope.type)
        if envelope.schema_version > spec.version:
            raise EventDecodeError(
                f"'{envelope.type}' version {envelope.schema_version} is newer than this "
                f"consumer understands (up to {spec.version})"
            )
        payload = spec.upcast(envelope.schema_version, dict(envelope.payload))
        try:
            typed = spec.payload.model_validate(payload)
        except ValidationError as exc:
            raise EventDecodeError(
                f"invalid payload for '{envelope.type}' v{spec.version}: {_describe(exc)}"
            ) from None
        if envelope.schema_version != spec.version:
            envelope = envelope.model_copy(
                update={"schema_version": spec.version, "payload": typed.model_dump(mode="json")}
            )
        return Event(envelope=envelope, payload=typed)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def encode(envelope: Envelope) -> bytes:
    """Compact JSON, UTF-8 as it is (中文 stays 中文), written by pydantic's own serializer
    in one step (a third of the cost of building a dict and dumping it)."""
    return envelope.model_dump_json().encode("utf-8")


def kafka_headers(envelope: Envelope) -> list[tuple[str, bytes]]:
    """Headers that let any Kafka tool filter and route without parsing the value."""
    return [
        ("event_type", envelope.type.encode()),
        ("schema_version", str(envelope.schema_version).encode()),
        ("correlation_id", envelope.correlation_id.encode()),
        ("source", envelope.source.encode()),
        ("tenant", envelope.tenant.encode()),
        ("content-type", CONTENT_TYPE),
    ]


# The platform's registry; the event contracts (shared.contracts) register into it.
registry = EventRegistry()
