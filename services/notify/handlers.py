"""What the notify worker does with other services' events, one function each.

Each runs inside the consumer's inbox transaction: the messages it plans and the record
that the event was handled commit together, so a redelivered event plans nothing twice
(and each message also has its own key: one per event, recipient and template).

What notify knows of a complaint's customer comes with `complaint.received`, on intake's
topic; the lifecycle events come on escalation's, in no order with it. A lifecycle event
of a complaint notify has not heard of waits (`NotYet`) until intake's topic is read as
far as it reached: the registration, written before escalation could act on it, is
there. Only then, if it is still unknown (a complaint older than notify's memory of
customers), is the event planned without the customer's facts.

Of analytics' topic notify takes `analytics.hot_issue_detected` only (an alert to the
desk and the departments concerned); the consumer passes over its other event types,
and refuses any event there that analytics did not publish, as on every topic.

Every event names its client (the envelope's `tenant`), and what notify learns and
plans from it is that client's. An event naming another client than the one notify
knows a complaint by is refused (`Refused`, dead-lettered at once): nothing of it is
applied and no SMS planned, so no client's event reaches another client's customers,
desk or read model. So is a hand-over whose client is not its roster's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from services.notify.config import NotifyConfig, get_config
from services.notify.db import outbox as outbox_table
from services.notify.messages import planning, service
from services.notify.messages.context import Context
from services.notify.rendering import Templates
from shared.clock import utcnow
from shared.consumer import Handler, NotYet, Refused, may_wait
from shared.contracts import COMPLAINT_RECEIVED, DUTY_HANDED_OVER, HOT_ISSUE_DETECTED
from shared.db import Database
from shared.events import Event
from shared.outbox import Outbox
from shared.settings import Settings
from shared.tenants import DEFAULT_TENANT, tenants
from shared.topics import INTAKE_EVENTS
from shared.vocabulary import LIFECYCLE_EVENTS


def make_context(config: NotifyConfig, settings: Settings) -> Context:
    """The flows' context; every template file, the centre's and each client's, is read
    and checked here: a broken one stops the start, naming the file."""
    centre = Templates.load(config.templates_dir, config.default_language)
    return Context(
        config=config,
        templates=centre,
        outbox=Outbox(outbox_table, lanes=settings.outbox_lanes),
        client_templates={
            client.id: centre.over(client.templates_dir, client.taxonomy)
            for client in tenants().all()
            if client.templates_dir is not None or client.taxonomy_file is not None
        },
    )


def refuse_another_client(
    session: Session, event: Event[Any], complaint_id: str | None, contact: Any = None
) -> None:
    """Refuse an event naming a client other than the one notify knows the complaint by
    (its `contact`, if the caller has read it)."""
    known = contact.tenant if contact is not None else service.tenant_of(session, complaint_id)
    named = event.envelope.tenant
    if known is not None and known != named:
        raise Refused(
            f"'{event.type}' names client '{named}' for complaint {complaint_id}, "
            f"which is client '{known}'s",
            error_class="tenant",
        )


def make_handlers(ctx: Context) -> dict[str, Handler]:
    def on_complaint_received(session: Session, event: Event[Any]) -> None:
        refuse_another_client(session, event, event.payload.complaint_id)
        planning.on_complaint_received(
            session,
            ctx,
            event.payload,
            event_id=str(event.envelope.event_id),
            now=utcnow(),
            tenant=event.envelope.tenant,
        )

    def on_lifecycle_changed(session: Session, event: Event[Any]) -> None:
        complaint_id = event.payload.complaint_id
        contact = service.get_contact(session, complaint_id)
        refuse_another_client(session, event, complaint_id, contact)
        if may_wait() and contact is None:
            raise NotYet(f"{COMPLAINT_RECEIVED.name} of {complaint_id}", topic=INTAKE_EVENTS)
        planning.on_lifecycle_changed(
            session,
            ctx,
            event.type,
            event.payload,
            event_id=str(event.envelope.event_id),
            now=utcnow(),
            at=event.envelope.occurred_at,
            tenant=event.envelope.tenant,
            contact=contact,
        )

    def on_duty_handed_over(session: Session, event: Event[Any]) -> None:
        roster = event.payload.roster_tenant
        if event.envelope.tenant != (roster or DEFAULT_TENANT):
            raise Refused(
                f"'{event.type}' names client '{event.envelope.tenant}' for the roster of "
                f"{f'client {roster!r}' if roster else 'the centre (shared)'}",
                error_class="tenant",
            )
        if roster is not None:
            # A client's own desk holds that client's complaints only.
            for item in event.payload.complaints:
                refuse_another_client(session, event, item.complaint_id)
        planning.on_duty_handed_over(
            session,
            ctx,
            event.payload,
            event_id=str(event.envelope.event_id),
            now=utcnow(),
            at=event.envelope.occurred_at,
            tenant=event.envelope.tenant,
        )

    def on_hot_issue_detected(session: Session, event: Event[Any]) -> None:
        planning.on_hot_issue_detected(
            session,
            ctx,
            event.payload,
            event_id=str(event.envelope.event_id),
            now=utcnow(),
            tenant=event.envelope.tenant,
        )

    return {
        COMPLAINT_RECEIVED.name: on_complaint_received,
        DUTY_HANDED_OVER.name: on_duty_handed_over,
        HOT_ISSUE_DETECTED.name: on_hot_issue_detected,
        **dict.fromkeys(LIFECYCLE_EVENTS, on_lifecycle_changed),
    }


def handlers(_db: Database, settings: Settings) -> Mapping[str, Handler]:
    return make_handlers(make_context(get_config(), settings))
